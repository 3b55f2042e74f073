"""The stacked trajectory behind ``lipschitz_curve`` and ``budget_curve``.

Both reports solve the batch ``[X, X'_1, ..., X'_r]`` (the inputs and their
perturbed copies) once, chunk by chunk, and read every step: the Lipschitz
ratios from the copies, the stage outputs from the rows of ``X``. The
functions take a fitted estimator and use only its documented hooks
(``_default_directions``, ``_n_rows``, ``_slice``, ``_concat``, ``_run``,
``_chunk_rows``, ``_output_distance``, ``_output_summary``).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

from .lipschitz import RatioCollector
from .solvers import SolverInfo

__all__ = ["perturbed_copies", "stacked_trajectory"]


def perturbed_copies(estimator, X, eps, n_directions, directions, random_state):
    """Perturbed copies of validated ``X`` by a direction strategy: ``(X_perturbed, norms)``.

    ``X_perturbed`` holds ``r >= 1`` copies of ``X``, direction-major,
    and ``norms`` (float64, shape ``(r * n,)``) the size of each
    perturbation; both are checked.
    """
    strategy = estimator._default_directions() if directions is None else directions
    Xp, norms = strategy(X, eps, int(n_directions), check_random_state(random_state))
    n = estimator._n_rows(X)
    norms = np.asarray(norms, dtype=np.float64).reshape(-1)
    r, rest = divmod(estimator._n_rows(Xp), n) if n else (0, 1)
    if n == 0 or rest or r < 1 or norms.shape != (r * n,):
        raise ValueError(
            f"The direction strategy returned {estimator._n_rows(Xp)} rows and {norms.size} "
            f"norms for {n} samples; expected a positive multiple of {n} of each."
        )
    if not (np.isfinite(norms).all() and (norms > 0).all()):
        raise ValueError("The direction strategy returned non-positive or non-finite norms.")
    return Xp, norms


def stacked_trajectory(
    estimator, X, perturbed=None, *, max_iter, tol=0.0, track=False, callback=None
):
    """One solve of the stacked batch ``[X, X'_1, ..., X'_r]``, chunk by chunk.

    The trajectory behind ``lipschitz_curve`` and ``budget_curve``.
    ``perturbed`` is ``(X_perturbed, norms)`` from :func:`perturbed_copies`,
    or None (``X`` alone). ``callback(start, stop, k, y_k)`` sees the
    read-out of the rows ``start:stop`` of ``X`` (never the copies) after
    every step ``k = 1..max_iter``; when a whole chunk stops early (at
    ``tol``), its frozen read-out is reported for the remaining steps.

    Returns
    -------
    ratios : ndarray of shape (max_iter, n * r), or None
        The Lipschitz ratios, pairs sample-major (None without copies).
    info : SolverInfo
        The solve of the rows of ``X``.
    info_all : SolverInfo
        The solve of every row (copies included), for warnings.
    """
    n = estimator._n_rows(X)
    Xp, norms = perturbed if perturbed is not None else (None, None)
    r = 0 if perturbed is None else len(norms) // n
    step = max(1, estimator._chunk_rows() // (1 + r))
    ratios, infos, infos_all = [], [], []
    for start in range(0, n, step):
        stop = min(start + step, n)
        m = stop - start
        rows = [estimator._slice(X, start, stop)]
        rows += [estimator._slice(Xp, j * n + start, j * n + stop) for j in range(r)]
        collector = None
        if r:
            norms_c = np.concatenate([norms[j * n + start : j * n + stop] for j in range(r)])
            collector = RatioCollector(
                m,
                r,
                torch.as_tensor(norms_c, dtype=torch.float64),
                max_iter,
                estimator._output_distance,
                summary=estimator._output_summary(),
            )
        last = [0, None]

        def watch(s0, s1, k, y, collector=collector, start=start, stop=stop, last=last):
            if collector is not None:
                collector(k, y)
            if callback is not None:
                callback(start, stop, k, y[: stop - start])
            last[:] = [k, y]

        _, info = estimator._run(
            estimator._concat(rows) if r else rows[0],
            max_iter=max_iter,
            tol=tol,
            track=track,
            callback=watch if r or callback is not None else None,
            chunk_size=m * (1 + r),
        )
        if last[1] is not None:  # a chunk that stopped early keeps its answer
            for k in range(last[0] + 1, max_iter + 1):
                watch(start, stop, k, last[1])
        infos.append(info.head(m))
        infos_all.append(info)
        if r:
            # Group pairs sample-major within the chunk: (T, r, n_c) -> (T, n_c * r).
            ratio = collector.ratios.reshape(max_iter, r, m)
            ratios.append(ratio.transpose(1, 2).reshape(max_iter, -1))
    ratios = torch.cat(ratios, dim=1).numpy() if r else None
    return ratios, SolverInfo.concatenate(infos), SolverInfo.concatenate(infos_all)
