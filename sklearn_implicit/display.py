"""Plots of the test-time-compute trade: ``L_t`` and score against the budget ``t``.

The displays follow scikit-learn's visualization API: a ``from_estimator``
class method computes and plots, ``plot(ax=...)`` re-plots, and the
matplotlib objects are stored in ``ax_``, ``figure_`` and ``line_`` (the
lines of :class:`BudgetCurveDisplay`, which draws on two panels, in
``score_lines_``, ``lipschitz_lines_`` and ``fit_line_``).
"""

from __future__ import annotations

import copy
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import get_scorer
from sklearn.utils import get_tags
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_is_fitted

from ._budget import _score_name

__all__ = ["BudgetCurveDisplay", "IterationCurveDisplay", "LipschitzCurveDisplay"]


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
        eps=None,
        n_directions=None,
        reduce=None,
        directions=None,
        random_state=None,
        ax=None,
        name=None,
        **kwargs,
    ):
        """Measure ``L_t`` with ``estimator.lipschitz_curve`` and plot it.

        Only the measurement options given (not None) are passed on, so every
        other one keeps the estimator's own default (a domain estimator may
        measure in its own directions or distance).

        Parameters
        ----------
        estimator : fitted implicit estimator
            Anything with a ``lipschitz_curve`` method.
        X : array-like
            Points at which to measure.
        n_iter : int, optional
            Largest budget; default the estimator's ``n_iter``.
        eps, n_directions, reduce, directions, random_state : optional
            Passed to ``lipschitz_curve`` when not None (step size, number of
            directions per sample, aggregation of the ratios, direction
            strategy, seed); None keeps the estimator's default.
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
        given = {
            "eps": eps,
            "n_directions": n_directions,
            "reduce": reduce,
            "directions": directions,
            "random_state": random_state,
        }
        options = {key: value for key, value in given.items() if value is not None}
        curve = estimator.lipschitz_curve(X, n_iter=n_iter, **options)
        disp = cls(
            curve.n_iter,
            curve.lipschitz,
            reduce=curve.reduce,
            estimator_name=_name(estimator, name),
        )
        return disp.plot(ax=ax, **kwargs)


class _FixedPredictions(BaseEstimator):
    """Stands in for an estimator whose ``predict`` returns stored predictions (for scorers).

    Only ``predict`` is offered, so a scorer that needs probabilities or
    decision values fails instead of silently using the full-budget model.
    """

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


def _at_budget(estimator, predictions):
    """A shallow copy of ``estimator`` whose ``predict`` returns ``predictions``.

    The copy shares every fitted attribute (nothing is re-fitted or
    duplicated) and keeps the estimator's class, so its ``score`` method is
    the estimator's own (R^2, PSNR, token accuracy, the LP's padded R^2, ...)
    applied to the stored predictions of one budget.
    """
    proxy = copy.copy(estimator)
    proxy.predict = lambda X, *args, **kwargs: predictions
    return proxy


def _resolve_scoring(estimator, scoring):
    """Return ``(score(y_true, y_pred, X), label)``."""
    if scoring is None:
        return (lambda y, p, X: _at_budget(estimator, p).score(X, y)), _score_name(estimator)
    if isinstance(scoring, str):
        scorer = get_scorer(scoring)
        return (lambda y, p, X: scorer(_FixedPredictions(estimator, p), X, y)), scoring
    label = getattr(scoring, "__name__", "score")
    return (lambda y, p, X: scoring(y, p)), label


def _budgets(n_iter, estimator):
    """The list of budgets to score: validated integers >= 1."""
    if n_iter is None:
        T = int(estimator.n_iter)
        budgets = [2**k for k in range(int(np.log2(T)) + 1)]
        if budgets[-1] != T:
            budgets.append(T)
        return budgets
    if isinstance(n_iter, Integral):
        return list(range(1, int(n_iter) + 1))
    budgets = np.asarray(n_iter)
    if budgets.ndim != 1 or budgets.size == 0:
        raise ValueError(f"n_iter must be an int or a non-empty list of budgets, got {n_iter!r}.")
    if budgets.dtype == bool or not np.issubdtype(budgets.dtype, np.integer):
        raise ValueError(
            f"The budgets in n_iter must be integers (numbers of iterations), got {n_iter!r}."
        )
    if budgets.min() < 1:
        raise ValueError(f"The budgets in n_iter must be >= 1, got {n_iter!r}.")
    return [int(t) for t in budgets]


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
    @validate_params(
        {
            "n_iter": [None, Interval(Integral, 1, None, closed="left"), "array-like"],
            "scoring": [None, str, callable],
        },
        prefer_skip_nested_validation=True,
    )
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
            Budgets to score, integers ``>= 1``; an int ``T`` means ``1..T``.
            Default ``1, 2, 4, ...`` up to the estimator's ``n_iter``.
        scoring : None, str or callable, default=None
            None uses the estimator's own ``score`` method (R^2 for
            regressors, accuracy for classifiers, PSNR in dB for
            :class:`~sklearn_implicit.imaging.DeblurRegressor`, the padded
            R^2 of the LP estimators, ...): for each budget ``t`` it is
            called on a shallow copy of the estimator whose ``predict``
            returns the staged predictions ``y_t``, so no solve is repeated.
            The axis is labelled with the estimator's ``score_name`` when it
            has one (else ``R^2``, ``accuracy`` or ``score``). A string names
            a scikit-learn scorer that uses ``predict``; a callable is a
            metric ``metric(y_true, y_pred) -> float``.
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
        budgets = _budgets(n_iter, estimator)
        score, label = _resolve_scoring(estimator, scoring)
        wanted = set(budgets)
        preds = {}
        for t, y_t in enumerate(estimator.staged_predict(X, n_iter=max(budgets)), start=1):
            if t in wanted:
                preds[t] = y_t
        scores = [score(y, preds[t], X) for t in budgets]
        disp = cls(budgets, scores, score_name=label, estimator_name=_name(estimator, name))
        return disp.plot(ax=ax, **kwargs)


class BudgetCurveDisplay:
    """What test-time compute buys: score and ``L_t`` against the budget and its cost.

    Two panels share the score axis: on the left against the budget ``t``,
    on the right against the G evaluations per sample it cost (fewer than
    ``t`` with a per-sample early exit). On each, ``L_t`` is drawn on a twin
    y axis (dashed), so that the score and the complexity of the iterate map
    are read together. Create it with :meth:`from_estimator` (or
    :meth:`from_curve` for a :class:`~sklearn_implicit.BudgetCurve`).

    Parameters
    ----------
    n_iter : ndarray of shape (T,)
        Budgets.
    score : ndarray of shape (T,)
        Score at each budget.
    evaluations : ndarray of shape (T,)
        Cumulative G evaluations per sample at each budget.
    lipschitz : ndarray of shape (T,), optional
        ``L_t``; not drawn when None.
    fitted_score : ndarray of shape (T,), optional
        The saturating fit of the score over ``n_iter``; not drawn when None.
    score_name : str, default="score"
        Axis label of the score.
    estimator_name : str, optional
        Legend label.

    Attributes
    ----------
    score_lines_ : list of matplotlib Line2D
        The score against ``t`` and against the evaluations.
    lipschitz_lines_ : list of matplotlib Line2D or None
        ``L_t`` on the two panels.
    fit_line_ : matplotlib Line2D or None
        The fitted score against ``t``.
    ax_ : ndarray of matplotlib Axes, shape (2,)
        The panels (score axes): against ``t``, against the evaluations.
    lipschitz_ax_ : ndarray of matplotlib Axes, shape (2,), or None
        Their twin axes holding ``L_t``.
    figure_ : matplotlib Figure
        Figure containing the panels.
    curve_ : BudgetCurve
        The curve plotted (set by :meth:`from_estimator` and
        :meth:`from_curve`).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_implicit import ImplicitRegressor
    >>> from sklearn_implicit.display import BudgetCurveDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(60, 2))
    >>> est = ImplicitRegressor(max_epochs=3, random_state=0).fit(X, X.sum(1))
    >>> disp = BudgetCurveDisplay.from_estimator(est, X, X.sum(1), n_iter=10, random_state=0)
    >>> len(disp.score_lines_), disp.ax_.shape
    (2, (2,))
    """

    def __init__(
        self,
        n_iter,
        score,
        evaluations,
        *,
        lipschitz=None,
        fitted_score=None,
        score_name="score",
        estimator_name=None,
    ):
        self.n_iter = np.asarray(n_iter)
        self.score = np.asarray(score, dtype=np.float64)
        self.evaluations = np.asarray(evaluations, dtype=np.float64)
        self.lipschitz = None if lipschitz is None else np.asarray(lipschitz, dtype=np.float64)
        self.fitted_score = (
            None if fitted_score is None else np.asarray(fitted_score, dtype=np.float64)
        )
        self.score_name = score_name
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, name=None, log_lipschitz=True, show_fit=True, **kwargs):
        """Plot the curves.

        Parameters
        ----------
        ax : sequence of two matplotlib Axes, optional
            The panels (against ``t``, against the evaluations); a new
            figure with two panels when None.
        name : str, optional
            Legend label of the score; default the estimator's name.
        log_lipschitz : bool, default=True
            Logarithmic ``L_t`` axes (``L_t`` often grows geometrically).
        show_fit : bool, default=True
            Draw the fitted score (dotted) on the left panel.
        **kwargs
            Passed to ``ax.plot`` for the score lines.

        Returns
        -------
        display : BudgetCurveDisplay
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        axes = np.asarray(ax, dtype=object).reshape(-1)
        if axes.shape != (2,):
            raise ValueError(
                f"ax must hold two Axes (against t, against the evaluations), got {len(axes)}."
            )
        name = self.estimator_name if name is None else name
        kwargs.setdefault("color", "C0")
        xs = (self.n_iter, self.evaluations)
        xlabels = ("test-time budget t (iterations)", "G evaluations per sample")
        self.score_lines_, self.lipschitz_lines_, self.fit_line_ = [], None, None
        twins = []
        for panel, x, xlabel in zip(axes, xs, xlabels):
            (line,) = panel.plot(x, self.score, label=name or self.score_name, **kwargs)
            self.score_lines_.append(line)
            panel.set_xlabel(xlabel)
            panel.set_ylabel(self.score_name)
            if self.lipschitz is not None:
                twin = panel.twinx()
                (lip,) = twin.plot(x, self.lipschitz, color="C1", linestyle="--", label="$L_t$")
                twin.set_ylabel("$L_t$")
                if log_lipschitz:
                    twin.set_yscale("log")
                twins.append(twin)
                self.lipschitz_lines_ = (self.lipschitz_lines_ or []) + [lip]
        if show_fit and self.fitted_score is not None:
            (self.fit_line_,) = axes[0].plot(
                self.n_iter, self.fitted_score, color="C0", linestyle=":", label="saturating fit"
            )
        handles = [line for line in [self.score_lines_[0], self.fit_line_] if line is not None]
        handles += self.lipschitz_lines_[:1] if self.lipschitz_lines_ else []
        axes[0].legend(handles=handles, loc="best")
        self.ax_ = axes
        self.lipschitz_ax_ = np.asarray(twins, dtype=object) if twins else None
        self.figure_ = axes[0].figure
        return self

    @classmethod
    def from_curve(cls, curve, *, ax=None, name=None, **kwargs):
        """Plot a precomputed :class:`~sklearn_implicit.BudgetCurve`.

        Parameters
        ----------
        curve : BudgetCurve
            From ``estimator.budget_curve``.
        ax : sequence of two matplotlib Axes, optional
            The panels.
        name : str, optional
            Legend label of the score.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : BudgetCurveDisplay
        """
        fitted = None if curve.fit_status == "failed" else curve.fitted()
        disp = cls(
            curve.n_iter,
            curve.score,
            curve.evaluations,
            lipschitz=curve.lipschitz,
            fitted_score=fitted,
            score_name=curve.score_name,
            estimator_name=name,
        )
        disp.curve_ = curve
        return disp.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        n_iter=None,
        *,
        tol=None,
        scoring=None,
        lipschitz=True,
        eps=1e-3,
        n_directions=1,
        random_state=None,
        ax=None,
        name=None,
        **kwargs,
    ):
        """Measure the curve with ``estimator.budget_curve`` (one trajectory) and plot it.

        Parameters
        ----------
        estimator : fitted implicit estimator
            Anything with a ``budget_curve`` method.
        X : array-like
            Inputs.
        y : array-like
            True targets.
        n_iter, tol, scoring, lipschitz, eps, n_directions, random_state
            Passed to ``budget_curve``: largest budget, per-sample early
            exit, scorer (None: the estimator's ``score``), whether to
            measure ``L_t``, its step size, directions per sample and seed.
        ax : sequence of two matplotlib Axes, optional
            The panels.
        name : str, optional
            Legend label; default the estimator's class name.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : BudgetCurveDisplay
        """
        check_is_fitted(estimator)
        curve = estimator.budget_curve(
            X,
            y,
            n_iter,
            tol=tol,
            scoring=scoring,
            lipschitz=lipschitz,
            eps=eps,
            n_directions=n_directions,
            random_state=random_state,
        )
        return cls.from_curve(curve, ax=ax, name=_name(estimator, name), **kwargs)
