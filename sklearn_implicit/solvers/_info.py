"""Diagnostics returned by every fixed-point solver."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["SolverInfo", "residual_norm"]

#: Floor of the denominator of the relative residual.
_RESIDUAL_FLOOR = 1e-6


def residual_norm(fz: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-sample relative residual ``||G(z) - z|| / (||G(z)|| + 1e-6)``.

    Parameters
    ----------
    fz, z : torch.Tensor of shape (n_samples, ...)
        The operator's output and its input.

    Returns
    -------
    torch.Tensor of shape (n_samples,)
    """
    diff = (fz - z).reshape(z.shape[0], -1)
    scale = fz.reshape(z.shape[0], -1)
    return torch.linalg.vector_norm(diff, dim=1) / (
        torch.linalg.vector_norm(scale, dim=1) + _RESIDUAL_FLOOR
    )


@dataclass
class SolverInfo:
    """What a fixed-point solve did, per sample.

    Attributes
    ----------
    n_steps : ndarray of shape (n_samples,)
        Applications of the operator after which each sample was accepted
        (converged samples are frozen; the others ran to ``max_iter``).
    residual : ndarray of shape (n_samples,)
        Final relative residual ``||G(z) - z|| / (||G(z)|| + 1e-6)``.
    converged : ndarray of bool, shape (n_samples,)
        Whether ``residual <= tol`` was reached.
    diverged : ndarray of bool, shape (n_samples,)
        Whether the iteration produced non-finite values; such samples keep
        their last finite iterate.
    residual_trace : ndarray of shape (n_steps_run, n_samples)
        Relative residual after every step (empty when it was not tracked,
        i.e. for fixed-budget solves with ``tol=0`` and no trace requested).
    max_iter : int
        The budget the solver was given.
    tol : float
        The tolerance the solver was given.
    solver : str
        Name of the solver.
    """

    n_steps: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    residual_trace: np.ndarray
    max_iter: int
    tol: float
    solver: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``"converged"``, ``"diverged"`` or ``"max_iter"`` for the batch as a whole."""
        if self.diverged.any():
            return "diverged"
        if self.converged.all():
            return "converged"
        return "max_iter"

    @property
    def n_samples(self) -> int:
        return int(self.n_steps.shape[0])

    def head(self, n: int) -> SolverInfo:
        """The info of the first ``n`` samples."""
        return SolverInfo(
            n_steps=self.n_steps[:n],
            residual=self.residual[:n],
            converged=self.converged[:n],
            diverged=self.diverged[:n],
            residual_trace=self.residual_trace[:, :n],
            max_iter=self.max_iter,
            tol=self.tol,
            solver=self.solver,
            extra=self.extra,
        )

    @classmethod
    def fixed_depth(
        cls, n_samples: int, depth: int, *, max_iter: int, tol: float, solver: str
    ) -> SolverInfo:
        """The info of an explicit model: one pass of ``depth`` layers, nothing iterated.

        Every sample counts as converged with a zero residual, so explicit
        baselines answer ``solve`` like the implicit models they are
        compared with.

        Parameters
        ----------
        n_samples : int
            Number of samples.
        depth : int
            Layers of the pass, reported as ``n_steps``.
        max_iter, tol : int, float
            The budget and tolerance the caller asked for.
        solver : str
            Name to report.

        Returns
        -------
        SolverInfo

        Examples
        --------
        >>> from sklearn_implicit.solvers import SolverInfo
        >>> SolverInfo.fixed_depth(3, 2, max_iter=10, tol=0.0, solver="explicit").status
        'converged'
        """
        return cls(
            n_steps=np.full(n_samples, depth),
            residual=np.zeros(n_samples),
            converged=np.ones(n_samples, dtype=bool),
            diverged=np.zeros(n_samples, dtype=bool),
            residual_trace=np.zeros((0, n_samples)),
            max_iter=max_iter,
            tol=tol,
            solver=solver,
        )

    @classmethod
    def concatenate(cls, infos: list[SolverInfo]) -> SolverInfo:
        """Join the infos of consecutive batches along the sample axis."""
        if not infos:
            raise ValueError("Cannot concatenate an empty list of SolverInfo objects.")
        if len(infos) == 1:
            return infos[0]
        n_rows = max(info.residual_trace.shape[0] for info in infos)
        traces = []
        for info in infos:
            trace = info.residual_trace
            if trace.shape[0] < n_rows:
                # A batch that stopped early keeps its last residual afterwards.
                pad = np.repeat(
                    trace[-1:] if trace.shape[0] else info.residual[None],
                    n_rows - trace.shape[0],
                    axis=0,
                )
                trace = np.concatenate([trace, pad], axis=0) if trace.shape[0] else pad
            traces.append(trace)
        first = infos[0]
        return cls(
            n_steps=np.concatenate([i.n_steps for i in infos]),
            residual=np.concatenate([i.residual for i in infos]),
            converged=np.concatenate([i.converged for i in infos]),
            diverged=np.concatenate([i.diverged for i in infos]),
            residual_trace=np.concatenate(traces, axis=1) if n_rows else np.zeros((0, 0)),
            max_iter=first.max_iter,
            tol=first.tol,
            solver=first.solver,
        )

    def __repr__(self) -> str:
        return (
            f"SolverInfo(solver={self.solver!r}, status={self.status!r}, "
            f"n_samples={self.n_samples}, max_iter={self.max_iter}, tol={self.tol}, "
            f"mean_steps={float(np.mean(self.n_steps)) if self.n_samples else 0:.1f}, "
            f"max_residual={float(np.max(self.residual)) if self.n_samples else 0:.3g})"
        )
