"""Phantom gradients (a few damped differentiable steps at the fixed point)."""

from __future__ import annotations

import torch

from ._base import BackwardMode

__all__ = ["PhantomGradient"]


class PhantomGradient(BackwardMode):
    """Backpropagate through ``k`` damped steps ``z <- (1 - tau) z + tau G(z)``.

    Geng et al. (2021): an inexact gradient whose memory grows with ``k``, not
    with the forward budget. ``k=1, tau=1`` is :class:`JacobianFree`.

    Parameters
    ----------
    k : int, default=5
        Differentiable steps.
    tau : float, default=0.5
        Damping in (0, 1].
    """

    name = "phantom"

    def __init__(self, k=5, tau=0.5):
        self.k = k
        self.tau = tau

    def __call__(self, f, z0, *, solver, max_iter, tol):
        if int(self.k) < 1:
            raise ValueError(f"Phantom gradient needs k >= 1 steps, got {self.k!r}.")
        if not 0 < self.tau <= 1:
            raise ValueError(f"Phantom gradient damping tau must be in (0, 1], got {self.tau!r}.")
        z, _ = self._solve_no_grad(f, z0, solver, max_iter, tol)
        if not torch.is_grad_enabled():
            return z
        for _ in range(int(self.k)):
            z = (1 - self.tau) * z + self.tau * f(z)
        return z
