"""Per-sample bookkeeping shared by the solvers: freezing, divergence, traces.

Every solver works on a batch whose samples are independent fixed-point
problems. A sample is *frozen* once it converges (so that the answer for a
sample never depends on which other samples share its batch) or once an
iterate becomes non-finite (it then keeps its last finite iterate and is
flagged as diverged, instead of returning NaN).
"""

from __future__ import annotations

import numpy as np
import torch

from ._info import SolverInfo, residual_norm

__all__ = ["Tracker"]


def _row_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.reshape((-1,) + (1,) * (like.dim() - 1))


class Tracker:
    """Accepts candidate iterates sample by sample.

    Parameters
    ----------
    z0 : torch.Tensor
        Initial state, shape (n_samples, ...).
    max_iter : int
        Budget of operator applications.
    tol : float
        Relative residual at which a sample is accepted; ``0`` disables early
        stopping.
    track : bool
        Record the residual of every step.
    solver : str
        Name reported in the :class:`SolverInfo`.
    """

    def __init__(self, z0, *, max_iter, tol, track, solver):
        n = z0.shape[0]
        device = z0.device
        self.z = z0
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.track = bool(track)
        self.solver = solver
        self.active = torch.ones(n, dtype=torch.bool, device=device)
        self.n_steps = torch.zeros(n, dtype=torch.long, device=device)
        self.residual = torch.full((n,), float("inf"), device=device)
        self.converged = torch.zeros(n, dtype=torch.bool, device=device)
        self.diverged = torch.zeros(n, dtype=torch.bool, device=device)
        self.trace: list[torch.Tensor] = []

    @property
    def needs_residual(self) -> bool:
        return self.tol > 0 or self.track

    def step(self, k: int, z_new: torch.Tensor, res: torch.Tensor | None) -> bool:
        """Offer the iterate of step ``k`` (1-based); return True when all are done."""
        if res is not None:
            # A non-finite entry makes the residual's norms inf or NaN, so checking
            # the (n_samples,) residual is enough.
            finite = torch.isfinite(res)
        else:
            finite = torch.isfinite(z_new.reshape(z_new.shape[0], -1)).all(dim=1)
        newly_div = self.active & ~finite
        upd = self.active & finite
        self.z = torch.where(_row_mask(upd, z_new), z_new, self.z)
        self.n_steps = torch.where(upd, torch.full_like(self.n_steps, k), self.n_steps)
        if res is not None:
            res = res.to(self.residual.dtype)
            self.residual = torch.where(upd, res, self.residual)
            if self.track:
                self.trace.append(self.residual.clone())
        self.diverged |= newly_div
        self.active &= ~newly_div
        if self.tol > 0 and res is not None:
            conv = upd & (res <= self.tol)
            self.converged |= conv
            self.active &= ~conv
            return not bool(self.active.any())
        return False

    def info(self, **extra) -> SolverInfo:
        if self.tol == 0:
            # With no early stop, "converged" means an exact fixed point was hit.
            self.converged = self.residual == 0
        trace = (
            torch.stack(self.trace).detach().cpu().numpy()
            if self.trace
            else np.zeros((0, self.z.shape[0]))
        )
        return SolverInfo(
            n_steps=self.n_steps.cpu().numpy(),
            residual=self.residual.detach().cpu().numpy(),
            converged=self.converged.cpu().numpy(),
            diverged=self.diverged.cpu().numpy(),
            residual_trace=trace,
            max_iter=self.max_iter,
            tol=self.tol,
            solver=self.solver,
            extra=extra,
        )


def fast_fixed_budget(f, z0, max_iter, callback):
    """Plain ``z = f(z)`` loop; returns ``(z, z_prev)`` or ``None`` on non-finite output."""
    z_prev = z0
    z = z0
    for k in range(1, max_iter + 1):
        z_prev = z
        z = f(z)
        if callback is not None:
            callback(k, z)
    if not bool(torch.isfinite(z).all()):
        return None
    return z, z_prev


def exact_info(z, z_prev, max_iter, solver, *, damping=1.0) -> SolverInfo:
    """Info of a fixed-budget solve from its last two iterates."""
    n = z.shape[0]
    if damping != 1.0:
        # z = z_prev + damping (G(z_prev) - z_prev), so G(z_prev) - z_prev = (z - z_prev) / damping.
        fz = z_prev + (z - z_prev) / damping
    else:
        fz = z
    res = residual_norm(fz, z_prev).detach().cpu().numpy()
    return SolverInfo(
        n_steps=np.full(n, max_iter),
        residual=res,
        converged=res == 0,
        diverged=np.zeros(n, dtype=bool),
        residual_trace=np.zeros((0, n)),
        max_iter=max_iter,
        tol=0.0,
        solver=solver,
    )
