"""Lipschitz curves: the result object and the per-step ratio collector."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["LipschitzCurve", "RatioCollector", "reduce_ratios"]


@dataclass
class LipschitzCurve:
    """Result of ``lipschitz_curve``.

    Attributes
    ----------
    n_iter : ndarray of shape (T,)
        Budgets ``1..T``.
    lipschitz : ndarray of shape (T,)
        ``L_t``, the reduced ratios.
    ratios : ndarray of shape (T, n_pairs)
        ``||y_t(x + d) - y_t(x)|| / ||d||`` for every (sample, direction) pair.
    eps : float
        Size of the perturbations.
    reduce : str
        ``"max"`` or ``"mean"``.
    """

    n_iter: np.ndarray
    lipschitz: np.ndarray
    ratios: np.ndarray = field(repr=False)
    eps: float = 0.0
    reduce: str = "max"

    def __len__(self):
        return len(self.n_iter)


def reduce_ratios(ratios, reduce):
    """Reduce the per-pair ratios of shape (T, n_pairs) to ``L_t`` of shape (T,).

    Non-finite ratios (from a diverging iterate) propagate as ``inf``.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    if reduce == "max":
        return ratios.max(axis=1)
    if reduce == "mean":
        return ratios.mean(axis=1)
    raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}.")


class RatioCollector:
    """Callback that turns a stacked trajectory into per-pair ratios.

    The batch it watches is ``[x_1..x_n, (x_1..x_n) + d_1, ..., + d_r]``; at
    step ``k`` it records ``distance(y_k(x + d_j), y_k(x)) / ||d_j||``. The
    distance is taken at once, on the outputs' device (no synchronisation
    per step), unless ``summary`` is given: then only ``summary(y_k)`` is kept
    on the device and the distances (e.g. a Levenshtein distance computed on
    the host) are taken once, at the end.
    """

    def __init__(self, n_base, n_directions, norms, max_iter, distance, summary=None):
        self.n = n_base
        self.r = n_directions
        self.norms = norms
        self.distance = distance
        self.summary = summary
        self.max_iter = max_iter
        self._steps = [None] * max_iter

    def _pairs(self, y):
        base = y[: self.n]
        pert = y[self.n :]
        if self.r > 1:
            base = base.unsqueeze(0).expand((self.r,) + tuple(base.shape))
            base = base.reshape((-1,) + tuple(base.shape[2:]))
        return pert, base

    def __call__(self, k, y):
        if self.summary is not None:
            self._steps[k - 1] = self.summary(y.detach())
        else:
            self._steps[k - 1] = self.distance(*self._pairs(y)).detach()

    @property
    def ratios(self):
        """Ratios of shape (max_iter, n_base * n_directions), direction-major, float64."""
        steps = self._steps
        if self.summary is not None:
            steps = [self.distance(*self._pairs(s)) for s in steps]
        dist = torch.stack([torch.as_tensor(d) for d in steps]).double().cpu()
        return dist / self.norms
