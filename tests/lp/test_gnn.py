import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_implicit import FixedDepthModule, ImplicitModule
from sklearn_implicit.datasets import make_linear_programs
from sklearn_implicit.lipschitz import GaussianDirections, LPBlocks
from sklearn_implicit.lp import LinearPrograms, LPGNNRegressor, lp_relative_error
from sklearn_implicit.lp._metrics import MaskedMSELoss

ARCHITECTURES = ("implicit", "explicit")


@pytest.fixture(scope="module")
def data():
    return make_linear_programs(
        24, n_constraints=4, n_variables=8, nnz=12, cache=False, random_state=0
    )


@pytest.fixture(scope="module")
def untrained(data):
    X, y = data
    return LPGNNRegressor(emb_size=4, max_epochs=0, random_state=0).fit(X, y)


def _random_lps(rng, sizes):
    A, b, c, lo, up, eq = [], [], [], [], [], []
    for m, n in sizes:
        A.append(rng.randn(m, n) * (rng.rand(m, n) < 0.5))
        b.append(rng.uniform(-1, 1, m))
        c.append(0.01 * rng.uniform(-1, 1, n))
        bounds = np.sort(rng.normal(0, 10, (n, 2)), axis=1)
        lo.append(bounds[:, 0])
        up.append(bounds[:, 1])
        eq.append(rng.rand(m) < 0.3)
    return LinearPrograms(A, b, c, lo, up, eq)


@pytest.mark.parametrize(
    "emb, implicit, explicit",
    [(4, 722, 580), (8, 2350, 2088), (16, 8390, 7888), (32, 31606, 30624)],
)
def test_parameter_counts_match_paper_table_1(data, emb, implicit, explicit):
    X, y = data
    imp = LPGNNRegressor(emb_size=emb, max_epochs=0).fit(X[:2], y[:2])
    exp = LPGNNRegressor(emb_size=emb, architecture="explicit", max_epochs=0).fit(X[:2], y[:2])
    assert (imp.n_params_, exp.n_params_) == (implicit, explicit)


