"""Plots of the test-time-compute trade: ``L_t`` and score against the budget ``t``.

Both displays follow scikit-learn's visualization API: a ``from_estimator``
class method computes and plots, ``plot(ax=...)`` re-plots, and the
matplotlib objects are stored in ``ax_``, ``figure_`` and ``line_``.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.metrics import accuracy_score, get_scorer, r2_score
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

__all__ = ["IterationCurveDisplay", "LipschitzCurveDisplay"]


def _get_ax(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def _name(estimator, name):
    return type(estimator).__name__ if name is None else name


class LipschitzCurveDisplay:
    """Empirical Lipschitz constant ``L_t`` of ``x -> y_t(x)`` against the budget ``t``.

    Create it with :meth:`from_estimator` (or :meth:`from_curve` for a
    precomputed :class:`~sklearn_implicit.LipschitzCurve`).

    Parameters
    ----------
    n_iter : ndarray of shape (T,)
        Budgets.
    lipschitz : ndarray of shape (T,)
        ``L_t``.
    reduce : str, default="max"
        How ratios were aggregated (for the axis label).
    estimator_name : str, optional
        Legend label.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The curve.
    ax_ : matplotlib Axes
        Axes with the curve.
    figure_ : matplotlib Figure
        Figure containing the curve.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_implicit import ImplicitRegressor
    >>> from sklearn_implicit.display import LipschitzCurveDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(60, 2))
    >>> est = ImplicitRegressor(max_epochs=3, random_state=0).fit(X, X.sum(1))
    >>> disp = LipschitzCurveDisplay.from_estimator(est, X[:10], n_iter=8, random_state=0)
    >>> disp.lipschitz.shape
    (8,)
    """

    def __init__(self, n_iter, lipschitz, *, reduce="max", estimator_name=None):
        self.n_iter = np.asarray(n_iter)
        self.lipschitz = np.asarray(lipschitz, dtype=np.float64)
        self.reduce = reduce
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, name=None, log_scale=True, **kwargs):
        """Plot the curve.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to plot on; a new figure when None.
        name : str, optional
            Legend label; default the estimator's name.
        log_scale : bool, default=True
            Logarithmic y axis (``L_t`` often grows geometrically).
        **kwargs
            Passed to ``ax.plot``.

        Returns
        -------
        display : LipschitzCurveDisplay
        """
        ax = _get_ax(ax)
        name = self.estimator_name if name is None else name
        (self.line_,) = ax.plot(self.n_iter, self.lipschitz, label=name, **kwargs)
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("test-time budget t (iterations)")
        ax.set_ylabel(f"$L_t$ ({self.reduce} ratio)")
        if name is not None:
            ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_curve(cls, curve, *, ax=None, name=None, **kwargs):
        """Plot a precomputed :class:`~sklearn_implicit.LipschitzCurve`."""
        disp = cls(curve.n_iter, curve.lipschitz, reduce=curve.reduce, estimator_name=name)
        return disp.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        n_iter=None,
        *,
        eps=1e-3,
        n_directions=4,
        reduce="max",
        random_state=None,
        ax=None,
        name=None,
        **kwargs,
    ):
        """Measure ``L_t`` with ``estimator.lipschitz_curve`` and plot it.

        Parameters
        ----------
        estimator : fitted implicit estimator
            Anything with a ``lipschitz_curve`` method.
        X : array-like
            Points at which to measure.
        n_iter : int, optional
            Largest budget; default the estimator's ``n_iter``.
        eps, n_directions, reduce, random_state
            Passed to ``lipschitz_curve``.
        ax : matplotlib Axes, optional
            Axes to plot on.
        name : str, optional
            Legend label; default the estimator's class name.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : LipschitzCurveDisplay
        """
        check_is_fitted(estimator)
        curve = estimator.lipschitz_curve(
            X,
            n_iter=n_iter,
            eps=eps,
            n_directions=n_directions,
            reduce=reduce,
            random_state=random_state,
        )
        disp = cls(
            curve.n_iter,
            curve.lipschitz,
            reduce=curve.reduce,
            estimator_name=_name(estimator, name),
        )
        return disp.plot(ax=ax, **kwargs)


class _FixedPredictions(BaseEstimator):
    """Stands in for an estimator whose ``predict`` returns stored predictions (for scorers)."""

    def __init__(self, estimator, predictions):
        self.estimator = estimator
        self.predictions = predictions
        if hasattr(estimator, "classes_"):
            self.classes_ = estimator.classes_

    def __sklearn_tags__(self):
        return get_tags(self.estimator)

    def fit(self, X, y=None):  # pragma: no cover - never fitted
        return self

    def predict(self, X):
        return self.predictions


def _resolve_scoring(estimator, scoring):
    """Return ``(score(y_true, y_pred, X), label)``."""
    if scoring is None:
        if is_classifier(estimator):
            return (lambda y, p, X: accuracy_score(y, p)), "accuracy"
        return (lambda y, p, X: r2_score(y, p)), "$R^2$"
    if isinstance(scoring, str):
        scorer = get_scorer(scoring)
        return (lambda y, p, X: scorer(_FixedPredictions(estimator, p), X, y)), scoring
    if callable(scoring):
        label = getattr(scoring, "__name__", "score")
        return (lambda y, p, X: scoring(y, p)), label
    raise ValueError(
        f"scoring must be None, a scorer name or a callable metric(y_true, y_pred); "
        f"got {type(scoring).__name__}."
    )


class IterationCurveDisplay:
    """Score of an implicit model against its test-time budget ``t``.

    Create it with :meth:`from_estimator`: every budget is scored from one
    trajectory (``estimator.staged_predict``), never one solve per budget.

    Parameters
    ----------
    n_iter : ndarray of shape (n_budgets,)
        Budgets.
    scores : ndarray of shape (n_budgets,)
        Score at each budget.
    score_name : str, default="score"
        Axis label.
    estimator_name : str, optional
        Legend label.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The curve.
    ax_ : matplotlib Axes
        Axes with the curve.
    figure_ : matplotlib Figure
        Figure containing the curve.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_implicit import ImplicitRegressor
    >>> from sklearn_implicit.display import IterationCurveDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(60, 2))
    >>> y = X.sum(1)
    >>> est = ImplicitRegressor(max_epochs=3, random_state=0).fit(X, y)
    >>> disp = IterationCurveDisplay.from_estimator(est, X, y, n_iter=[1, 2, 4, 8])
    >>> disp.scores.shape
    (4,)
    """

    def __init__(self, n_iter, scores, *, score_name="score", estimator_name=None):
        self.n_iter = np.asarray(n_iter)
        self.scores = np.asarray(scores, dtype=np.float64)
        self.score_name = score_name
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, name=None, log_x=True, **kwargs):
        """Plot the curve.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to plot on; a new figure when None.
        name : str, optional
            Legend label; default the estimator's name.
        log_x : bool, default=True
            Logarithmic budget axis.
        **kwargs
            Passed to ``ax.plot`` (default marker ``"o"``).

        Returns
        -------
        display : IterationCurveDisplay
        """
        ax = _get_ax(ax)
        name = self.estimator_name if name is None else name
        kwargs.setdefault("marker", "o")
        (self.line_,) = ax.plot(self.n_iter, self.scores, label=name, **kwargs)
        if log_x:
            ax.set_xscale("log", base=2)
        ax.set_xlabel("test-time budget t (iterations)")
        ax.set_ylabel(self.score_name)
        if name is not None:
            ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls, estimator, X, y, n_iter=None, *, scoring=None, ax=None, name=None, **kwargs
    ):
        """Score the estimator at several budgets from one trajectory and plot.

        Parameters
        ----------
        estimator : fitted implicit estimator
            Anything with ``staged_predict(X, n_iter)``.
        X : array-like
            Inputs.
        y : array-like
            True targets.
        n_iter : int or list of int, optional
            Budgets to score; an int ``T`` means ``1..T``. Default
            ``1, 2, 4, ...`` up to the estimator's ``n_iter``.
        scoring : None, str or callable, default=None
            None uses the metric of ``estimator.score`` (R^2 for
            regressors, accuracy for classifiers); a string names a
            scikit-learn scorer that uses ``predict``; a callable is a metric
            ``metric(y_true, y_pred) -> float``.
        ax : matplotlib Axes, optional
            Axes to plot on.
        name : str, optional
            Legend label; default the estimator's class name.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : IterationCurveDisplay
        """
        check_is_fitted(estimator)
        if n_iter is None:
            T = int(estimator.n_iter)
            budgets = [2**k for k in range(int(np.log2(T)) + 1)]
            if budgets[-1] != T:
                budgets.append(T)
        elif isinstance(n_iter, Integral) and not isinstance(n_iter, bool):
            budgets = list(range(1, int(n_iter) + 1))
        else:
            budgets = [int(t) for t in np.atleast_1d(n_iter)]
        if not budgets or min(budgets) < 1:
            raise ValueError(f"n_iter must hold budgets >= 1, got {n_iter!r}.")
        score, label = _resolve_scoring(estimator, scoring)
        wanted = set(budgets)
        preds = {}
        for t, y_t in enumerate(estimator.staged_predict(X, n_iter=max(budgets)), start=1):
            if t in wanted:
                preds[t] = y_t
        scores = [score(y, preds[t], X) for t in budgets]
        disp = cls(budgets, scores, score_name=label, estimator_name=_name(estimator, name))
        return disp.plot(ax=ax, **kwargs)
