"""Phantom gradients (a few damped differentiable steps at the fixed point)."""

from __future__ import annotations

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
        self._check()
        return super().__call__(f, z0, solver=solver, max_iter=max_iter, tol=tol)

    def _check(self):
        if int(self.k) < 1:
            raise ValueError(f"Phantom gradient needs k >= 1 steps, got {self.k!r}.")
        if not 0 < self.tau <= 1:
            raise ValueError(f"Phantom gradient damping tau must be in (0, 1], got {self.tau!r}.")

    def attach(self, f, z, *, solver, max_iter, tol):
        """``k`` differentiable damped steps from ``z``."""
        self._check()
        for _ in range(int(self.k)):
            z = (1 - self.tau) * z + self.tau * f(z)
        return z
