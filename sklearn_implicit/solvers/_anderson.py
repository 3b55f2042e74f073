"""Anderson acceleration (type II) for batched fixed-point problems."""

from __future__ import annotations

import warnings

import torch

from ._driver import StepRule, iterate

__all__ = ["anderson"]


class _AndersonRule(StepRule):
    """Type-II Anderson mixing of the last ``m`` operator outputs, per sample.

    The state is ``(x, Xh, Fh, k, n_fallbacks)``: the next evaluation point,
    the histories of points and outputs, the step count and the number of
    Picard fallbacks. The accepted iterate is the operator output ``f(x)``.
    """

    name = "anderson"

    def __init__(self, m, lam, beta):
        self.m, self.lam, self.beta = m, lam, beta

    def init(self, z0):
        bsz, d = z0.shape[0], z0[0].numel()
        hist = torch.zeros(bsz, self.m, d, dtype=z0.dtype, device=z0.device)
        return {"x": z0, "Xh": hist, "Fh": hist.clone(), "k": 0, "n_fallbacks": 0}

    def evaluate(self, f, state):
        x = state["x"]
        return x, f(x)

    def advance(self, state, point, fz, z, active):
        m, lam, beta = self.m, self.lam, self.beta
        shape = point.shape
        bsz = shape[0]
        x, fx = point.reshape(bsz, -1), fz.reshape(bsz, -1)
        k = state["k"] + 1
        Xh, Fh = state["Xh"], state["Fh"]
        if torch.is_grad_enabled() and (x.requires_grad or fx.requires_grad):
            # A differentiable (unrolled) solve: earlier steps saved these
            # histories for their backward pass, so write into copies.
            Xh, Fh = Xh.clone(), Fh.clone()
            state.update(Xh=Xh, Fh=Fh)
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
            eye = torch.eye(n, dtype=H.dtype, device=H.device)
            H = H / scale[:, None, None] + lam * eye
            ones = torch.ones(bsz, n, 1, dtype=H.dtype, device=H.device)
            sol, status = torch.linalg.solve_ex(H, ones)
            alpha = sol[..., 0]
            alpha = alpha / alpha.sum(dim=1, keepdim=True)
            bad = (status != 0) | ~torch.isfinite(alpha).all(dim=1)
            # A singular system falls back to a Picard step for that sample.
            picard_w = torch.zeros_like(alpha)
            picard_w[:, slot] = 1.0
            alpha = torch.where(bad[:, None], picard_w, alpha)
            # Counted for samples still iterating only (frozen ones keep their point).
            state["n_fallbacks"] = state["n_fallbacks"] + (bad & active).sum()
            x_next = beta * torch.einsum("bn,bnd->bd", alpha, Fh[:, :n])
            if beta != 1.0:
                x_next = x_next + (1 - beta) * torch.einsum("bn,bnd->bd", alpha, Xh[:, :n])
        # Frozen (converged or diverged) samples stay where they are.
        x_next = torch.where(active[:, None], x_next, z.reshape(bsz, -1))
        state.update(x=x_next.reshape(shape), k=k)
        return state

    def extra(self, state):
        return {"n_fallbacks": int(state["n_fallbacks"])}


def anderson(
    f,
    z0,
    *,
    max_iter,
    tol,
    m=5,
    lam=1e-4,
    damping=1.0,
    track=False,
    callback=None,
    beta=None,
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
    damping : float, default=1.0
        Mixing between operator outputs (1) and inputs (0): the same option,
        with the same meaning, as Picard's ``damping`` (``solver__damping``
        works with either solver).
    track : bool, default=False
        Record the residual of every step.
    callback : callable, optional
        Called as ``callback(k, z_k)`` after every application ``k`` of ``f``.
    beta : float, optional
        Deprecated name of ``damping``.

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
    if beta is not None:
        warnings.warn(
            "anderson's beta is renamed damping (the name every solver uses); beta will be "
            "removed in a later release.",
            FutureWarning,
            stacklevel=2,
        )
        damping = beta
    if not 0 < damping <= 1:
        raise ValueError(f"Anderson damping must be in (0, 1], got {damping!r}.")
    return iterate(
        _AndersonRule(int(m), float(lam), float(damping)),
        f,
        z0,
        max_iter=max_iter,
        tol=tol,
        track=track,
        callback=callback,
    )
