"""Base class of the backward modes."""

from __future__ import annotations

import torch

__all__ = ["BackwardMode"]


class BackwardMode:
    """How gradients reach the operator's parameters through a fixed-point solve.

    A backward mode is called in the forward pass of training::

        z = mode(f, z0, solver=solver, max_iter=n_iter, tol=tol)

    and returns a state ``z`` (close to the fixed point of ``f``) whose autograd
    graph gives the chosen gradient. ``f`` closes over the injected input, so
    gradients reach both the operator's and the encoder's parameters.
    Subclasses implement :meth:`__call__`; their constructor arguments are
    plain options (so ``backward__<option>`` estimator parameters reach them).
    """

    name = "base"
    #: Whether activation memory stays constant in the number of forward steps.
    constant_memory = True

    def __call__(self, f, z0, *, solver, max_iter, tol):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _solve_no_grad(f, z0, solver, max_iter, tol):
        with torch.no_grad():
            z, info = solver(f, z0, max_iter=max_iter, tol=tol)
        return z.detach(), info

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({opts})"
