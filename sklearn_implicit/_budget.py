"""The test-time compute report: what each budget ``t`` buys, from one trajectory.

:meth:`BaseImplicitEstimator.budget_curve` solves once for ``t = 1..T``
(:func:`~sklearn_implicit._trajectory.stacked_trajectory`, the loop behind
``lipschitz_curve``), keeps the read-out of every step, and scores each one
as the estimator would score ``predict(X, n_iter=t)``: on a *stage view*, a
shallow copy of the estimator whose ``_predict_raw`` (the one hop every
prediction method goes through) answers with the stored read-out. So the
estimator's own ``score`` and any scikit-learn scorer (``predict``,
``predict_proba`` or ``decision_function`` based) apply unchanged, for every
estimator, with no hook to implement.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from scipy.optimize import OptimizeWarning, curve_fit
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import check_scoring
from sklearn.utils._param_validation import Interval, validate_params

from ._trajectory import perturbed_copies, stacked_trajectory
from .lipschitz import reduce_ratios

__all__ = ["BudgetCurve", "budget_curve"]

#: Relative spread below which a score curve counts as flat (nothing to fit).
_FLAT = 1e-9


def _saturating(t, a, b, tau):
    """``a - b exp(-(t - 1) / tau)``: ``a`` the asymptote, ``a - b`` the value at ``t = 1``."""
    return a - b * np.exp(-(np.asarray(t, dtype=np.float64) - 1.0) / tau)


def _fit_saturation(t, score):
    """Fit ``score(t) ~ a - b exp(-(t - 1) / tau)``; return ``(a, b, tau, status)``.

    Least squares (:func:`scipy.optimize.curve_fit`, trust-region with
    bounds) on the finite scores, standardised. The start is ``a`` = the last
    score, ``b`` = its gain over the first, ``tau`` = the steps taken to cover
    63% of that gain; ``tau`` is bounded to ``[1e-3, 100 T]`` and ``a``, ``b``
    are free (``b < 0`` fits a falling curve).

    ``status`` is ``"ok"``; ``"flat"`` when two or more finite scores do
    not change (``a`` their value, ``b = tau = 0``); ``"failed"`` when fewer
    than three finite scores change, or the least squares do not converge
    (NaN parameters).
    """
    t = np.asarray(t, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    finite = np.isfinite(score)
    t, s = t[finite], score[finite]
    nan = float("nan")
    if s.size < 2:
        return nan, nan, nan, "failed"
    spread = float(np.ptp(s))
    if spread <= _FLAT * max(1.0, float(np.max(np.abs(s)))):
        return float(np.mean(s)), 0.0, 0.0, "flat"
    if s.size < 3:
        return nan, nan, nan, "failed"
    center = float(np.mean(s))
    z = (s - center) / spread
    gain = z[-1] - z[0]
    covered = np.nonzero((z - (z[0] + 0.632 * gain)) * np.sign(gain) >= 0)[0]
    tau0 = t[covered[0]] - t[0] if covered.size else (t[-1] - t[0]) / 2
    tau_max = 100.0 * float(t[-1])
    p0 = [z[-1], gain, float(np.clip(tau0, 0.5, tau_max / 2))]
    with warnings.catch_warnings():
        # The covariance is not used; a degenerate one is no failure of the fit.
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            (a, b, tau), _ = curve_fit(
                _saturating,
                t,
                z,
                p0=p0,
                bounds=([-np.inf, -np.inf, 1e-3], [np.inf, np.inf, tau_max]),
                maxfev=10_000,
            )
        except RuntimeError:  # the least squares did not converge
            return nan, nan, nan, "failed"
    if not np.isfinite([a, b, tau]).all():
        return nan, nan, nan, "failed"
    return float(center + spread * a), float(spread * b), float(tau), "ok"


@dataclass
class BudgetCurve:
    """What each test-time budget ``t`` buys: result of ``budget_curve``.

    Every array runs over ``t = 1..T`` and comes from one trajectory. The
    score curve is fitted, at construction, by a saturating exponential::

        score(t) ~ asymptote - amplitude * exp(-(t - 1) / rate)

    so ``asymptote`` is the score that more compute approaches and ``rate``
    the number of steps over which the remaining gain shrinks by ``e``.
    Scores are "greater is better" (scikit-learn's convention, and that of
    every estimator's ``score``: R^2, accuracy, PSNR).

    Attributes
    ----------
    n_iter : ndarray of shape (T,)
        Budgets ``1..T``.
    score : ndarray of shape (T,)
        Score of the answer at budget ``t`` (``predict(X, n_iter=t)``, or
        ``predict(X, n_iter=t, tol=tol)`` with an early exit).
    residual : ndarray of shape (T,)
        Mean over samples of the relative residual the solver computes at
        step ``t``, ``||G(p) - p|| / (||G(p)|| + 1e-6)`` at the point ``p``
        it applies G to (for Picard ``p = z_{t-1}``, so this is
        ``||z_t - z_{t-1}|| / (||z_t|| + 1e-6)``); the solver's
        ``info.residual_trace``. A sample that stopped keeps its last value.
        Zero for an explicit model.
    lipschitz : ndarray of shape (T,) or None
        ``L_t``, the largest ratio ``dist(y_t(x'), y_t(x)) / ||x' - x||``
        (as ``lipschitz_curve(..., reduce="max")``); None when not measured.
    evaluations : ndarray of shape (T,)
        Cumulative G applications per sample, averaged over samples: ``t``
        without early exit; with ``tol``, a sample stops counting at the
        step its residual reached ``tol`` (or at the step that diverged).
        The layers of one pass, at every ``t``, for an explicit model.
    seconds : ndarray of shape (T,)
        Cumulative wall time of the solve up to step ``t`` (encoding and
        the first step in ``t = 1``; the bookkeeping of the report and the
        scoring excluded). With ``lipschitz=True`` it includes the perturbed
        copies solved beside ``X``.
    fraction_converged : ndarray of shape (T,)
        Fraction of samples whose relative residual at step ``t`` is at most
        ``tol`` (the estimator's ``tol`` when none was given; exactly zero
        when that is 0).
    score_name : str
        What ``score`` is (axis label).
    tol : float or None
        The early-exit tolerance given.
    asymptote : float
        Fitted ``a``: the score as ``t -> inf``. The mean score for a flat
        curve; NaN if the fit failed.
    amplitude : float
        Fitted ``b = asymptote - fitted score(1)``: positive for a rising
        curve, negative for a falling one, 0 for a flat one.
    rate : float
        Fitted ``tau``, in steps (0 for a flat curve). A ``rate`` beyond
        ``T`` means the curve had not saturated: ``asymptote`` is an
        extrapolation.
    fit_status : {"ok", "flat", "failed"}
        ``"flat"`` when the finite scores (two or more) are all equal;
        ``"failed"`` when fewer than three finite scores change, or the least
        squares did not converge (the fitted values are NaN then).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit import BudgetCurve
    >>> t = np.arange(1, 31)
    >>> score = 0.9 - 0.5 * np.exp(-(t - 1) / 4.0)
    >>> zeros = np.zeros(30)
    >>> curve = BudgetCurve(t, score, zeros, None, t * 1.0, zeros, zeros)
    >>> round(curve.asymptote, 6), round(curve.rate, 6)
    (0.9, 4.0)
    >>> curve.budget_at(0.95)  # 1 + 4 ln(20) = 12.98...
    13
    """

    n_iter: np.ndarray
    score: np.ndarray
    residual: np.ndarray
    lipschitz: np.ndarray | None
    evaluations: np.ndarray
    seconds: np.ndarray
    fraction_converged: np.ndarray
    score_name: str = "score"
    tol: float | None = None
    asymptote: float = field(init=False)
    amplitude: float = field(init=False)
    rate: float = field(init=False)
    fit_status: str = field(init=False)

    def __post_init__(self):
        self.n_iter = np.asarray(self.n_iter)
        self.score = np.asarray(self.score, dtype=np.float64)
        a, b, tau, status = _fit_saturation(self.n_iter, self.score)
        self.asymptote, self.amplitude, self.rate, self.fit_status = a, b, tau, status

    def __len__(self):
        return len(self.n_iter)

    def fitted(self, t=None):
        """The fitted score at budgets ``t`` (default ``n_iter``); NaN if the fit failed."""
        t = self.n_iter if t is None else np.asarray(t, dtype=np.float64)
        if self.fit_status == "flat":
            return np.full(np.shape(t), self.asymptote)
        return _saturating(t, self.asymptote, self.amplitude, self.rate)

    def budget_at(self, fraction=0.95):
        """Smallest budget that reaches ``fraction`` of the fitted gain.

        The smallest integer ``t >= 1`` with ``fitted(t) >= asymptote -
        (1 - fraction) * (asymptote - fitted(1))``: for a rising fit,
        ``ceil(1 + rate * ln(1 / (1 - fraction)))``. It is *not* clipped to
        the measured budgets: a value beyond ``n_iter[-1]`` is the fit's
        extrapolation (the curve had not saturated by ``T``). 1 for a flat
        or falling curve (more compute does not help).

        Parameters
        ----------
        fraction : float, default=0.95
            Fraction of the gain ``asymptote - fitted(1)``, in ``(0, 1)``.

        Returns
        -------
        t : int or None
            None when the fit failed (``fit_status == "failed"``).
        """
        if not (isinstance(fraction, Real) and 0 < fraction < 1):
            raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}.")
        if self.fit_status == "failed":
            return None
        if self.fit_status == "flat" or self.amplitude <= 0:
            return 1
        t = 1.0 + self.rate * math.log(1.0 / (1.0 - float(fraction)))
        # The tolerance keeps an exact integer from rounding up.
        return max(1, math.ceil(t - 1e-9))

    def __repr__(self):
        last = self.score[-1] if len(self.score) else float("nan")
        return (
            f"BudgetCurve(T={len(self)}, {self.score_name}[T]={last:.4g}, "
            f"asymptote={self.asymptote:.4g}, rate={self.rate:.3g}, "
            f"fit_status={self.fit_status!r})"
        )


def _score_name(estimator, scoring=None):
    """Label of a score: the scorer's name, the estimator's ``score_name``, or its mixin's metric."""
    if isinstance(scoring, str):
        return scoring
    if scoring is not None:
        return getattr(scoring, "__name__", "score")
    name = getattr(estimator, "score_name", None)
    if isinstance(name, str):
        return name
    score = getattr(type(estimator), "score", None)
    if score is RegressorMixin.score:
        return "$R^2$"
    if score is ClassifierMixin.score:
        return "accuracy"
    return "score"


class _Stages:
    """Serves the stored read-outs of one trajectory to a stage view of the estimator.

    ``view`` is a shallow copy of the fitted estimator (sharing its fitted
    attributes) whose ``_predict_raw`` answers with the read-out of the
    current stage, so ``view.predict``, ``predict_proba``,
    ``decision_function`` and ``score`` answer as the estimator would at
    that budget. The live estimator is never changed.
    """

    def __init__(self, estimator, info):
        self.estimator = estimator
        self.info = info
        self.raw = None
        self.view = copy.copy(estimator)
        self.view._predict_raw = self._predict_raw

    def _predict_raw(self, X, n_iter=None, tol=None, *, track=False):
        Xv = self.estimator._validate_X(X)
        if self.estimator._n_rows(Xv) != self.raw.shape[0]:
            raise ValueError(
                f"The curve's trajectory holds {self.raw.shape[0]} samples; the scorer asked "
                f"for {self.estimator._n_rows(Xv)}."
            )
        return self.raw, self.info, Xv


class _Clock:
    """Wall time of each step of a solve, excluding the time the callbacks take."""

    def __init__(self, n_steps):
        self.seconds = np.zeros(n_steps)
        self._mark = time.perf_counter()

    def tick(self, k, y):
        if isinstance(y, torch.Tensor) and y.is_cuda:
            torch.cuda.synchronize(y.device)
        self.seconds[k - 1] += time.perf_counter() - self._mark

    def resume(self):
        self._mark = time.perf_counter()


def _pad_trace(trace, final, n_steps):
    """The residual trace over every step: a solve that stopped early keeps its last row."""
    if trace.shape[0] >= n_steps:
        return trace[:n_steps]
    last = trace[-1:] if trace.shape[0] else np.asarray(final, dtype=np.float64)[None]
    return np.concatenate([trace, np.repeat(last, n_steps - trace.shape[0], axis=0)])


@validate_params(
    {
        "estimator": "no_validation",
        "X": "no_validation",
        "y": "no_validation",
        "n_iter": [None, Interval(Integral, 1, None, closed="left")],
        "tol": [None, Interval(Real, 0, np.inf, closed="left")],
        "scoring": [None, str, callable],
        "lipschitz": ["boolean"],
        "eps": [Interval(Real, 0, np.inf, closed="neither")],
        "n_directions": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def budget_curve(
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
):
    """The test-time compute report of a fitted implicit estimator.

    The implementation of :meth:`BaseImplicitEstimator.budget_curve`, which
    documents the parameters.
    """
    max_iter, tol_ = estimator._budget(n_iter, 0.0 if tol is None else tol)
    scorer = check_scoring(estimator, scoring)
    Xv = estimator._validate_X(X)
    n = estimator._n_rows(Xv)
    perturbed = None
    if lipschitz:
        perturbed = perturbed_copies(estimator, Xv, eps, n_directions, None, random_state)
    stages = [[] for _ in range(max_iter)]
    clock = _Clock(max_iter)

    def keep(start, stop, k, y_k):
        clock.tick(k, y_k)
        stages[k - 1].append(y_k.detach().cpu())
        clock.resume()

    clock.resume()
    ratios, info, info_all = stacked_trajectory(
        estimator, Xv, perturbed, max_iter=max_iter, tol=tol_, track=True, callback=keep
    )
    estimator._warn_info(info_all, explicit_budget=True)

    # Work: per-sample stopping step (T without early exit).
    iterated = getattr(estimator.module_, "operator", None) is not None
    t = np.arange(1, max_iter + 1)
    if not iterated:
        evaluations = np.full(max_iter, float(np.mean(info.n_steps)) if n else 0.0)
    else:
        stop = np.full(n, max_iter)
        if tol_ > 0:
            stop = np.where(info.converged, info.n_steps, stop)
            stop = np.where(info.diverged, np.minimum(info.n_steps + 1, max_iter), stop)
        evaluations = np.minimum(t[:, None], stop[None, :]).mean(axis=1)
    trace = _pad_trace(info.residual_trace, info.residual, max_iter)
    threshold = tol_ if tol is not None else float(estimator.tol)
    with np.errstate(invalid="ignore"):
        reached = trace <= threshold if threshold > 0 else trace == 0
    # Scores: each stage through the estimator's own prediction path.
    served = _Stages(estimator, info)
    scores = np.empty(max_iter)
    for k, parts in enumerate(stages):
        served.raw = torch.cat(parts)
        scores[k] = scorer(served.view, X, y)
    return BudgetCurve(
        n_iter=t,
        score=scores,
        residual=trace.mean(axis=1),
        lipschitz=None if ratios is None else reduce_ratios(ratios, "max"),
        evaluations=np.asarray(evaluations, dtype=np.float64),
        seconds=np.cumsum(clock.seconds),
        fraction_converged=reached.mean(axis=1),
        score_name=_score_name(estimator, scoring),
        tol=None if tol is None else float(tol),
    )