def test_explicit_rounds_are_untied_layers_of_a_fixed_depth_module(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, architecture="explicit", n_rounds=3, max_epochs=0)
    module = est.fit(X[:2], y[:2]).module_
    assert isinstance(module, FixedDepthModule) and len(module.layers) == 3
    assert (
        module.layers[0].to_variables.out[0].weight
        is not module.layers[1].to_variables.out[0].weight
    )
    assert est.n_params_ == 844  # two more half-layers than the paper's 2 rounds (580)
    imp = LPGNNRegressor(emb_size=4, max_epochs=0).fit(X[:2], y[:2]).module_
    assert type(imp) is ImplicitModule  # composed from parts, no LP-specific subclass


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 5), n=st.integers(1, 7))
def test_permutation_equivariance(data, architecture, seed, m, n):
    X, y = data
    est = LPGNNRegressor(emb_size=4, architecture=architecture, max_epochs=0, random_state=1).fit(
        X[:2], y[:2]
    )
    rng = np.random.RandomState(seed)
    Z = _random_lps(rng, [(m, n)])
    lp = Z[0]
    pc, pv = rng.permutation(m), rng.permutation(n)
    W = LinearPrograms(
        [lp["A"][pc][:, pv]],
        [lp["b"][pc]],
        [lp["c"][pv]],
        [lp["lower"][pv]],
        [lp["upper"][pv]],
        [lp["is_equality"][pc]],
    )
    y0, y1 = est.predict(Z)[0], est.predict(W)[0]
    np.testing.assert_allclose(y1, y0[pv], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_equivariance_check_is_not_vacuous(data, architecture):
    # The model used above depends on the input, so a wrong permutation would be seen.
    X, y = data
    est = LPGNNRegressor(emb_size=4, architecture=architecture, max_epochs=0, random_state=1).fit(
        X[:2], y[:2]
    )
    pred = est.predict(X[:6])
    assert np.std(pred) > 1e-3
    assert not np.allclose(pred[0], pred[0][::-1])


def test_unseen_sizes_and_padding_invariance(untrained):
    rng = np.random.RandomState(0)
    Z = _random_lps(rng, [(6, 12), (2, 3), (9, 20)])
    pred = untrained.predict(Z)
    assert pred.shape == (3, 20)
    assert np.isfinite(pred[0, :12]).all() and np.isnan(pred[0, 12:]).all()
    assert np.isnan(pred[1, 3:]).all() and np.isfinite(pred[2]).all()
    for i in range(3):  # the same answer whether predicted alone or padded in a batch
        alone = untrained.predict(Z[[i]])[0]
        np.testing.assert_allclose(alone, pred[i, : len(alone)], rtol=1e-5, atol=1e-5)


def test_fit_learns_and_budget_matters(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, max_epochs=30, random_state=0).fit(X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert lp_relative_error(y, est.predict(X)) < lp_relative_error(y, np.zeros_like(y)) + 0.05
    staged = list(est.staged_predict(X[:5], n_iter=4))
    np.testing.assert_allclose(staged[1], est.predict(X[:5], n_iter=2), rtol=1e-5, atol=1e-5)
    assert not np.allclose(staged[0], staged[3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(X[:5])  # tol=0: a fixed budget, no convergence warning
    assert np.isfinite(est.score(X, y))


def test_mixed_size_training_with_nan_padded_targets():
    rng = np.random.RandomState(1)
    X = _random_lps(rng, [(3, 4), (2, 6), (3, 5)] * 3)
    y = [rng.randn(n) for n in X.n_variables]
    est = LPGNNRegressor(emb_size=4, max_epochs=3, batch_size=4, random_state=0).fit(X, y)
    pred = est.predict(X)
    assert np.isnan(pred[0, 4:]).all() and np.isfinite(pred[1]).all()
    assert np.isfinite(est.loss_curve_).all()


def test_masked_loss_ignores_padding():
    import torch

    y_true = torch.tensor([[1.0, float("nan")], [2.0, 3.0]])
    y_pred = torch.tensor([[0.0, float("nan")], [2.0, 1.0]], requires_grad=True)
    loss = MaskedMSELoss()(y_pred, y_true)
    assert loss.item() == pytest.approx(5.0 / 3)
    loss.backward()
    assert torch.isfinite(y_pred.grad).all()


def test_grid_search_over_emb_size(data):
    X, y = data
    grid = GridSearchCV(
        LPGNNRegressor(max_epochs=2, n_iter=2, random_state=0), {"emb_size": [2, 4]}, cv=2
    ).fit(X, y)
    assert grid.best_params_["emb_size"] in (2, 4)
    assert grid.predict(X[:2]).shape == (2, 8)


@pytest.mark.parametrize("block", ["A", "b", "c", "l", "upper"])
def test_lipschitz_curve_per_block(untrained, data, block):
    X, _ = data
    curve = untrained.lipschitz_curve(
        X[:4], n_iter=3, directions=LPBlocks(block), reduce="mean", random_state=0
    )
    assert curve.lipschitz.shape == (3,) and curve.reduce == "mean"
    assert np.isfinite(curve.lipschitz).all() and (curve.lipschitz > 0).all()


def test_lipschitz_curve_default_directions_perturb_a(untrained, data):
    X, _ = data
    default = untrained.lipschitz_curve(X[:4], n_iter=3, random_state=0)
    given = untrained.lipschitz_curve(X[:4], n_iter=3, directions=LPBlocks("A"), random_state=0)
    assert default.reduce == "max"  # the base's default; the paper's LP figure uses "mean"
    np.testing.assert_array_equal(default.ratios, given.ratios)
    other = untrained.lipschitz_curve(X[:4], n_iter=3, directions=LPBlocks("c"), random_state=0)
    assert not np.allclose(other.ratios, default.ratios)


def test_lipschitz_perturbs_only_the_block(data):
    X, _ = data
    Xp, norms = LPBlocks("A")(X[:3], 1e-3, 2, np.random.RandomState(0))
    base = LinearPrograms.concatenate([X[:3], X[:3]])
    dA = Xp.block("A") - base.block("A")
    np.testing.assert_allclose(np.linalg.norm(dA.reshape(6, -1), axis=1), 1e-3)
    assert np.all(dA[base.block("A") == 0] == 0)
    np.testing.assert_array_equal(Xp.block("b"), base.block("b"))
    np.testing.assert_allclose(norms, 1e-3)


def test_lipschitz_curve_refuses_array_directions_for_lps(untrained, data):
    X, _ = data
    with pytest.raises((TypeError, ValueError)):
        untrained.lipschitz_curve(X[:2], n_iter=2, directions=GaussianDirections())


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_staged_predict_matches_predict_at_every_budget(data, architecture):
    X, y = data
    est = LPGNNRegressor(
        emb_size=4, architecture=architecture, n_iter=3, max_epochs=2, random_state=0
    ).fit(X, y)
    stages = list(est.staged_predict(X[:5], n_iter=6))
    assert len(stages) == 6
    for t in range(1, 7):
        np.testing.assert_array_equal(stages[t - 1], est.predict(X[:5], n_iter=t))
    if architecture == "explicit":  # no budget: the same answer at every t
        np.testing.assert_array_equal(stages[0], stages[-1])


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_regularity_report(data, architecture):
    # Regression: the LP read-out needs the encoded input; the report used to
    # fail with "LPReadout.forward() missing ... 'var_mask'".
    X, y = data
    est = LPGNNRegressor(
        emb_size=4, architecture=architecture, n_iter=3, max_epochs=1, random_state=0
    ).fit(X, y)
    report = est.regularity_report(X[:3], random_state=0)
    assert report.n_samples == 3
    assert np.isfinite(report.lipschitz_y).all() and np.isfinite(report.lipschitz_z).all()
    if architecture == "implicit":
        assert np.isfinite(report.mu).all() and np.isfinite(report.lip_x).all()
    else:
        assert np.isnan(report.mu).all()  # no single operator to linearise


def test_regularity_report_on_mixed_sizes(untrained):
    Z = _random_lps(np.random.RandomState(0), [(3, 5), (2, 3)])
    report = untrained.regularity_report(Z, random_state=0)
    assert np.isfinite(report.mu).all() and np.isfinite(report.lipschitz_y).all()


def test_diverging_operator_warns_and_stays_finite(untrained, data):
    import pickle

    import torch

    X, _ = data
    est = pickle.loads(pickle.dumps(untrained))
    inner = est.module_.operator

    class Diverging(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def init_state(self, u):
            return self.inner.init_state(u)

        def forward(self, z, u):
            return 2 * z + self.inner(z, u) + 1e30

    est.net_.module_.operator = Diverging()
    with pytest.warns(ConvergenceWarning, match="diverged"):
        pred = est.predict(X[:4], n_iter=200)
    assert np.isfinite(pred[~np.isnan(pred)]).all()


def test_bad_inputs(untrained, data):
    X, y = data
    with pytest.raises(ValueError, match="LinearPrograms"):
        untrained.predict(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="rows"):
        LPGNNRegressor(max_epochs=0).fit(X, y[:-1])
    with pytest.raises(ValueError, match="block"):
        untrained.lipschitz_curve(X[:2], directions=LPBlocks("d"))
    with pytest.raises(ValueError, match="width"):
        LPGNNRegressor(width=3, max_epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="architecture"):
        LPGNNRegressor(architecture="deep", max_epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="empty"):
        untrained.predict(X[:0])


def test_list_of_dicts_is_accepted(untrained, data):
    X, _ = data
    np.testing.assert_array_equal(untrained.predict(list(X[:3])), untrained.predict(X[:3]))


def test_unused_routed_parameter_is_refused(data):
    # Regression: operator__width=64 used to be accepted and silently ignored.
    X, y = data
    with pytest.raises(ValueError, match="operator__width"):
        LPGNNRegressor(max_epochs=0, operator__width=64).fit(X, y)


def test_solver_options_are_refused_by_the_explicit_architecture(data):
    X, y = data
    with pytest.raises(ValueError, match="solver__m"):
        LPGNNRegressor(architecture="explicit", solver="anderson", max_epochs=0, solver__m=3).fit(
            X, y
        )
    LPGNNRegressor(solver="anderson", max_epochs=0, solver__m=3).fit(X, y)


def test_targets_beyond_float32_are_refused(data):
    # Regression: 1e39 became inf in float32 and was then silently treated as
    # padding (a training loss of 0.0).
    X, y = data
    y_big = y.copy()
    y_big[:, 0] = 1e39
    with pytest.raises(ValueError, match="float32"):
        LPGNNRegressor(max_epochs=1).fit(X, y_big)


def test_lps_beyond_float32_are_refused(untrained, data):
    X, _ = data
    big = X[:2].with_block("c", X[:2].block("c") * 1e45)
    with pytest.raises(ValueError, match="float32"):
        untrained.predict(big)


def test_score_name_names_the_pooled_r2(untrained, data):
    from sklearn_implicit.display import IterationCurveDisplay

    X, y = data
    assert "R^2" in LPGNNRegressor.score_name
    disp = IterationCurveDisplay.from_estimator(untrained, X, y, n_iter=2)
    assert disp.score_name == LPGNNRegressor.score_name


def test_pickle_roundtrip(untrained, data):
    import pickle

    X, _ = data
    clone = pickle.loads(pickle.dumps(untrained))
    np.testing.assert_array_equal(clone.predict(X[:3]), untrained.predict(X[:3]))


def test_normalize_false_uses_raw_features(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, max_epochs=0, normalize=False, random_state=0).fit(X, y)
    assert float(est.module_.decoder.scale) == 1.0
    est = LPGNNRegressor(emb_size=4, max_epochs=0, random_state=0).fit(X, y)
    assert float(est.module_.decoder.scale) == pytest.approx(np.nanstd(y), rel=1e-5)
