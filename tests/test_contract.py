"""One contract, every estimator and both architectures.

Each case builds a tiny fitted estimator; every test below holds for all of them:
fit/predict, ``staged_predict`` against ``predict(n_iter=t)``, ``solve``'s info,
``lipschitz_curve`` with the default and a custom direction strategy,
``regularity_report``, pickling, cloning, batch independence, and a diverging
operator that warns and stays finite.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from sklearn_implicit import ImplicitClassifier, ImplicitRegressor
from sklearn_implicit.lipschitz import (
    FourierModes,
    GaussianDirections,
    GivenPairs,
    LipschitzCurve,
    LPBlocks,
    TokenSubstitutions,
)
from sklearn_implicit.solvers import SolverInfo
from sklearn_implicit.utils import torch_threads


def _tabular():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(24, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    est = ImplicitRegressor(operator__width=8, max_epochs=2, n_iter=6, random_state=0)
    return est, X, y, GaussianDirections()


def _tabular_classifier():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(24, 3))
    y = np.digitize(X[:, 0] + X[:, 1] * X[:, 2], [-0.3, 0.3])  # three classes
    est = ImplicitClassifier(operator__width=8, max_epochs=2, n_iter=6, random_state=0)
    return est, X, y, GaussianDirections()


def _deblur(architecture):
    from sklearn_implicit.datasets import make_blurred_images
    from sklearn_implicit.imaging import DeblurRegressor

    X, y = make_blurred_images(10, size=16, kernel_size=5, random_state=0)
    est = DeblurRegressor(
        architecture=architecture,
        kernel_size=5,
        width=8,
        depth=3,
        n_iter=6,
        max_epochs=1,
        batch_size=8,
        random_state=0,
    )
    return est, X, y, GaussianDirections()


def _fno(architecture):
    from sklearn_implicit.datasets import make_navier_stokes
    from sklearn_implicit.pde import FNORegressor

    X, y = make_navier_stokes(10, resolution=16, cache=False, random_state=0)[:2]
    est = FNORegressor(
        architecture=architecture,
        width=8,
        modes=4,
        n_iter=6,
        max_epochs=1,
        batch_size=8,
        random_state=0,
    )
    return est, X, y, FourierModes(max_frequency=2)


def _lp(architecture):
    from sklearn_implicit.datasets import make_linear_programs
    from sklearn_implicit.lp import LPGNNRegressor

    X, y = make_linear_programs(
        12, n_constraints=4, n_variables=8, nnz=12, cache=False, random_state=0
    )
    est = LPGNNRegressor(
        architecture=architecture, emb_size=4, n_iter=4, max_epochs=1, random_state=0
    )
    return est, X, y, LPBlocks("c")


def _looped(architecture):
    from sklearn_implicit.datasets import make_pointer_chasing
    from sklearn_implicit.looped import LoopedTransformerClassifier

    X, y = make_pointer_chasing(16, n_nodes=6, n_hops=3, random_state=0)
    est = LoopedTransformerClassifier(
        architecture=architecture,
        d_model=16,
        n_heads=2,
        mean_recurrence=2,
        backprop_depth=2,
        n_iter=4,
        max_epochs=1,
        random_state=0,
    )
    return est, X, y, TokenSubstitutions()


CASES = {
    "ImplicitRegressor": _tabular,
    "ImplicitClassifier": _tabular_classifier,
    **{f"DeblurRegressor-{a}": (lambda a=a: _deblur(a)) for a in ("implicit", "explicit")},
    **{f"FNORegressor-{a}": (lambda a=a: _fno(a)) for a in ("implicit", "explicit")},
    **{f"LPGNNRegressor-{a}": (lambda a=a: _lp(a)) for a in ("implicit", "explicit")},
    **{
        f"LoopedTransformerClassifier-{a}": (lambda a=a: _looped(a))
        for a in ("implicit", "explicit")
    },
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est, X, y, directions = CASES[request.param]()
        est.fit(X, y)
    return request.param, est, X, y, directions


def _rows(X, idx):
    return X[idx]


def _equal(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_predict_and_budget(case):
    _, est, X, y, _ = case
    y_hat = est.predict(X)
    assert np.shape(y_hat)[0] == len(y)
    stages = list(est.staged_predict(X, n_iter=5))
    assert len(stages) == 5
    for t in (1, 3, 5):
        _equal(stages[t - 1], est.predict(X, n_iter=t))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_solve_returns_info(case):
    _, est, X, y, _ = case
    y_hat, info = est.solve(X, n_iter=3)
    assert isinstance(info, SolverInfo) and info.n_samples == len(y)
    _equal(y_hat, est.predict(X, n_iter=3))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lipschitz_curve_default_and_custom_directions(case):
    _, est, X, y, directions = case
    Xs = _rows(X, np.arange(4))
    curve = est.lipschitz_curve(Xs, n_iter=3, n_directions=2, random_state=0)
    assert isinstance(curve, LipschitzCurve) and curve.lipschitz.shape == (3,)
    assert curve.ratios.shape == (3, 8) and np.isfinite(curve.lipschitz).all()
    again = est.lipschitz_curve(Xs, n_iter=3, n_directions=2, random_state=0)
    _equal(again.ratios, curve.ratios)
    custom = est.lipschitz_curve(
        Xs, n_iter=3, n_directions=2, directions=directions, random_state=0
    )
    assert custom.ratios.shape == (3, 8) and np.isfinite(custom.lipschitz).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_given_pairs_are_a_direction_strategy(case):
    name, est, X, y, directions = case
    Xs = _rows(X, np.arange(4))
    Xp, _ = directions(Xs, 1e-2, 1, np.random.RandomState(0))
    if not isinstance(Xs, np.ndarray):
        pytest.skip("linear programs are not arrays; LPBlocks covers them")
    curve = est.lipschitz_curve(Xs, n_iter=2, directions=GivenPairs(Xp))
    assert curve.ratios.shape == (2, 4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regularity_report(case):
    name, est, X, y, _ = case
    report = est.regularity_report(_rows(X, np.arange(3)), n_iter=4, random_state=0)
    assert report.n_samples == 3
    assert np.isfinite(report.lipschitz_y).all()
    if name.endswith("explicit"):
        assert np.isnan(report.mu).all()  # no single operator to linearise
    else:
        assert np.isfinite(report.mu).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_budget_curve(case):
    from sklearn_implicit import BudgetCurve

    name, est, X, y, _ = case
    idx = np.arange(6)
    Xs, ys = _rows(X, idx), np.asarray(y)[idx]
    curve = est.budget_curve(Xs, ys, n_iter=3, random_state=0)
    assert isinstance(curve, BudgetCurve)
    for attr in ("score", "residual", "lipschitz", "evaluations", "seconds"):
        assert getattr(curve, attr).shape == (3,)
    assert np.isfinite(curve.score).all() and np.isfinite(curve.lipschitz).all()
    assert np.all(np.diff(curve.seconds) >= 0)
    # Stage t is scored as the estimator scores predict(X, n_iter=t).
    at_3 = pickle.loads(pickle.dumps(est)).set_params(n_iter=3, tol=0.0)
    assert curve.score[-1] == pytest.approx(at_3.score(Xs, ys), rel=1e-9)
    if name.endswith("explicit"):
        assert curve.fit_status == "flat" and curve.budget_at() == 1
    else:
        _equal(curve.evaluations, [1.0, 2.0, 3.0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pickle_and_clone(case):
    _, est, X, y, _ = case
    again = pickle.loads(pickle.dumps(est))
    _equal(again.predict(X, n_iter=3), est.predict(X, n_iter=3))
    fresh = clone(est)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params().keys() == est.get_params().keys()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_batch_independence(case):
    _, est, X, y, _ = case
    full = np.asarray(est.predict(X, n_iter=3))
    part = np.asarray(est.predict(_rows(X, np.arange(3)), n_iter=3))
    np.testing.assert_array_equal(full[:3], part)


class _Diverging(nn.Module):
    """Wraps an operator so that every state doubles: 2 z + G(z, u) + 1e30 overflows."""

    def __init__(self, operator):
        super().__init__()
        self.inner = operator

    def forward(self, z, u):
        return 2 * z + self.inner(z, u) + 1e30

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)


def test_diverging_operator_warns_and_stays_finite(case):
    name, est, X, y, _ = case
    if name.endswith("explicit"):
        pytest.skip("an explicit model has no iteration to diverge")
    est = pickle.loads(pickle.dumps(est))
    module = est.net_.module_
    module.operator = _Diverging(module.operator)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        y_hat = est.predict(X, n_iter=200)
    values = np.asarray(y_hat, dtype=np.float64)
    assert np.isfinite(values[~np.isnan(values)]).all()
