"""Implicit differentiation (the adjoint fixed-point equation)."""

from __future__ import annotations

import torch

from ..solvers import get_solver
from ._base import BackwardMode

__all__ = ["ImplicitDifferentiation"]


class ImplicitDifferentiation(BackwardMode):
    """Exact gradient at the fixed point by the implicit function theorem.

    The forward solve runs without an autograd graph. One differentiable
    application ``z = G(z*)`` is recorded; a hook replaces the incoming
    gradient ``g`` by the solution ``w`` of the adjoint fixed-point equation
    ``w = J^T w + g``, ``J = dG/dz`` at ``z*``, so that the parameters receive
    ``(dG/dtheta)^T (I - J)^{-T} g``. Memory does not grow with the number
    of forward steps.

    Parameters
    ----------
    solver : str or callable, optional
        Solver for the adjoint equation; defaults to the forward solver.
    max_iter : int, optional
        Budget of the adjoint solve; defaults to the forward budget.
    tol : float, optional
        Tolerance of the adjoint solve; defaults to the forward tolerance.
    """

    name = "implicit"

    def __init__(self, solver=None, max_iter=None, tol=None):
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    def attach(self, f, z_star, *, solver, max_iter, tol):
        """``G(z*)`` with a hook that solves the adjoint equation at ``z*``."""
        z_out = f(z_star)
        if not z_out.requires_grad:
            return z_out
        bsolver = solver if self.solver is None else get_solver(self.solver)
        b_iter = max_iter if self.max_iter is None else self.max_iter
        b_tol = tol if self.tol is None else self.tol

        def hook(grad):
            if grad is None:  # an undefined incoming gradient stays undefined
                return None
            # A separate one-step graph in z only, so vector-Jacobian products do
            # not re-enter this hook.
            with torch.enable_grad():
                z_in = z_star.detach().requires_grad_()
                f_in = f(z_in)
            # Under mixed precision (autocast) the incoming gradient is bf16/fp16
            # while G may recompute in float32 here: solve the adjoint in at
            # least float32, and hand back a gradient of the incoming one's dtype
            # and device (autograd refuses a hook that changes them).
            work = torch.promote_types(torch.promote_types(grad.dtype, z_in.dtype), torch.float32)
            g = grad.to(device=z_in.device, dtype=work)

            def adjoint(w):
                (jtw,) = torch.autograd.grad(f_in, z_in, w.to(f_in.dtype), retain_graph=True)
                return jtw.to(work) + g

            with torch.no_grad():
                w, _ = bsolver(adjoint, g, max_iter=b_iter, tol=b_tol)
            return w.to(device=grad.device, dtype=grad.dtype)

        z_out.register_hook(hook)
        return z_out
