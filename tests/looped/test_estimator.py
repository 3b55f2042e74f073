"""LoopedTransformerClassifier: sklearn behaviour, budgets, determinism, Levenshtein curve."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sklearn_implicit import FixedDepthModule, ImplicitModule
from sklearn_implicit import LoopedTransformerClassifier as Exported
from sklearn_implicit.backward import RandomDepth
from sklearn_implicit.datasets import make_pointer_chasing
from sklearn_implicit.lipschitz import GivenPairs, TokenSubstitutions
from sklearn_implicit.looped import (
    LoopedTransformerClassifier,
    levenshtein_rows,
    sequence_accuracy,
    token_accuracy,
)

SMALL = {"d_model": 16, "n_heads": 2, "mean_recurrence": 3, "backprop_depth": 2}


@pytest.fixture(scope="module")
def data():
    X, y = make_pointer_chasing(160, n_nodes=(5, 8), n_hops=3, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return LoopedTransformerClassifier(**SMALL, n_iter=4, max_epochs=2, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def explicit(data):
    X, y = data
    return LoopedTransformerClassifier(
        d_model=16, n_heads=2, architecture="explicit", max_epochs=1, random_state=0
    ).fit(X, y)


def test_lazy_export():
    assert Exported is LoopedTransformerClassifier


def test_fitted_attributes_and_shapes(fitted, data):
    X, y = data
    assert isinstance(fitted.module_, ImplicitModule)
    assert fitted.n_features_in_ == 8
    assert fitted.classes_.tolist() == sorted(set(y[y >= 0].tolist()))
    assert fitted.n_tokens_ == 8
    assert fitted.n_params_ > 0 and len(fitted.loss_curve_) == 2
    pred = fitted.predict(X[:5])
    assert pred.shape == (5, 8) and pred.dtype == np.int64
    assert pred.shape == fitted.predict(X[:5], n_iter=1).shape
    proba = fitted.predict_proba(X[:5], n_iter=2)
    assert proba.shape == (5, 8, len(fitted.classes_))
    real = X[:5] != -1
    assert np.allclose(proba[real].sum(-1), 1.0) and (proba[~real] == 0).all()
    assert np.array_equal(
        fitted.classes_[proba.argmax(-1)][real], fitted.predict(X[:5], n_iter=2)[real]
    )
    # The adaptive exit applies to probabilities too (a huge tol stops after one loop).
    early = fitted.predict_proba(X[:5], n_iter=30, tol=1e9)
    assert np.array_equal(early, fitted.predict_proba(X[:5], n_iter=1))


def test_padding_in_padding_out(fitted, data):
    X, _ = data
    pred = fitted.predict(X)
    assert ((pred == -1) == (X == -1)).all()


def test_staged_predict_matches_budgets(fitted, data):
    X, _ = data
    stages = list(fitted.staged_predict(X[:20], n_iter=5))
    assert len(stages) == 5
    for t in (1, 3, 5):
        assert (stages[t - 1] == fitted.predict(X[:20], n_iter=t)).all()


def test_score_is_per_token_accuracy(fitted, data):
    X, y = data
    assert LoopedTransformerClassifier.score_name == "token accuracy"
    assert fitted.score(X, y) == pytest.approx(token_accuracy(y, fitted.predict(X)))
    assert 0.0 <= sequence_accuracy(y, fitted.predict(X)) <= fitted.score(X, y)


def test_determinism_same_seed_same_model(data):
    X, y = data
    a = LoopedTransformerClassifier(**SMALL, max_epochs=1, random_state=5).fit(X, y)
    b = LoopedTransformerClassifier(**SMALL, max_epochs=1, random_state=5).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    assert (a.predict(X, n_iter=3) == b.predict(X, n_iter=3)).all()
    assert np.array_equal(a.predict_proba(X[:4]), b.predict_proba(X[:4]))
    c = LoopedTransformerClassifier(**SMALL, max_epochs=1, random_state=6).fit(X, y)
    assert a.loss_curve_ != c.loss_curve_


def test_prediction_does_not_depend_on_the_batch(fitted, data):
    X, _ = data
    full = fitted.predict(X, n_iter=3)
    assert (fitted.predict(X[7:9], n_iter=3) == full[7:9]).all()


def test_predict_does_not_mutate(fitted, data):
    X, _ = data
    before = fitted.predict(X[:10])
    fitted.predict(X[:10], n_iter=9)
    assert fitted.n_iter == 4
    assert (fitted.predict(X[:10]) == before).all()


def test_adaptive_exit(fitted, data):
    X, _ = data
    _, info = fitted.solve(X[:10], n_iter=30, tol=1e9)
    assert (info.n_steps == 1).all()
    _, info = fitted.solve(X[:10], n_iter=6)
    assert (info.n_steps == 6).all()


def test_clone_get_set_params():
    est = LoopedTransformerClassifier(d_model=32, mean_recurrence=4, optimizer__weight_decay=0.1)
    params = est.get_params()
    assert params["mean_recurrence"] == 4 and params["optimizer__weight_decay"] == 0.1
    assert params["solver"] == "picard" and params["backward"] == "random_depth"
    twin = clone(est)
    assert twin.get_params() == params
    est.set_params(backprop_depth=2, optimizer__weight_decay=0.0)
    assert est.backprop_depth == 2 and est.optimizer__weight_decay == 0.0
    assert clone(LoopedTransformerClassifier(architecture="explicit", n_layers=3)).n_layers == 3


def test_random_depth_defaults_come_from_the_estimator(data):
    X, y = data
    est = LoopedTransformerClassifier(**SMALL, max_epochs=0).fit(X, y)
    mode = est.module_.backward
    assert isinstance(mode, RandomDepth) and (mode.mean, mode.k) == (3, 2)
    est = LoopedTransformerClassifier(**SMALL, max_epochs=1, backward__k=1, random_state=0)
    est.fit(X, y)
    assert est.module_.backward.k == 1 and est.module_.backward.last_depth[1] == 1


def test_pickle_round_trip(fitted, data):
    X, _ = data
    again = pickle.loads(pickle.dumps(fitted))
    assert (again.predict(X[:10], n_iter=2) == fitted.predict(X[:10], n_iter=2)).all()


def test_errors(fitted, data):
    X, y = data
    with pytest.raises(NotFittedError):
        LoopedTransformerClassifier().predict(X)
    with pytest.raises(ValueError, match="integer tokens"):
        fitted.predict(X + 0.5)
    with pytest.raises(ValueError, match="negative tokens"):
        fitted.predict(np.full_like(X, -3))
    with pytest.raises(ValueError, match="vocabulary"):
        fitted.predict(np.full_like(X, 99))
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :5])
    with pytest.raises(ValueError, match="n_iter"):
        fitted.predict(X, n_iter=0)
    with pytest.raises(ValueError, match="divide"):
        LoopedTransformerClassifier(d_model=10, n_heads=4).fit(X, y)
    with pytest.raises(ValueError, match="same shape"):
        LoopedTransformerClassifier(**SMALL, max_epochs=0).fit(X, y[:, :4])
    with pytest.raises(ValueError, match="mean_recurrence"):
        LoopedTransformerClassifier(mean_recurrence=0).fit(X, y)
    with pytest.raises(ValueError, match="architecture"):
        LoopedTransformerClassifier(architecture="untied").fit(X, y)
    with pytest.raises(ValueError, match="nonsense"):
        LoopedTransformerClassifier(nonsense=1).fit(X, y)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"operator__width": 64}, "operator__width"),
        ({"solver__m": 3}, r"\['m'\]"),  # picard has no history size
        ({"architecture": "explicit", "solver__damping": 0.5}, "solver__damping"),
        ({"architecture": "explicit", "backward__k": 2}, "backward__k"),
    ],
)
def test_unused_routed_parameters_are_refused_at_fit(data, params, name):
    X, y = data
    est = LoopedTransformerClassifier(**SMALL, max_epochs=0, **params)
    with pytest.raises(ValueError, match=name):
        est.fit(X, y)


def test_object_integer_tokens_are_accepted(fitted, data):
    X, y = data
    obj = X[:6].astype(object)
    assert np.array_equal(fitted.predict(obj, n_iter=2), fitted.predict(X[:6], n_iter=2))
    est = LoopedTransformerClassifier(**SMALL, max_epochs=0, random_state=0)
    est.fit(X.astype(object), y.astype(object))
    assert est.n_tokens_ == 8
    with pytest.raises(ValueError, match="integer tokens"):
        fitted.predict(np.where(X[:6] == 0, 0.5, X[:6]).astype(object))


def test_huge_token_is_out_of_range_not_negative(fitted, data):
    X, y = data
    big = X[:4].astype(np.float64)
    big[0, 0] = 1e30
    with pytest.raises(ValueError, match="out of range"):
        LoopedTransformerClassifier(**SMALL, max_epochs=0).fit(big, y[:4])
    with pytest.raises(ValueError, match="out of range|vocabulary"):
        fitted.predict(big)


def test_read_only_tokens_predict_without_warning(fitted, data):
    X, _ = data
    X_ro = X[:6].copy()
    X_ro.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pred = fitted.predict(X_ro, n_iter=2)
        proba = fitted.predict_proba(X_ro, n_iter=2)
    assert np.array_equal(pred, fitted.predict(X[:6], n_iter=2))
    assert proba.shape[:2] == X_ro.shape


def test_predict_proba_warns_and_stays_finite_when_the_loop_diverges(fitted, data):
    X, _ = data
    broken = copy.deepcopy(fitted)
    with torch.no_grad():
        broken.module_.operator.adapter.weight.fill_(float("inf"))
    with pytest.warns(ConvergenceWarning, match="diverged"):
        proba = broken.predict_proba(X[:4], n_iter=3)
    assert np.isfinite(proba).all()
    with pytest.warns(ConvergenceWarning, match="diverged"):
        broken.predict(X[:4])


def test_regularity_report_on_tokens(fitted, data):
    X, _ = data
    report = fitted.regularity_report(X[:4], random_state=0)
    assert report.n_samples == 4
    assert np.isfinite(report.mu).all() and (report.mu > 0).all()
    assert np.isnan(report.lip_x).all() and np.isnan(report.bound).all()
    assert np.isfinite(report.lipschitz_y).all() and (report.lipschitz_y >= 0).all()


def test_levenshtein_lipschitz_curve(fitted, data):
    X, _ = data
    curve = fitted.lipschitz_curve(X[:12], n_iter=5, n_directions=3, random_state=0)
    assert curve.n_iter.tolist() == [1, 2, 3, 4, 5]
    assert curve.ratios.shape == (5, 36)
    assert (curve.ratios >= 0).all() and curve.eps == 1.0
    assert np.allclose(curve.lipschitz, curve.ratios.max(axis=1))
    mean = fitted.lipschitz_curve(X[:12], n_iter=5, n_directions=3, reduce="mean", random_state=0)
    assert np.array_equal(curve.ratios, mean.ratios)
    assert np.allclose(mean.lipschitz, mean.ratios.mean(axis=1))
    # The default strategy is one token substitution.
    custom = fitted.lipschitz_curve(
        X[:12], n_iter=5, n_directions=3, directions=TokenSubstitutions(8), random_state=0
    )
    assert np.array_equal(custom.ratios, curve.ratios)
    # Given pairs: the ratio divides by their Levenshtein distance.
    Xp = X[:12].copy()
    Xp[:, 0] = (Xp[:, 0] + 1) % fitted.n_tokens_
    Xp[:, 1] = (Xp[:, 1] + 1) % fitted.n_tokens_
    pairs = fitted.lipschitz_curve(
        X[:12], n_iter=3, directions=GivenPairs(Xp, distance=levenshtein_rows)
    )
    assert pairs.eps == 2.0 and pairs.ratios.shape == (3, 12)
    y0, y1 = fitted.predict(X[:12], n_iter=3), fitted.predict(Xp, n_iter=3)
    assert np.allclose(pairs.ratios[2], levenshtein_rows(y0, y1) / 2.0)
    with pytest.raises(ValueError, match="differ"):
        fitted.lipschitz_curve(
            X[:4], n_iter=2, directions=GivenPairs(X[:4], distance=levenshtein_rows)
        )


def test_explicit_architecture(fitted, explicit, data):
    X, y = data
    looped = LoopedTransformerClassifier(d_model=16, n_heads=2, max_epochs=0).fit(X, y)
    assert isinstance(explicit.module_, FixedDepthModule)
    assert explicit.n_params_ == looped.n_params_
    assert (explicit.predict(X, n_iter=1) == explicit.predict(X, n_iter=7)).all()
    stages = list(explicit.staged_predict(X[:8], n_iter=3))
    assert all((s == stages[0]).all() for s in stages)
    assert 0.0 <= explicit.score(X, y) <= 1.0
    curve = explicit.lipschitz_curve(X[:8], n_iter=3, random_state=0)
    assert np.allclose(curve.lipschitz, curve.lipschitz[0])
    report = explicit.regularity_report(X[:4], random_state=0)
    assert np.isnan(report.mu).all() and np.isfinite(report.lipschitz_y).all()
    deeper = LoopedTransformerClassifier(
        d_model=16, n_heads=2, architecture="explicit", n_layers=3, max_epochs=0
    ).fit(X, y)
    per_core = sum(p.numel() for p in looped.module_.operator.parameters())
    assert deeper.n_params_ == looped.n_params_ + 2 * per_core


def test_displays(fitted, data):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_implicit.display import IterationCurveDisplay, LipschitzCurveDisplay

    X, y = data
    lip = LipschitzCurveDisplay.from_estimator(fitted, X[:6], n_iter=3, random_state=0)
    assert len(lip.lipschitz) == 3
    it = IterationCurveDisplay.from_estimator(fitted, X[:20], y[:20], n_iter=[1, 2, 4])
    assert it.score_name == "token accuracy"
    assert it.scores[-1] == pytest.approx(token_accuracy(y[:20], fitted.predict(X[:20], n_iter=4)))
    plt.close("all")


def test_learns_an_easy_instance():
    X, y = make_pointer_chasing(600, n_nodes=6, n_hops=2, random_state=1)
    est = LoopedTransformerClassifier(
        d_model=32, n_heads=2, mean_recurrence=2, max_epochs=6, lr=3e-3, random_state=0
    ).fit(X[:500], y[:500])
    # Chance is about 1/3 (two or three roots per sequence).
    assert est.score(X[500:], y[500:]) > 0.6


@pytest.mark.parametrize(
    "params", [{"solver": "anderson"}, {"backward": "jacobian_free"}, {"init_state": "random"}]
)
def test_other_solvers_backward_modes_and_starts(data, params):
    X, y = data
    est = LoopedTransformerClassifier(**SMALL, n_iter=3, max_epochs=1, random_state=0, **params)
    est.fit(X, y)
    assert np.isfinite(est.loss_curve_).all()
    pred = est.predict(X[:6], n_iter=3)
    assert np.array_equal(pred, est.predict(X[:6], n_iter=3))  # deterministic inference
