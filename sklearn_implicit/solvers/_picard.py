"""Picard (fixed-point) iteration with optional damping."""

from __future__ import annotations

from ._driver import StepRule, iterate

__all__ = ["picard"]


class _PicardRule(StepRule):
    """``z_k = (1 - damping) z_{k-1} + damping f(z_{k-1})``."""

    name = "picard"

    def __init__(self, damping):
        self.damping = damping

    def evaluate(self, f, z):
        return z, f(z)

    def candidate(self, z, point, fz):
        if self.damping == 1.0:
            return fz
        return point + self.damping * (fz - point)

    def advance(self, state, point, fz, z, active):
        return z


def picard(f, z0, *, max_iter, tol, damping=1.0, track=False, callback=None):
    """Iterate ``z_k = (1 - damping) z_{k-1} + damping f(z_{k-1})`` from ``z0``.

    Parameters
    ----------
    f : callable
        The operator ``z -> G(z)``; maps a tensor of shape (n_samples, ...)
        to one of the same shape. Samples must not interact.
    z0 : torch.Tensor
        Initial state.
    max_iter : int
        Maximum number of applications of ``f``.
    tol : float
        Per-sample relative residual ``||f(z) - z|| / (||f(z)|| + 1e-6)`` at
        which a sample is accepted and frozen. ``tol=0`` runs exactly
        ``max_iter`` steps.
    damping : float, default=1.0
        Relaxation weight in (0, 1]; 1 is the plain iteration.
    track : bool, default=False
        Record the residual of every step in ``info.residual_trace``.
    callback : callable, optional
        Called as ``callback(k, z_k)`` after every step ``k = 1, 2, ...``
        with the batch's current iterate.

    Returns
    -------
    z : torch.Tensor
        The final iterate.
    info : SolverInfo
        Per-sample diagnostics.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.solvers import picard
    >>> z, info = picard(lambda z: 0.5 * z + 1.0, torch.zeros(3, 1), max_iter=100, tol=1e-8)
    >>> z.squeeze(1)
    tensor([2., 2., 2.])
    >>> info.status
    'converged'
    """
    if not 0 < damping <= 1:
        raise ValueError(f"damping must be in (0, 1], got {damping!r}.")
    return iterate(
        _PicardRule(float(damping)),
        f,
        z0,
        max_iter=max_iter,
        tol=tol,
        track=track,
        callback=callback,
    )
