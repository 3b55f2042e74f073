"""Tests of ``budget_curve`` and ``BudgetCurve``: the test-time compute report."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import mean_absolute_error, r2_score

from sklearn_implicit import BudgetCurve, ImplicitRegressor
from sklearn_implicit.theory import ReciprocalOperator

ETA = 0.8
#: Inputs of the reciprocal operator: contraction |1 - 0.8 x| from 0.98 to 0.2.
X_RECIPROCAL = np.array([[0.02], [0.1], [0.25], [0.5], [1.0]])


@pytest.fixture(scope="module")
def reciprocal():
    """``G(y, x) = y - 0.8 (x y - 1)``: ``y_t = (1 - q^t) / x`` with ``q = 1 - 0.8 x``."""
    X = X_RECIPROCAL
    est = ImplicitRegressor(operator=ReciprocalOperator(ETA), max_epochs=0, n_iter=40, device="cpu")
    return est.fit(X, 1 / X[:, 0]), X, 1 / X[:, 0]


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(40, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    est = ImplicitRegressor(operator__width=8, max_epochs=3, n_iter=6, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return est, X, y


def _analytic_stops(x, tol, T):
    """Step at which Picard's relative residual on the reciprocal operator reaches ``tol``."""
    k = np.arange(1, T + 1)[:, None]
    q = 1 - ETA * x[None, :]
    # |z_k - z_{k-1}| / (|z_k| + 1e-6) with z_k = (1 - q^k) / x.
    residual = ETA * q ** (k - 1) / ((1 - q**k) / x[None, :] + 1e-6)
    reached = residual <= tol
    return np.where(reached.any(axis=0), reached.argmax(axis=0) + 1, T), residual


# ---------------------------------------------------------------------- one trajectory
@pytest.mark.parametrize("lipschitz", [True, False])
def test_score_at_t_is_the_score_of_predict_at_t(fitted, lipschitz):
    est, X, y = fitted
    curve = est.budget_curve(X, y, n_iter=8, lipschitz=lipschitz, random_state=0)
    np.testing.assert_array_equal(curve.n_iter, np.arange(1, 9))
    expected = [r2_score(y, est.predict(X, n_iter=t)) for t in range(1, 9)]
    np.testing.assert_allclose(curve.score, expected, rtol=1e-12, atol=1e-12)
    assert curve.score_name == "$R^2$"
    assert (curve.lipschitz is None) == (not lipschitz)
    assert "_predict_raw" not in vars(est)  # the estimator is never changed


def test_scoring_string_and_callable(fitted):
    est, X, y = fitted
    curve = est.budget_curve(X, y, n_iter=4, scoring="neg_mean_absolute_error", lipschitz=False)
    expected = [-mean_absolute_error(y, est.predict(X, n_iter=t)) for t in range(1, 5)]
    np.testing.assert_allclose(curve.score, expected, rtol=1e-12)
    assert curve.score_name == "neg_mean_absolute_error"

    def max_error(estimator, X_, y_):
        return -np.max(np.abs(estimator.predict(X_) - y_))

    curve = est.budget_curve(X, y, n_iter=3, scoring=max_error, lipschitz=False)
    expected = [-np.max(np.abs(est.predict(X, n_iter=t) - y)) for t in range(1, 4)]
    np.testing.assert_allclose(curve.score, expected)
    assert curve.score_name == "max_error"


