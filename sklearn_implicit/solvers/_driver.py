"""The one loop every fixed-point solver runs: per-sample freezing, divergence, callbacks.

A solver is a small *step rule* (:class:`StepRule`): where to evaluate the
operator next, and which candidate iterate that evaluation gives. The driver
:func:`iterate` owns everything else, once, for every solver:

- a sample is *frozen* once its relative residual reaches ``tol`` (so that a
  sample's answer never depends on which other samples share its batch);
- a sample whose candidate is non-finite is frozen at its last finite iterate
  and flagged as diverged, instead of returning NaN;
- ``callback(k, z_k)`` sees the accepted iterate of every step exactly once;
- the residual is computed only when it is needed (early stopping, a trace,
  or the last step), and no step synchronises with a GPU. Early stopping
  asks the device whether every sample is done; on CUDA, when no callback or
  trace watches the steps, that answer is copied to the host asynchronously
  and read up to ``_CUDA_LAG`` steps later, so the host keeps queueing work
  instead of waiting for every step. The steps run after every sample
  froze change nothing (frozen samples keep their iterate, step count and
  residual): the answer is the same as with a check at every step.

A fixed-budget solve with no callback and no trace (``predict(X, n_iter=t)``)
runs the plain loop and checks finiteness once at the end; only if some
sample diverged is the solve run again with per-sample bookkeeping (no
callback exists that could see a step twice).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from ._info import SolverInfo, residual_norm

__all__ = ["StepRule", "iterate"]

#: Steps the host may queue before it waits for the device's answer to "is
#: every sample done?" (CUDA, early stopping, no callback and no trace).
_CUDA_LAG = 2


def _convergence_lag(z0, *, track, callback):
    """How many steps late the driver may learn that every sample is done.

    0 (check every step, synchronously) on the CPU, where reading a flag
    costs nothing, and whenever a callback or a trace sees every step (they
    must not see steps past the end); ``_CUDA_LAG`` on CUDA otherwise.
    """
    if track or callback is not None or z0.device.type != "cuda":
        return 0
    return _CUDA_LAG


def _row_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.reshape((-1,) + (1,) * (like.dim() - 1))


class StepRule:
    """How a solver moves: the part that differs between Picard, Anderson, ...

    Subclasses implement three methods; the driver calls them in this order
    for every step ``k = 1, 2, ...``::

        state = rule.init(z0)
        point, fz = rule.evaluate(f, state)     # exactly one application of f
        candidate = rule.candidate(state, point, fz)
        ... the driver accepts or freezes each sample ...
        state = rule.advance(state, point, fz, z, active)

    ``z`` is the accepted iterate (frozen samples keep theirs) and ``active``
    the samples still iterating; a rule must keep frozen samples where they
    are. ``rule.extra(state)`` returns solver-specific diagnostics for
    :attr:`SolverInfo.extra`.
    """

    name = "step_rule"

    def init(self, z0):
        return z0

    def evaluate(self, f, state):
        """Return ``(point, f(point))``: where the operator was applied, and its value."""
        raise NotImplementedError  # pragma: no cover - abstract

    def candidate(self, state, point, fz):
        """The iterate this evaluation proposes (default: the operator's output)."""
        return fz

    def advance(self, state, point, fz, z, active):
        """The state of the next step, given the accepted iterate ``z``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def extra(self, state):
        return {}


class _Tracker:
    """Per-sample bookkeeping of one solve (accepted iterate, steps, flags, trace)."""

    def __init__(self, z0, *, max_iter, tol, track, solver, lag=0):
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
        #: While True, every sample has accepted every step so far (``n_steps`` is
        #: ``k_uniform`` for all); the per-sample tensors are filled in lazily.
        self.uniform = not (self.tol > 0 or self.track)
        self.k_uniform = 0
        #: Early stopping read ``lag`` steps late (see ``_done``).
        self.lag = int(lag) if self.tol > 0 else 0
        self._pending = deque()
        self._host = None
        if self.lag and device.type == "cuda":
            # One pinned flag per step: device-to-host copies that do not block.
            self._host = torch.zeros(self.max_iter + 1, dtype=torch.bool, pin_memory=True)

    def _materialize(self):
        if self.uniform:
            self.n_steps.fill_(self.k_uniform)
            self.uniform = False

    def needs_residual(self, k):
        return self.tol > 0 or self.track or k == self.max_iter

    def step(self, k, z_new, res):
        """Offer the candidate of step ``k``; return True when every sample is done."""
        if res is None and self.uniform and z_new.device.type == "cpu":
            # Every sample still active: one reduction decides (no per-row work
            # and, on the CPU, no costly synchronisation). On a GPU the per-row
            # path below runs instead: it never reads a value on the host.
            if bool(torch.isfinite(z_new).all()):
                self.z = z_new
                self.k_uniform = k
                return False
        self._materialize()
        if res is not None:
            # A non-finite entry makes its row's norm inf or NaN: checking the
            # (n_samples,) residual is enough.
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
        # Out of place: a differentiable step (unrolled Anderson) saves the mask
        # ``active`` it was given for its backward pass.
        self.diverged = self.diverged | newly_div
        self.active = self.active & ~newly_div
        if self.tol > 0 and res is not None:
            conv = upd & (res <= self.tol)
            self.converged = self.converged | conv
            self.active = self.active & ~conv
            return self._done(k, ~self.active.any())
        return False

    def _done(self, k, done):
        """Whether every sample is done, as known now: ``done`` of step ``k`` or earlier.

        With ``lag == 0`` the flag of step ``k`` is read at once (one
        synchronisation). Otherwise the flag is queued (on CUDA: copied into
        pinned host memory behind an event) and read once it has arrived, at
        the latest ``lag`` steps later; "done" never turns back to False, so
        any arrived flag that says True ends the solve.
        """
        if not self.lag:
            return bool(done)
        event = None
        if self._host is not None:
            with torch.cuda.device(done.device):
                slot = self._host[k]
                slot.copy_(done, non_blocking=True)
                event = torch.cuda.Event()
                event.record(torch.cuda.current_stream(done.device))
            self._pending.append((slot, event))
        else:  # the same bookkeeping on the CPU (used by the tests)
            self._pending.append((done, None))
        while self._pending:
            slot, event = self._pending[0]
            arrived = event is not None and event.query()
            if not arrived and len(self._pending) <= self.lag:
                break
            self._pending.popleft()
            if event is not None and not arrived:
                event.synchronize()
            if bool(slot):
                return True
        return False

    def info(self, **extra) -> SolverInfo:
        self._materialize()
        converged = self.converged
        if self.tol == 0:
            # With no early stop, "converged" means an exact fixed point was hit.
            converged = self.residual == 0
        trace = (
            torch.stack(self.trace).detach().cpu().numpy()
            if self.trace
            else np.zeros((0, self.z.shape[0]))
        )
        return SolverInfo(
            n_steps=self.n_steps.cpu().numpy(),
            residual=self.residual.detach().cpu().numpy(),
            converged=converged.cpu().numpy(),
            diverged=self.diverged.cpu().numpy(),
            residual_trace=trace,
            max_iter=self.max_iter,
            tol=self.tol,
            solver=self.solver,
            extra=extra,
        )


def iterate(rule, f, z0, *, max_iter, tol, track=False, callback=None):
    """Run the fixed-point iteration of ``rule`` on ``z = f(z)`` from ``z0``.

    Parameters
    ----------
    rule : StepRule
        The solver's step rule.
    f : callable
        The operator; maps a batch of states to a batch of states. Samples
        must not interact.
    z0 : torch.Tensor of shape (n_samples, ...)
        Initial state.
    max_iter : int
        Budget of applications of ``f``.
    tol : float
        Per-sample relative residual ``||f(z) - z|| / (||f(z)|| + 1e-6)`` at
        which a sample is accepted and frozen; ``0`` runs exactly
        ``max_iter`` applications.
    track : bool, default=False
        Record every step's residual in ``info.residual_trace``.
    callback : callable, optional
        ``callback(k, z_k)`` after every step ``k = 1, 2, ...`` with the
        batch's accepted iterate; called exactly once per step.

    Returns
    -------
    z : torch.Tensor
        The accepted iterate of every sample.
    info : SolverInfo
        Per-sample diagnostics.
    """
    max_iter = int(max_iter)
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}.")
    if tol == 0 and not track and callback is None and max_iter > 0:
        out = _plain(rule, f, z0, max_iter)
        if out is not None:
            return out
        # Some sample diverged: solve again with per-sample bookkeeping.
    tracker = _Tracker(
        z0,
        max_iter=max_iter,
        tol=tol,
        track=track,
        solver=rule.name,
        lag=_convergence_lag(z0, track=track, callback=callback),
    )
    state = rule.init(z0)
    for k in range(1, max_iter + 1):
        point, fz = rule.evaluate(f, state)
        res = residual_norm(fz, point) if tracker.needs_residual(k) else None
        done = tracker.step(k, rule.candidate(state, point, fz), res)
        if callback is not None:
            callback(k, tracker.z)
        if done or k == max_iter:
            break
        state = rule.advance(state, point, fz, tracker.z, tracker.active)
    return tracker.z, tracker.info(**rule.extra(state))


def _plain(rule, f, z0, max_iter):
    """The fixed-budget loop with no bookkeeping; None when an iterate is non-finite."""
    state = rule.init(z0)
    active = torch.ones(z0.shape[0], dtype=torch.bool, device=z0.device)
    for k in range(1, max_iter + 1):
        point, fz = rule.evaluate(f, state)
        z = rule.candidate(state, point, fz)
        if k < max_iter:
            state = rule.advance(state, point, fz, z, active)
    res = residual_norm(fz, point)
    if not bool(torch.isfinite(res).all()):
        return None
    n = z0.shape[0]
    info = SolverInfo(
        n_steps=np.full(n, max_iter),
        residual=res.detach().float().cpu().numpy(),
        converged=(res == 0).cpu().numpy(),
        diverged=np.zeros(n, dtype=bool),
        residual_trace=np.zeros((0, n)),
        max_iter=max_iter,
        tol=0.0,
        solver=rule.name,
        extra=rule.extra(state),
    )
    return z, info
