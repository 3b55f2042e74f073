"""LoopedTransformerClassifier: sklearn behaviour, budgets, determinism, Levenshtein curve."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sklearn_implicit import LoopedTransformerClassifier as Exported
from sklearn_implicit.datasets import make_pointer_chasing
from sklearn_implicit.looped import (
    LoopedTransformerClassifier,
    UntiedTransformerClassifier,
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


def test_lazy_export():
    assert Exported is LoopedTransformerClassifier


def test_fitted_attributes_and_shapes(fitted, data):
    X, y = data
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
    twin = clone(est)
    assert twin.get_params() == params
    est.set_params(backprop_depth=2, optimizer__weight_decay=0.0)
    assert est.backprop_depth == 2 and est.optimizer__weight_decay == 0.0
    with pytest.raises(TypeError, match="unexpected keyword"):
        LoopedTransformerClassifier(nonsense=1)
    assert clone(UntiedTransformerClassifier(n_layers=3)).n_layers == 3


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


def test_levenshtein_lipschitz_curve(fitted, data):
    X, _ = data
    curve = fitted.lipschitz_curve(X[:12], n_iter=5, n_directions=3, random_state=0)
    assert curve.n_iter.tolist() == [1, 2, 3, 4, 5]
    assert curve.ratios.shape == (5, 36)
    assert (curve.ratios >= 0).all() and curve.eps == 1.0
    assert np.allclose(curve.lipschitz, curve.ratios.mean(axis=1))
    again = fitted.lipschitz_curve(X[:12], n_iter=5, n_directions=3, random_state=0)
    assert np.array_equal(curve.ratios, again.ratios)
    # Explicit pairs: the ratio divides by their Levenshtein distance.
    Xp = X[:12].copy()
    Xp[:, 0] = (Xp[:, 0] + 1) % fitted.n_tokens_
    Xp[:, 1] = (Xp[:, 1] + 1) % fitted.n_tokens_
    pairs = fitted.lipschitz_curve(X[:12], n_iter=3, X_pairs=Xp)
    assert pairs.eps == 2.0 and pairs.ratios.shape == (3, 12)
    from sklearn_implicit.looped import levenshtein_rows

    y0, y1 = fitted.predict(X[:12], n_iter=3), fitted.predict(Xp, n_iter=3)
    assert np.allclose(pairs.ratios[2], levenshtein_rows(y0, y1) / 2.0)
    with pytest.raises(ValueError, match="differ"):
        fitted.lipschitz_curve(X[:4], n_iter=2, X_pairs=X[:4])


def test_untied_baseline(data):
    X, y = data
    looped = LoopedTransformerClassifier(d_model=16, n_heads=2, max_epochs=0).fit(X, y)
    untied = UntiedTransformerClassifier(d_model=16, n_heads=2, max_epochs=1, random_state=0)
    untied.fit(X, y)
    assert untied.n_params_ == looped.n_params_
    assert (untied.predict(X, n_iter=1) == untied.predict(X, n_iter=7)).all()
    curve = untied.lipschitz_curve(X[:8], n_iter=3, random_state=0)
    assert np.allclose(curve.lipschitz, curve.lipschitz[0])


def test_learns_an_easy_instance():
    X, y = make_pointer_chasing(600, n_nodes=6, n_hops=2, random_state=1)
    est = LoopedTransformerClassifier(
        d_model=32, n_heads=2, mean_recurrence=2, max_epochs=6, lr=3e-3, random_state=0
    ).fit(X[:500], y[:500])
    # Chance is about 1/3 (two or three roots per sequence).
    assert est.score(X[500:], y[500:]) > 0.6
