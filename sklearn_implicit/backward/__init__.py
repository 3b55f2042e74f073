"""Backward modes: how training differentiates through the fixed-point solve.

====================  ===========================================  ================
name                  gradient                                     memory in n_iter
====================  ===========================================  ================
``"implicit"``        exact at z* (adjoint fixed point)            constant
``"jacobian_free"``   one step at z* (JFB)                         constant
``"phantom"``         ``k`` damped steps at z*                     constant
``"unroll"``          through all steps                            linear
``"random_depth"``    last ``k`` of a random number of steps       constant (``k``)
====================  ===========================================  ================

A mode is called in training as ``mode(f, z0, *, solver, max_iter, tol)`` and
returns the state carrying its gradient. For the trajectory loss
(``train_states > 1``) the estimator calls ``mode.trajectory(f, z0, *, solver,
max_iter, tol, depths)`` instead, which returns one gradient-carrying state per
depth: the modes that solve without a graph (implicit, Jacobian-free, phantom)
share one implementation in :class:`BackwardMode`, built on their
``attach(f, z, ...)`` step; ``Unroll`` returns its recorded states and
``RandomDepth`` rescales the depths to its draw.
"""

from __future__ import annotations

import inspect

from ..utils import check_options
from ._base import BackwardMode
from ._implicit import ImplicitDifferentiation
from ._jacobian_free import JacobianFree
from ._phantom import PhantomGradient
from ._random_depth import RandomDepth, sample_depth
from ._unroll import Unroll

__all__ = [
    "BACKWARD_MODES",
    "BackwardMode",
    "ImplicitDifferentiation",
    "JacobianFree",
    "PhantomGradient",
    "RandomDepth",
    "Unroll",
    "get_backward",
    "sample_depth",
]

BACKWARD_MODES = {
    "implicit": ImplicitDifferentiation,
    "jacobian_free": JacobianFree,
    "phantom": PhantomGradient,
    "unroll": Unroll,
    "random_depth": RandomDepth,
}


def get_backward(backward, **options):
    """Build a backward mode from a name, a class, or return an instance.

    Parameters
    ----------
    backward : str, BackwardMode subclass or instance, or callable
        The mode. Names: ``"implicit"``, ``"jacobian_free"``, ``"phantom"``,
        ``"unroll"``, ``"random_depth"``.
    **options
        Constructor options (e.g. ``k=3, tau=0.8`` for ``"phantom"``).

    Returns
    -------
    BackwardMode or callable
    """
    if isinstance(backward, str):
        if backward not in BACKWARD_MODES:
            raise ValueError(
                f"Unknown backward mode {backward!r}; expected one of {sorted(BACKWARD_MODES)}."
            )
        backward = BACKWARD_MODES[backward]
    if inspect.isclass(backward):
        check_options(backward, options, f"backward mode {backward.__name__}")
        return backward(**options)
    if options:
        raise ValueError(
            f"backward__ options {sorted(options)} can only be used when backward is a name or class."
        )
    if callable(backward):
        return backward
    raise ValueError(
        f"backward must be a name in {sorted(BACKWARD_MODES)}, a BackwardMode, or a callable; "
        f"got {type(backward).__name__}."
    )
