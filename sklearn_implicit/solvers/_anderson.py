"""Anderson acceleration (type II) for batched fixed-point problems."""

from __future__ import annotations

import torch

from ._info import residual_norm
from ._tracker import Tracker

__all__ = ["anderson"]


def anderson(
    f,
    z0,
    *,
    max_iter,
    tol,
    m=5,
    lam=1e-4,
    beta=1.0,
    track=False,
    callback=None,
):
    """Solve ``z = f(z)`` by Anderson acceleration, independently per sample.

    Every step applies ``f`` once. The new point is the combination of the
    last ``m`` operator outputs whose residuals have the smallest
    (Tikhonov-regularised) norm. When the small least-squares system is
    singular or gives non-finite weights for a sample, that sample takes a
    plain Picard step instead of failing.

    Parameters
    ----------
    f : callable
        The operator ``z -> G(z)``; samples must not interact.
    z0 : torch.Tensor of shape (n_samples, ...)
        Initial state.
    max_iter : int
        Maximum number of applications of ``f``.
    tol : float
        Per-sample relative residual at which a sample is accepted and frozen;
        ``0`` runs exactly ``max_iter`` steps.
    m : int, default=5
        Memory: number of past iterates combined.
    lam : float, default=1e-4
        Tikhonov regularisation of the least-squares system.
    beta : float, default=1.0
        Mixing between operator outputs (1) and inputs (0).
    track : bool, default=False
        Record the residual of every step.
    callback : callable, optional
        Called as ``callback(k, z_k)`` after every application ``k`` of ``f``.

    Returns
    -------
    z : torch.Tensor
        The most recent operator output ``f(x_k)`` per sample.
    info : SolverInfo
        Per-sample diagnostics; ``info.extra["n_fallbacks"]`` counts Picard
        fallbacks.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.solvers import anderson
    >>> A = 0.9 * torch.eye(4)
    >>> z, info = anderson(lambda z: z @ A + 1.0, torch.zeros(2, 4), max_iter=50, tol=1e-6)
    >>> torch.allclose(z, torch.full((2, 4), 10.0), atol=1e-3)
    True
    """
    if m < 1:
        raise ValueError(f"Anderson memory m must be at least 1, got {m!r}.")
    if not 0 < beta <= 1:
        raise ValueError(f"Anderson mixing beta must be in (0, 1], got {beta!r}.")
    bsz = z0.shape[0]
    shape = z0.shape
    d = z0[0].numel()
    dtype, device = z0.dtype, z0.device
    tracker = Tracker(z0, max_iter=max_iter, tol=tol, track=track, solver="anderson")
    # Use tracking for the stop test only when needed; residuals are cheap here.
    Xh = torch.zeros(bsz, m, d, dtype=dtype, device=device)
    Fh = torch.zeros(bsz, m, d, dtype=dtype, device=device)
    x = z0.reshape(bsz, d)
    n_fallbacks = 0
    eye = torch.eye(m, dtype=dtype, device=device)
    for k in range(1, max_iter + 1):
        fx = f(x.reshape(shape)).reshape(bsz, d)
        res = residual_norm(fx, x)
        done = tracker.step(k, fx.reshape(shape), res)
        if callback is not None:
            callback(k, tracker.z)
        if done or k == max_iter:
            break
        slot = (k - 1) % m
        Xh[:, slot] = x
        Fh[:, slot] = fx
        n = min(k, m)
        if n == 1:
            x_next = beta * fx + (1 - beta) * x
        else:
            G = Fh[:, :n] - Xh[:, :n]  # (b, n, d) residuals
            # Minimise ||sum_i a_i G_i||^2 + lam ||a||^2 subject to sum_i a_i = 1.
            H = torch.bmm(G, G.transpose(1, 2))
            scale = H.diagonal(dim1=1, dim2=2).amax(dim=1).clamp_min(1e-30)
            H = H / scale[:, None, None] + lam * eye[:n, :n]
            ones = torch.ones(bsz, n, 1, dtype=dtype, device=device)
            sol, info = torch.linalg.solve_ex(H, ones)
            alpha = sol[..., 0]
            alpha = alpha / alpha.sum(dim=1, keepdim=True)
            bad = (info != 0) | ~torch.isfinite(alpha).all(dim=1)
            if bool(bad.any()):
                n_fallbacks += int(bad.sum())
                picard_w = torch.zeros_like(alpha)
                picard_w[:, slot] = 1.0
                alpha = torch.where(bad[:, None], picard_w, alpha)
            x_next = beta * torch.einsum("bn,bnd->bd", alpha, Fh[:, :n])
            if beta != 1.0:
                x_next = x_next + (1 - beta) * torch.einsum("bn,bnd->bd", alpha, Xh[:, :n])
        # Frozen (converged or diverged) samples stay where they are.
        keep = ~tracker.active
        x = torch.where(keep[:, None], tracker.z.reshape(bsz, d), x_next)
    return tracker.z, tracker.info(n_fallbacks=n_fallbacks)
