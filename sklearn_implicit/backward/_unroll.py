"""Backpropagation through every forward step."""

from __future__ import annotations

from ._base import BackwardMode

__all__ = ["Unroll"]


class Unroll(BackwardMode):
    """Record the whole forward solve and backpropagate through it.

    The reference gradient of the truncated iteration (it is what the paper's
    LP experiments train with); memory grows linearly with the number of steps.
    """

    name = "unroll"
    constant_memory = False

    def __call__(self, f, z0, *, solver, max_iter, tol):
        z, _ = solver(f, z0, max_iter=max_iter, tol=tol)
        return z

    def trajectory(self, f, z0, *, solver, max_iter, tol, depths):
        """The recorded states at ``depths`` of one differentiable solve."""
        wanted = set(depths)
        kept = {}

        def keep(k, z):
            if k in wanted:
                kept[k] = z

        z, _ = solver(f, z0, max_iter=max_iter, tol=tol, callback=keep)
        return [kept.get(d, z) for d in depths]
