"""Tests of LipschitzCurveDisplay and IterationCurveDisplay."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from sklearn_implicit import (
    ImplicitRegressor,
    IterationCurveDisplay,
    LipschitzCurveDisplay,
)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(60, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    est = ImplicitRegressor(operator__width=8, max_epochs=3, n_iter=8, random_state=0)
    return est.fit(X, y), X, y


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_lipschitz_display_from_estimator(fitted):
    est, X, _ = fitted
    disp = LipschitzCurveDisplay.from_estimator(est, X[:10], n_iter=6, random_state=0)
    curve = est.lipschitz_curve(X[:10], n_iter=6, random_state=0)
    np.testing.assert_allclose(disp.lipschitz, curve.lipschitz)
    np.testing.assert_array_equal(disp.n_iter, np.arange(1, 7))
    np.testing.assert_allclose(disp.line_.get_ydata(), curve.lipschitz)
    assert disp.ax_.figure is disp.figure_
    assert disp.estimator_name == "ImplicitRegressor"
    assert disp.ax_.get_yscale() == "log"


def test_lipschitz_display_plot_on_given_ax_and_from_curve(fitted):
    est, X, _ = fitted
    fig, ax = plt.subplots()
    curve = est.lipschitz_curve(X[:10], n_iter=5, reduce="mean", random_state=0)
    disp = LipschitzCurveDisplay.from_curve(curve, ax=ax, name="mine", log_scale=False)
    assert disp.ax_ is ax and disp.figure_ is fig
    assert disp.line_.get_label() == "mine"
    assert "mean" in ax.get_ylabel()
    # re-plot on another axis
    fig2, ax2 = plt.subplots()
    disp.plot(ax=ax2, color="r")
    assert disp.ax_ is ax2


def test_iteration_display_scores_match_predict(fitted):
    est, X, y = fitted
    budgets = [1, 2, 5, 8]
    disp = IterationCurveDisplay.from_estimator(est, X, y, n_iter=budgets)
    expected = [r2_score(y, est.predict(X, n_iter=t)) for t in budgets]
    np.testing.assert_allclose(disp.scores, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(disp.n_iter, budgets)
    np.testing.assert_allclose(disp.line_.get_ydata(), expected, rtol=1e-6, atol=1e-9)
    assert disp.score_name == "$R^2$"
    assert disp.figure_ is disp.ax_.figure


def test_iteration_display_scoring_options(fitted):
    est, X, y = fitted
    disp = IterationCurveDisplay.from_estimator(
        est, X, y, n_iter=[2, 4], scoring="neg_mean_squared_error"
    )
    expected = [-mean_squared_error(y, est.predict(X, n_iter=t)) for t in (2, 4)]
    np.testing.assert_allclose(disp.scores, expected, rtol=1e-6)
    disp = IterationCurveDisplay.from_estimator(est, X, y, n_iter=3, scoring=mean_absolute_error)
    np.testing.assert_array_equal(disp.n_iter, [1, 2, 3])
    assert disp.score_name == "mean_absolute_error"
    disp = IterationCurveDisplay.from_estimator(est, X, y)  # default budgets up to n_iter=8
    np.testing.assert_array_equal(disp.n_iter, [1, 2, 4, 8])


def test_iteration_display_errors(fitted):
    est, X, y = fitted
    with pytest.raises(ValueError, match="scoring"):
        IterationCurveDisplay.from_estimator(est, X, y, n_iter=[1], scoring=3)
    with pytest.raises(ValueError, match="budgets"):
        IterationCurveDisplay.from_estimator(est, X, y, n_iter=[0, 2])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LipschitzCurveDisplay.from_estimator(ImplicitRegressor(), X)
