"""Random linear programs solved with HiGHS (the paper's LP case)."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from scipy.optimize import linprog, minimize
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._cache import cache_path, load_cache, save_cache
from ._container import LinearPrograms

__all__ = ["make_linear_programs"]

#: Bump when the generated data change, so stale caches are not reused.
_VERSION = 1


def _draw(rng, m, n, nnz, p_equality):
    c = 0.01 * rng.uniform(-1.0, 1.0, n)
    b = rng.uniform(-1.0, 1.0, m)
    bounds = np.sort(rng.normal(0.0, 10.0, size=(n, 2)), axis=1)
    positions = rng.choice(m * n, size=nnz, replace=False)
    A = np.zeros((m, n))
    A.flat[positions] = rng.normal(0.0, 1.0, nnz)
    is_eq = rng.binomial(1, p_equality, size=m).astype(bool)
    return A, b, c, bounds[:, 0], bounds[:, 1], is_eq


def _linprog_kwargs(A, b, c, lower, upper, is_eq):
    ub = ~is_eq
    return {
        "c": c,
        "A_ub": A[ub] if ub.any() else None,
        "b_ub": b[ub] if ub.any() else None,
        "A_eq": A[is_eq] if is_eq.any() else None,
        "b_eq": b[is_eq] if is_eq.any() else None,
        "bounds": np.column_stack([lower, upper]),
    }


def _min_norm(kwargs, x0, fun):
    """Least-l2-norm point of the optimal face ``{feasible y : c^T y <= f*}`` (SLSQP)."""
    c = kwargs["c"]
    slack = 1e-9 * (1.0 + abs(fun))
    cons = [{"type": "ineq", "fun": lambda x: fun + slack - c @ x, "jac": lambda x: -c}]
    if kwargs["A_ub"] is not None:
        A_ub, b_ub = kwargs["A_ub"], kwargs["b_ub"]
        cons.append({"type": "ineq", "fun": lambda x: b_ub - A_ub @ x, "jac": lambda x: -A_ub})
    if kwargs["A_eq"] is not None:
        A_eq, b_eq = kwargs["A_eq"], kwargs["b_eq"]
        cons.append({"type": "eq", "fun": lambda x: A_eq @ x - b_eq, "jac": lambda x: A_eq})
    res = minimize(
        lambda x: 0.5 * x @ x,
        x0,
        jac=lambda x: x,
        bounds=kwargs["bounds"],
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    if not res.success or abs(c @ res.x - fun) > 1e-6 * (1.0 + abs(fun)):
        return x0, False
    return np.clip(res.x, kwargs["bounds"][:, 0], kwargs["bounds"][:, 1]), True


def _generate(n_samples, m, n, nnz, p_equality, target, rng):
    keep = []
    info = {"n_generated": 0, "n_infeasible": 0, "n_unbounded": 0, "n_failed": 0}
    info["n_min_norm_fallback"] = 0
    max_tries = 50 * n_samples + 100
    while len(keep) < n_samples:
        if info["n_generated"] >= max_tries:
            raise ValueError(
                f"Only {len(keep)} of {info['n_generated']} generated linear programs were "
                "feasible and bounded; change n_constraints, nnz or p_equality."
            )
        A, b, c, lower, upper, is_eq = _draw(rng, m, n, nnz, p_equality)
        info["n_generated"] += 1
        kwargs = _linprog_kwargs(A, b, c, lower, upper, is_eq)
        res = linprog(method="highs", **kwargs)
        if res.status == 2:
            info["n_infeasible"] += 1
            continue
        if res.status == 3:
            info["n_unbounded"] += 1
            continue
        if res.status != 0:
            info["n_failed"] += 1
            continue
        y = res.x
        if target == "min_norm":
            y, ok = _min_norm(kwargs, res.x, res.fun)
            info["n_min_norm_fallback"] += int(not ok)
        keep.append((A, b, c, lower, upper, is_eq, y))
    info["n_dropped"] = info["n_infeasible"] + info["n_unbounded"] + info["n_failed"]
    return keep, info


def _read(data):
    """``(X, y, info)`` from an open cache entry written by :func:`make_linear_programs`."""
    X = LinearPrograms._from_padded(
        data["A"],
        data["b"],
        data["eq"],
        data["c"],
        data["lower"],
        data["upper"],
        data["m"],
        data["n"],
    )
    info = {k[5:]: int(data[k]) for k in data.files if k.startswith("info_")}
    return X, data["y"], info


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_constraints": [Interval(Integral, 1, None, closed="left")],
        "n_variables": [Interval(Integral, 1, None, closed="left")],
        "nnz": [Interval(Integral, 0, None, closed="left")],
        "p_equality": [Interval(Real, 0, 1, closed="both")],
        "target": [StrOptions({"highs", "min_norm"})],
        "cache": ["boolean"],
        "data_home": [str, os.PathLike, None],
        "return_info": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_linear_programs(
    n_samples=100,
    *,
    n_constraints=10,
    n_variables=50,
    nnz=100,
    p_equality=0.3,
    target="highs",
    cache=True,
    data_home=None,
    return_info=False,
    random_state=None,
):
    """Random feasible linear programs and their optimal solutions.

    Each instance is ``min c^T y  s.t.  A y o b,  l <= y <= u`` with the
    paper's distributions: ``nnz`` entries of ``A`` at random positions,
    ``A_ij ~ N(0, 1)``; ``c ~ 0.01 U(-1, 1)``; ``b ~ U(-1, 1)``; each bound
    pair the sorted pair of two ``N(0, 10^2)`` draws; each constraint an
    equality with probability ``p_equality`` (else ``<=``). Instances are
    solved with :func:`scipy.optimize.linprog` (``method="highs"``);
    infeasible, unbounded or failed instances are dropped and counted, and
    generation goes on until ``n_samples`` instances are kept.

    Parameters
    ----------
    n_samples : int, default=100
        Number of (feasible, bounded) instances returned.
    n_constraints, n_variables : int, default=10, 50
        ``m`` and ``n``.
    nnz : int, default=100
        Nonzeros of ``A`` (at most ``m * n``).
    p_equality : float, default=0.3
        Probability that a constraint is an equality.
    target : {"highs", "min_norm"}, default="highs"
        ``"highs"``: the solution HiGHS returns (what the paper's code uses).
        ``"min_norm"``: the least-l2-norm point of the optimal face (a second
        solve with SLSQP restricted to ``c^T y <= f*``), a well-defined target
        when the optimum is not unique; the HiGHS solution is kept where that
        solve fails (counted in ``info["n_min_norm_fallback"]``).
    cache : bool, default=True
        Store and reuse the generated set under
        :func:`~sklearn_implicit.datasets.get_data_home` (only when
        ``random_state`` is an int; other seeds are not reproducible).
    data_home : str or path-like, optional
        Cache folder (default: :func:`~sklearn_implicit.datasets.get_data_home`).
    return_info : bool, default=False
        Also return a dict of counts: ``n_generated``, ``n_infeasible``,
        ``n_unbounded``, ``n_failed``, ``n_dropped``, ``n_min_norm_fallback``.
    random_state : int, RandomState instance or None, default=None
        Seed; the same int gives the same set.

    Returns
    -------
    X : LinearPrograms
        The instances (see :class:`sklearn_implicit.lp.LinearPrograms`).
    y : ndarray of shape (n_samples, n_variables)
        Optimal solutions.
    info : dict
        Only when ``return_info`` is True.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_linear_programs
    >>> X, y = make_linear_programs(5, n_constraints=4, n_variables=6, nnz=10,
    ...                             cache=False, random_state=0)
    >>> len(X), y.shape
    (5, (5, 6))
    """
    if nnz > n_constraints * n_variables:
        raise ValueError(
            f"nnz={nnz} exceeds the {n_constraints * n_variables} entries of a "
            f"{n_constraints} x {n_variables} matrix."
        )

    params = {
        "n_samples": int(n_samples),
        "m": int(n_constraints),
        "n": int(n_variables),
        "nnz": int(nnz),
        "p_equality": float(p_equality),
        "target": target,
        "seed": random_state,
        "version": _VERSION,
    }
    use_cache = cache and isinstance(random_state, Integral)
    path = cache_path("linear_programs", params, data_home) if use_cache else None
    cached = load_cache(path, _read) if path is not None else None
    if cached is not None:
        X, y, info = cached
    else:
        rng = check_random_state(random_state)
        keep, info = _generate(
            int(n_samples), int(n_constraints), int(n_variables), int(nnz), p_equality, target, rng
        )
        A, b, c, lower, upper, is_eq, y = (np.stack(col) for col in zip(*keep, strict=True))
        X = LinearPrograms(A, b, c, lower, upper, is_eq)
        if path is not None:
            save_cache(
                path,
                A=X._A,
                b=X._b,
                eq=X._eq,
                c=X._c,
                lower=X._l,
                upper=X._u,
                m=X.n_constraints,
                n=X.n_variables,
                y=y,
                **{f"info_{k}": v for k, v in info.items()},
            )
    if return_info:
        return X, y, info
    return X, y
