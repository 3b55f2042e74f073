"""Lipschitz constants of any map or operator: empirical, in z (contraction), in x, bounds."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch

__all__ = [
    "contraction_modulus",
    "empirical_lipschitz",
    "lipschitz_in_x",
    "necessity_bound",
]


def _rows(v):
    """Flatten a batch to (n, -1)."""
    return v.reshape(v.shape[0], -1)


def _row_norms(v):
    return torch.linalg.vector_norm(_rows(v), dim=1)


def _unit_like(v, generator):
    """Random directions shaped like ``v``, each row of unit norm."""
    # Drawn on the CPU (the same directions on every device), then moved once.
    d = torch.randn(v.shape, generator=generator, dtype=torch.float64).to(v.device, v.dtype)
    return d / _row_norms(d).clamp_min(1e-30).reshape((-1,) + (1,) * (v.dim() - 1))


def _torch_generator(random_state):
    if isinstance(random_state, torch.Generator):
        return random_state
    from sklearn.utils import check_random_state

    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    return torch.Generator().manual_seed(seed)


def empirical_lipschitz(f, X, *, eps=1e-3, n_directions=4, reduce="max", random_state=None):
    """Empirical Lipschitz constant of a map at given points.

    ``reduce_{i, j} ||f(x_i + d_ij) - f(x_i)|| / ||d_ij||`` with
    ``n_directions`` random directions ``d_ij`` of norm ``eps`` per sample
    (the same statistic as the estimators' ``lipschitz_curve``, for any map).

    Parameters
    ----------
    f : callable
        Batch-first map on tensors (or on arrays: ``X`` is then converted to
        a float64 tensor and ``f``'s output back); rows must not interact.
    X : torch.Tensor or array-like of shape (n_samples, ...)
        Points at which to measure.
    eps : float, default=1e-3
        Size of the perturbations.
    n_directions : int, default=4
        Directions per sample.
    reduce : {"max", "mean", None}, default="max"
        Aggregation over samples and directions; None returns the per-sample
        maximum over directions, shape (n_samples,).
    random_state : int, RandomState instance, torch.Generator or None
        Seed of the directions.

    Returns
    -------
    lipschitz : float or ndarray of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.lipschitz import empirical_lipschitz
    >>> x = torch.linspace(0.5, 1.0, 11, dtype=torch.float64).reshape(-1, 1)
    >>> round(empirical_lipschitz(lambda x: 1 / x, x, eps=1e-6, random_state=0), 3)
    4.0
    """
    if not (isinstance(eps, Real) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}.")
    if isinstance(n_directions, bool) or not isinstance(n_directions, Integral) or n_directions < 1:
        raise ValueError(f"n_directions must be an integer >= 1, got {n_directions!r}.")
    if reduce not in ("max", "mean", None):
        raise ValueError(f"reduce must be 'max', 'mean' or None, got {reduce!r}.")
    is_tensor = isinstance(X, torch.Tensor)
    x = X if is_tensor else torch.as_tensor(np.asarray(X, dtype=np.float64))
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError("X must hold at least one sample.")

    def call(v):
        out = f(v) if is_tensor else f(v.numpy())
        return torch.as_tensor(np.asarray(out) if not isinstance(out, torch.Tensor) else out)

    gen = _torch_generator(random_state)
    with torch.no_grad():
        base = call(x)
        ratios = []
        for _ in range(int(n_directions)):
            d = _unit_like(x, gen) * float(eps)
            pert = call(x + d)
            diff = _row_norms((pert - base).to(torch.float64))
            ratios.append(diff / _row_norms(d.to(torch.float64)))
        ratios = torch.stack(ratios, dim=1).cpu().numpy()  # (n, r)
    if reduce is None:
        return ratios.max(axis=1)
    return float(ratios.max() if reduce == "max" else ratios.mean())


def _jvp_vjp(fn, inp):
    """Return ``(jvp, vjp)`` closures of a batch map at ``inp`` (double-backward trick)."""
    with torch.enable_grad():
        x = inp.detach().requires_grad_(True)
        out = fn(x)
        if not out.requires_grad:
            return None
        dummy = torch.zeros_like(out, requires_grad=True)
        (g,) = torch.autograd.grad(out, x, dummy, create_graph=True, allow_unused=True)

    def vjp(u):
        (w,) = torch.autograd.grad(out, x, u, retain_graph=True, allow_unused=True)
        return torch.zeros_like(x) if w is None else w

    def jvp(v):
        if g is None or not g.requires_grad:
            return torch.zeros_like(out)
        (w,) = torch.autograd.grad(g, dummy, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(out) if w is None else w

    return jvp, vjp, out


def _jacobian_norm(fn, inp, n_power_iter, random_state):
    """Per-sample spectral norm of the Jacobian of a row-wise batch map ``fn`` at ``inp``.

    Power iteration on ``J^T J`` with Jacobian-vector products; because rows
    do not interact the Jacobian is block-diagonal and each row's block is
    iterated independently.
    """
    if isinstance(n_power_iter, bool) or not isinstance(n_power_iter, Integral) or n_power_iter < 1:
        raise ValueError(f"n_power_iter must be an integer >= 1, got {n_power_iter!r}.")
    if not torch.is_floating_point(inp):
        raise ValueError("The point at which the Jacobian is taken must be a float tensor.")
    ops = _jvp_vjp(fn, inp)
    n = inp.shape[0]
    if ops is None:  # the map does not depend on its input
        return np.zeros(n)
    jvp, vjp, _ = ops
    gen = _torch_generator(random_state)
    shape = (-1,) + (1,) * (inp.dim() - 1)
    v = _unit_like(inp.detach(), gen)
    sigma = None
    for _ in range(int(n_power_iter)):
        u = jvp(v)
        # Stays on the input's device: one copy to the host after the loop.
        sigma = _row_norms(u.detach())
        w = vjp(u).detach()
        wn = _row_norms(w)
        # Rows whose J^T J v vanished keep their direction (sigma = 0 there).
        v = torch.where((wn > 0).reshape(shape), w / wn.clamp_min(1e-30).reshape(shape), v)
    return sigma.double().cpu().numpy()


def contraction_modulus(G, z, x, n_power_iter=20, random_state=None):
    """Per-sample contraction modulus ``mu(x)`` of ``z -> G(z, x)`` at ``z``.

    The spectral norm of the Jacobian ``dG/dz`` at ``(z, x)``, by power
    iteration on Jacobian-vector products (no Jacobian is formed). For an
    operator affine in ``z`` this is its Lipschitz constant in ``z``; in
    general it is the local one at ``z`` (take ``z`` the fixed point).

    Parameters
    ----------
    G : callable
        Operator ``G(z, x)``, batch-first, rows independent.
    z : torch.Tensor of shape (n_samples, ...)
        States at which to linearise.
    x : object
        Inputs, passed to ``G`` unchanged.
    n_power_iter : int, default=20
        Power iterations.
    random_state : int, RandomState instance, torch.Generator or None
        Seed of the starting vectors.

    Returns
    -------
    mu : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.lipschitz import contraction_modulus
    >>> from sklearn_implicit.theory import ReciprocalOperator
    >>> x = torch.tensor([[0.2], [1.0]])
    >>> contraction_modulus(ReciprocalOperator(0.5), 1 / x, x).round(3)
    array([0.9, 0.5])
    """
    return _jacobian_norm(lambda v: G(v, x), z, n_power_iter, random_state)


def lipschitz_in_x(G, z, x, n_power_iter=20, random_state=None):
    """Per-sample local Lipschitz constant of ``x -> G(z, x)`` at ``(z, x)``.

    The spectral norm of ``dG/dx`` by power iteration on Jacobian-vector
    products. For a regular operator it grows at most linearly in ``||z||``.

    Parameters
    ----------
    G : callable
        Operator ``G(z, x)``.
    z : torch.Tensor of shape (n_samples, ...)
        States.
    x : torch.Tensor of shape (n_samples, ...)
        Inputs (a float tensor).
    n_power_iter : int, default=20
        Power iterations.
    random_state : int, RandomState instance, torch.Generator or None
        Seed of the starting vectors.

    Returns
    -------
    lip_x : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.lipschitz import lipschitz_in_x
    >>> from sklearn_implicit.theory import ReciprocalOperator
    >>> x = torch.tensor([[0.2], [1.0]])
    >>> lipschitz_in_x(ReciprocalOperator(0.5), 1 / x, x).round(3)  # eta |z|
    array([2.5, 0.5])
    """
    return _jacobian_norm(lambda v: G(z, v), x, n_power_iter, random_state)


def necessity_bound(lip_x, mu):
    """The necessity bound ``Lip(y*) <= Lip_x(G) / (1 - mu(x))``, elementwise.

    If ``z -> G(z, x)`` is a ``mu``-contraction and ``x -> G(z, x)`` is
    ``Lip_x``-Lipschitz near the fixed point, then
    ``||y*(x) - y*(x')|| <= ||G(y*(x'), x) - G(y*(x'), x')|| / (1 - mu)``:
    a steep fixed point needs ``mu(x) -> 1``. Where ``mu >= 1`` the bound is
    ``inf``.

    Parameters
    ----------
    lip_x : array-like
        Lipschitz constants of ``G`` in ``x``.
    mu : array-like
        Contraction moduli.

    Returns
    -------
    bound : ndarray (float64), broadcast shape

    Examples
    --------
    >>> from sklearn_implicit.lipschitz import necessity_bound
    >>> necessity_bound([1.0, 2.0], [0.5, 1.0])
    array([ 2., inf])
    """
    lip = np.asarray(lip_x, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    gap = 1.0 - mu
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(gap > 0, lip / np.where(gap > 0, gap, 1.0), np.inf)
    return out
