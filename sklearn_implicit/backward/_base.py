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

    def __call__(self, f, z0, *, solver, max_iter, tol):
        """Solve without a graph, then :meth:`attach` the gradient at the solution."""
        z_star, _ = self._solve_no_grad(f, z0, solver, max_iter, tol)
        if not torch.is_grad_enabled():
            return z_star
        return self.attach(f, z_star, solver=solver, max_iter=max_iter, tol=tol)

    def attach(self, f, z, *, solver, max_iter, tol):  # pragma: no cover - abstract
        """A state equal to (or one step from) ``z`` carrying this mode's gradient."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither __call__'s attach step nor trajectory."
        )

    def trajectory(self, f, z0, *, solver, max_iter, tol, depths):
        """Gradient-carrying states ``z_d`` at the given depths of one training solve.

        Used by the trajectory loss (``train_states > 1``). The default solves
        once without a graph, keeping the states just before each depth; the
        last depth (``max_iter``) gets this mode's gradient (:meth:`attach`)
        and every earlier one a single differentiable step, ``z_d = G(z_{d-1})``
        (the fixed-point correction of Bai et al. 2022). A sample that stopped
        early (``tol``) is supervised at its final state.

        Parameters
        ----------
        f, z0, solver, max_iter, tol
            As in :meth:`__call__`.
        depths : tuple of int
            Increasing depths in ``1..max_iter``, the last one ``max_iter``.

        Returns
        -------
        list of torch.Tensor
            One state per depth.
        """
        before = {d - 1 for d in depths[:-1]}
        kept = {0: z0.detach()} if 0 in before else {}

        def keep(k, z):
            if k in before:
                kept[k] = z.detach().clone()

        with torch.no_grad():
            z_star, _ = solver(f, z0, max_iter=max_iter, tol=tol, callback=keep)
        z_star = z_star.detach()
        states = [f(kept.get(d - 1, z_star)) for d in depths[:-1]]
        states.append(self.attach(f, z_star, solver=solver, max_iter=max_iter, tol=tol))
        return states

    @staticmethod
    def _solve_no_grad(f, z0, solver, max_iter, tol):
        with torch.no_grad():
            z, info = solver(f, z0, max_iter=max_iter, tol=tol)
        return z.detach(), info

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({opts})"
