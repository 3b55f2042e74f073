"""Tests of LipschitzCurveDisplay, IterationCurveDisplay and BudgetCurveDisplay."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from sklearn_implicit import (
    BudgetCurveDisplay,
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


def test_iteration_display_default_is_the_estimators_score(fitted):
    est, X, y = fitted
    disp = IterationCurveDisplay.from_estimator(est, X, y, n_iter=[2, est.n_iter])
    assert disp.scores[-1] == pytest.approx(est.score(X, y), rel=1e-6)
    assert disp.score_name == "$R^2$"


@pytest.mark.parametrize("budgets", [[1.5, 2.7], [1.0, 2.0], [[1, 2]], [], [-1, 2]])
def test_iteration_display_refuses_non_integer_budgets(fitted, budgets):
    est, X, y = fitted
    with pytest.raises(ValueError, match="n_iter"):
        IterationCurveDisplay.from_estimator(est, X, y, n_iter=budgets)


def test_iteration_display_default_score_of_deblurring_is_psnr():
    from sklearn_implicit.datasets import make_blurred_images
    from sklearn_implicit.imaging import DeblurRegressor

    X, y = make_blurred_images(8, size=16, kernel_size=5, random_state=0)
    est = DeblurRegressor(kernel_size=5, width=8, depth=3, n_iter=4, max_epochs=1, random_state=0)
    est.fit(X, y)
    disp = IterationCurveDisplay.from_estimator(est, X, y, n_iter=4)
    assert np.all(disp.scores > 1)  # dB, not R^2
    assert disp.scores[-1] == pytest.approx(est.score(X, y), rel=1e-5)


def test_iteration_display_on_nan_padded_linear_programs():
    from sklearn_implicit.datasets import make_linear_programs
    from sklearn_implicit.lp import LinearPrograms, LPGNNRegressor

    X1, y1 = make_linear_programs(
        4, n_constraints=3, n_variables=4, nnz=6, cache=False, random_state=0
    )
    X2, y2 = make_linear_programs(
        4, n_constraints=4, n_variables=6, nnz=10, cache=False, random_state=1
    )
    X = LinearPrograms.concatenate([X1, X2])
    y = np.vstack([np.pad(y1, ((0, 0), (0, 2)), constant_values=np.nan), y2])
    est = LPGNNRegressor(emb_size=4, n_iter=3, max_epochs=1, random_state=0).fit(X, y)
    disp = IterationCurveDisplay.from_estimator(est, X, y, n_iter=3)
    assert np.isfinite(disp.scores).all()
    assert disp.scores[-1] == pytest.approx(est.score(X, y), rel=1e-5)


class _RecordsCurveOptions(BaseEstimator):
    """A fitted stand-in whose ``lipschitz_curve`` records the options it is given."""

    def fit(self, X, y=None):  # pragma: no cover - only check_is_fitted looks for it
        return self

    def __sklearn_is_fitted__(self):
        return True

    def lipschitz_curve(self, X, n_iter=None, **options):
        from sklearn_implicit import LipschitzCurve

        self.options = options
        T = 3 if n_iter is None else n_iter
        return LipschitzCurve(
            n_iter=np.arange(1, T + 1),
            lipschitz=np.ones(T),
            ratios=np.ones((T, 2)),
            reduce=options.get("reduce", "mean"),
        )


def test_lipschitz_display_forwards_only_given_options():
    est = _RecordsCurveOptions()
    disp = LipschitzCurveDisplay.from_estimator(est, np.zeros((2, 1)))
    assert est.options == {} and disp.reduce == "mean"
    directions = object()
    LipschitzCurveDisplay.from_estimator(
        est, np.zeros((2, 1)), n_iter=2, directions=directions, n_directions=1
    )
    assert est.options == {"directions": directions, "n_directions": 1}


def test_budget_display_from_estimator(fitted):
    est, X, y = fitted
    disp = BudgetCurveDisplay.from_estimator(est, X[:20], y[:20], n_iter=6, random_state=0)
    curve = est.budget_curve(X[:20], y[:20], n_iter=6, random_state=0)
    np.testing.assert_allclose(disp.score, curve.score)
    np.testing.assert_allclose(disp.lipschitz, curve.lipschitz)
    assert disp.curve_.budget_at() == curve.budget_at()
    # Score against t and against the evaluations, L_t on twin axes of both panels.
    assert len(disp.ax_) == 2 and len(disp.lipschitz_ax_) == 2
    np.testing.assert_allclose(disp.score_lines_[0].get_xdata(), np.arange(1, 7))
    np.testing.assert_allclose(disp.score_lines_[1].get_xdata(), curve.evaluations)
    np.testing.assert_allclose(disp.score_lines_[0].get_ydata(), curve.score)
    np.testing.assert_allclose(disp.lipschitz_lines_[1].get_ydata(), curve.lipschitz)
    assert disp.lipschitz_ax_[0].get_yscale() == "log"
    np.testing.assert_allclose(disp.fit_line_.get_ydata(), curve.fitted())
    assert disp.figure_ is disp.ax_[0].figure
    assert disp.ax_[0].get_ylabel() == "$R^2$"
    assert disp.score_lines_[0].get_label() == "ImplicitRegressor"


def test_budget_display_from_curve_on_given_axes(fitted):
    est, X, y = fitted
    curve = est.budget_curve(X[:20], y[:20], n_iter=5, tol=1e-3, lipschitz=False)
    fig, axes = plt.subplots(1, 2)
    disp = BudgetCurveDisplay.from_curve(curve, ax=axes, name="mine", show_fit=False)
    assert disp.ax_[0] is axes[0] and disp.figure_ is fig
    assert disp.lipschitz_lines_ is None and disp.lipschitz_ax_ is None
    assert disp.fit_line_ is None
    assert disp.score_lines_[0].get_label() == "mine"
    np.testing.assert_allclose(disp.score_lines_[1].get_xdata(), curve.evaluations)
    with pytest.raises(ValueError, match="two Axes"):
        disp.plot(ax=axes[0])