def test_probability_scorers_see_the_stage():
    from sklearn.metrics import log_loss

    from sklearn_implicit import ImplicitClassifier

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(30, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    est = ImplicitClassifier(operator__width=8, max_epochs=2, n_iter=4, random_state=0)
    est.fit(X, y)
    curve = est.budget_curve(X, y, n_iter=4, scoring="neg_log_loss", random_state=0)
    expected = [-log_loss(y, est.predict_proba(X, n_iter=t)) for t in range(1, 5)]
    np.testing.assert_allclose(curve.score, expected, rtol=1e-10)
    accuracy = est.budget_curve(X, y, n_iter=4, lipschitz=False).score
    np.testing.assert_allclose(
        accuracy, [np.mean(est.predict(X, n_iter=t) == y) for t in range(1, 5)]
    )


def test_lipschitz_is_lipschitz_curve_with_the_same_seed(fitted):
    est, X, y = fitted
    curve = est.budget_curve(X, y, n_iter=7, eps=1e-2, n_directions=3, random_state=4)
    ref = est.lipschitz_curve(X, n_iter=7, eps=1e-2, n_directions=3, random_state=4)
    np.testing.assert_array_equal(curve.lipschitz, ref.lipschitz)


def test_residual_is_the_solver_trace(fitted, reciprocal):
    est, X, y = fitted
    curve = est.budget_curve(X, y, n_iter=7, random_state=0)
    _, info = est.solve(X, n_iter=7, tol=0.0)
    np.testing.assert_allclose(curve.residual, info.residual_trace.mean(axis=1), rtol=1e-6)
    # The reciprocal operator: the residual of step t is 0.8 q^(t-1) / (|y_t| + 1e-6).
    est, X, y = reciprocal
    curve = est.budget_curve(X, y, n_iter=30, lipschitz=False)
    _, residual = _analytic_stops(X[:, 0], 0.0, 30)
    np.testing.assert_allclose(curve.residual, residual.mean(axis=1), rtol=1e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_evaluations_count_each_samples_early_exit(reciprocal):
    est, X, y = reciprocal
    T, tol = 40, 1e-2
    stops, _ = _analytic_stops(X[:, 0], tol, T)
    np.testing.assert_array_equal(stops, [40, 28, 15, 9, 4])
    curve = est.budget_curve(X, y, n_iter=T, tol=tol, lipschitz=False)
    t = np.arange(1, T + 1)
    expected = np.minimum(t[:, None], stops[None, :]).mean(axis=1)
    np.testing.assert_array_equal(curve.evaluations, expected)
    _, info = est.solve(X, n_iter=T, tol=tol)
    np.testing.assert_array_equal(info.n_steps, stops)
    # The answer at t is predict(X, n_iter=t, tol=tol); the converged fraction grows.
    for k in (3, 9, 20, 40):
        assert curve.score[k - 1] == pytest.approx(
            r2_score(y, est.predict(X, n_iter=k, tol=tol)), rel=1e-12
        )
    converged = (stops[None, :] <= t[:, None]) & (stops < T)[None, :]
    np.testing.assert_allclose(curve.fraction_converged, converged.mean(axis=1))
    assert curve.tol == tol
    # Without tol every sample runs every step.
    plain = est.budget_curve(X, y, n_iter=T, lipschitz=False)
    np.testing.assert_array_equal(plain.evaluations, t)


def test_early_exit_with_lipschitz_keeps_the_trajectory_complete(reciprocal):
    est, X, y = reciprocal
    # Both samples (and their copies) stop near steps 15 and 9: the solve ends early.
    curve = est.budget_curve(X[2:4], y[2:4], n_iter=30, tol=1e-2, random_state=0)
    assert curve.lipschitz.shape == (30,) and np.isfinite(curve.lipschitz).all()
    np.testing.assert_array_equal(curve.lipschitz[20:], curve.lipschitz[20])
    np.testing.assert_array_equal(curve.score[20:], curve.score[20])
    assert curve.evaluations[-1] == (15 + 9) / 2
    assert curve.fraction_converged[-1] == 1.0


def test_seconds_are_cumulative(fitted):
    est, X, y = fitted
    curve = est.budget_curve(X, y, n_iter=5, random_state=0)
    assert curve.seconds.shape == (5,)
    assert np.all(np.diff(curve.seconds) >= 0) and curve.seconds[0] > 0


def test_errors(fitted):
    est, X, y = fitted
    with pytest.raises(ValueError, match="tol"):
        est.budget_curve(X, y, tol=-1.0)
    with pytest.raises(ValueError, match="n_directions"):
        est.budget_curve(X, y, n_directions=0)
    with pytest.raises(ValueError, match="eps"):
        est.budget_curve(X, y, eps=0.0)
    with pytest.raises(ValueError, match="n_iter"):
        est.budget_curve(X, y, n_iter=0)
    with pytest.raises(NotFittedError):
        ImplicitRegressor().budget_curve(X, y)


# ---------------------------------------------------------------------- the fit
def _curve(score):
    score = np.asarray(score, dtype=np.float64)
    t = np.arange(1, len(score) + 1)
    zeros = np.zeros(len(score))
    return BudgetCurve(t, score, zeros, None, t.astype(float), zeros, zeros)


@pytest.mark.parametrize("a, b, tau", [(0.9, 0.5, 4.0), (30.0, 12.0, 1.5), (-0.2, 3.0, 9.0)])
def test_saturating_fit_recovers_its_parameters(a, b, tau):
    t = np.arange(1, 41)
    curve = _curve(a - b * np.exp(-(t - 1) / tau))
    assert curve.fit_status == "ok"
    assert curve.asymptote == pytest.approx(a, rel=1e-6)
    assert curve.amplitude == pytest.approx(b, rel=1e-6)
    assert curve.rate == pytest.approx(tau, rel=1e-6)
    noisy = curve.score + np.random.RandomState(0).normal(0, 0.01 * b, size=t.size)
    rough = _curve(noisy)
    assert rough.asymptote == pytest.approx(a, abs=0.02 * b)
    assert rough.rate == pytest.approx(tau, rel=0.15)


def test_budget_at_is_the_smallest_budget_on_the_fitted_curve():
    t = np.arange(1, 31)
    curve = _curve(0.9 - 0.5 * np.exp(-(t - 1) / 4.0))
    for fraction in (0.5, 0.9, 0.95, 0.99):
        budget = curve.budget_at(fraction)
        threshold = curve.asymptote - (1 - fraction) * (curve.asymptote - curve.fitted(1))
        assert curve.fitted(budget) >= threshold
        assert budget == 1 or curve.fitted(budget - 1) < threshold
    assert curve.budget_at(0.95) == 13  # ceil(1 + 4 ln 20)
    assert isinstance(curve.budget_at(), int)
    with pytest.raises(ValueError, match="fraction"):
        curve.budget_at(1.0)
    with pytest.raises(ValueError, match="fraction"):
        curve.budget_at(0)


def test_budget_at_extrapolates_beyond_the_measured_budgets():
    t = np.arange(1, 11)
    curve = _curve(1.0 - np.exp(-(t - 1) / 20.0))  # far from saturated at T = 10
    assert curve.rate == pytest.approx(20.0, rel=1e-4)
    assert curve.budget_at(0.95) == 61  # ceil(1 + 20 ln 20), not clipped to 10


def test_flat_falling_and_failed_curves():
    flat = _curve(np.full(10, 0.7))
    assert flat.fit_status == "flat" and flat.asymptote == 0.7 and flat.rate == 0.0
    assert flat.budget_at() == 1
    np.testing.assert_allclose(flat.fitted(), 0.7)
    t = np.arange(1, 21)
    falling = _curve(0.5 + 0.3 * np.exp(-(t - 1) / 3.0))
    assert falling.fit_status == "ok" and falling.amplitude < 0
    assert falling.asymptote == pytest.approx(0.5, rel=1e-5)
    assert falling.budget_at() == 1
    failed = _curve([np.nan, np.nan, 1.0, np.inf])
    assert failed.fit_status == "failed" and np.isnan(failed.asymptote)
    assert failed.budget_at() is None
    assert "failed" in repr(failed)
