"""Jacobian-free backpropagation (one differentiable step at the fixed point)."""

from __future__ import annotations

from ._base import BackwardMode

__all__ = ["JacobianFree"]


class JacobianFree(BackwardMode):
    """Backpropagate through a single application of G at the fixed point.

    Equivalent to replacing ``(I - J)^{-1}`` by the identity in the implicit
    gradient (Fung et al., 2022): cheap, constant memory, and a descent
    direction when G is a contraction.
    """

    name = "jacobian_free"

    def attach(self, f, z_star, *, solver, max_iter, tol):
        """One differentiable application ``G(z*)``."""
        return f(z_star)
