"""Jacobian-free backpropagation (one differentiable step at the fixed point)."""

from __future__ import annotations

import torch

from ._base import BackwardMode

__all__ = ["JacobianFree"]


class JacobianFree(BackwardMode):
    """Backpropagate through a single application of G at the fixed point.

    Equivalent to replacing ``(I - J)^{-1}`` by the identity in the implicit
    gradient (Fung et al., 2022): cheap, constant memory, and a descent
    direction when G is a contraction.
    """

    name = "jacobian_free"

    def __call__(self, f, z0, *, solver, max_iter, tol):
        z_star, _ = self._solve_no_grad(f, z0, solver, max_iter, tol)
        if not torch.is_grad_enabled():
            return z_star
        return f(z_star)
