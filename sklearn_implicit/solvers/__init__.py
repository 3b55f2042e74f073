"""Fixed-point solvers.

Every solver has one signature::

    solve(f, z0, *, max_iter, tol, track=False, callback=None, **options) -> (z, SolverInfo)

``f`` maps a batch of states to a batch of states; samples must not interact,
so a sample's answer never depends on the rest of its batch. A solver stops a
sample once its relative residual ``||f(z) - z|| / (||f(z)|| + 1e-6)`` is at
most ``tol`` (``tol=0``: exactly ``max_iter`` applications of ``f``). Failures
are data: diverging samples keep their last finite iterate and are flagged in
the returned :class:`SolverInfo`.

Every solver is a small step rule (:class:`StepRule`) run by one driver,
:func:`iterate`, which owns per-sample freezing, divergence handling and
callbacks; a new solver only says where to evaluate the operator next.
"""

from __future__ import annotations

from ._anderson import anderson
from ._driver import StepRule, iterate
from ._info import SolverInfo, residual_norm
from ._picard import picard

__all__ = [
    "SolverInfo",
    "StepRule",
    "anderson",
    "iterate",
    "get_solver",
    "picard",
    "register_solver",
    "residual_norm",
    "SOLVERS",
]

SOLVERS = {"picard": picard, "anderson": anderson}


def register_solver(name, solver):
    """Register ``solver`` under ``name`` so estimators accept ``solver=name``.

    Parameters
    ----------
    name : str
        Registry key.
    solver : callable
        A function with the common solver signature.
    """
    if not callable(solver):
        raise TypeError(f"A solver must be callable, got {type(solver).__name__}.")
    SOLVERS[name] = solver


def get_solver(solver):
    """Return the solver function for a registry name or a callable.

    Parameters
    ----------
    solver : str or callable
        ``"picard"``, ``"anderson"``, a registered name, or a function with
        the common solver signature.

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        If ``solver`` is an unknown name.
    """
    if callable(solver):
        return solver
    if isinstance(solver, str) and solver in SOLVERS:
        return SOLVERS[solver]
    raise ValueError(
        f"Unknown solver {solver!r}; expected one of {sorted(SOLVERS)} or a callable "
        "solve(f, z0, *, max_iter, tol, ...) -> (z, SolverInfo)."
    )
