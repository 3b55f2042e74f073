"""Randomized training depth with truncated backpropagation (recurrent-depth recipe)."""

from __future__ import annotations

import math

import torch

from ._base import BackwardMode

__all__ = ["RandomDepth", "sample_depth"]


def sample_depth(mean, sigma=0.5, generator=None):
    """Draw a depth ``r = Poisson(LogNormal(log(mean) - sigma^2 / 2, sigma)) + 1``.

    The recurrent-depth recipe (Geiping et al. 2025, Huginn's
    ``poisson-lognormal-filling``): the Poisson rate has mean ``mean``, so
    ``E[r] = mean + 1``, with a long right tail.

    Parameters
    ----------
    mean : float
        Mean of the Poisson rate, > 0.
    sigma : float, default=0.5
        Spread of the log-normal rate.
    generator : torch.Generator, optional
        Source of randomness (default: torch's global generator).

    Returns
    -------
    int
        A depth of at least 1.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.backward import sample_depth
    >>> g = torch.Generator().manual_seed(0)
    >>> sample_depth(8.0, generator=g) >= 1
    True
    """
    if not (mean > 0 and math.isfinite(mean)):
        raise ValueError(f"The mean depth must be a positive finite number, got {mean!r}.")
    mu = math.log(mean) - sigma**2 / 2
    rate = torch.exp(mu + sigma * torch.randn((), generator=generator))
    return int(torch.poisson(rate.reshape(1), generator=generator).item()) + 1


class RandomDepth(BackwardMode):
    """Train at a random depth, backpropagating through its last ``k`` steps only.

    Every training forward pass draws a depth ``r`` with :func:`sample_depth`
    (mean ``mean``, default the estimator's ``n_iter``), runs ``r - k``
    steps without gradient and the last ``min(r, k)`` with gradient. Memory
    is bounded by ``k`` whatever ``r`` is, and the model learns to improve
    from any state along the trajectory, so more test-time steps keep
    helping (Huginn's truncated backpropagation). Outside training (no
    gradient) it solves with the given budget like the other modes.

    Parameters
    ----------
    mean : float, optional
        Mean of the depth distribution; default the training budget
        ``n_iter``.
    k : int, default=4
        Steps with gradient.
    sigma : float, default=0.5
        Spread of the log-normal rate.
    depth : int, optional
        A fixed depth instead of a random one (ablations, tests).

    Attributes
    ----------
    last_depth : tuple of int or None
        ``(steps without gradient, steps with gradient)`` of the last
        training pass.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.backward import RandomDepth
    >>> from sklearn_implicit.solvers import picard
    >>> w = torch.tensor(0.5, requires_grad=True)
    >>> mode = RandomDepth(k=2, depth=5)
    >>> z = mode(lambda z: w * z + 1.0, torch.zeros(1, 1), solver=picard, max_iter=8, tol=0.0)
    >>> mode.last_depth
    (3, 2)
    """

    name = "random_depth"
    constant_memory = True

    def __init__(self, mean=None, k=4, sigma=0.5, depth=None):
        self.mean = mean
        self.k = k
        self.sigma = sigma
        self.depth = depth
        self.last_depth = None

    def __call__(self, f, z0, *, solver, max_iter, tol):
        if not torch.is_grad_enabled():
            z, _ = solver(f, z0, max_iter=max_iter, tol=tol)
            return z
        return self.trajectory(f, z0, solver=solver, max_iter=max_iter, tol=tol, depths=None)[-1]

    def trajectory(self, f, z0, *, solver, max_iter, tol, depths):
        """States of one random-depth pass; ``depths`` are fractions of ``max_iter``.

        The pass draws its depth ``r``; the requested depths are rescaled to
        ``r`` (``d -> round(d * r / max_iter)``, at least 1). States inside the
        last ``k`` steps carry the truncated gradient; earlier ones get one
        differentiable step from the state before them. ``depths=None`` asks
        for the last state only.
        """
        if int(self.k) < 1:
            raise ValueError(f"RandomDepth needs k >= 1 steps with gradient, got {self.k!r}.")
        if self.depth is not None:
            r = int(self.depth)
        else:
            r = sample_depth(float(max_iter if self.mean is None else self.mean), self.sigma)
        k = min(r, int(self.k))
        if depths is None:
            at = (r,)
        else:
            at = tuple(sorted({max(1, round(d * r / max_iter)) for d in depths} | {r}))
        early = {d - 1 for d in at if d <= r - k}
        kept = {0: z0.detach()} if 0 in early else {}
        z = z0
        if r > k:

            def keep(j, z):
                if j in early:
                    kept[j] = z.detach().clone()

            with torch.no_grad():
                z, _ = solver(f, z0, max_iter=r - k, tol=0.0, callback=keep if early else None)
            z = z.detach()
        # Steps with gradient are the solver's own steps (a damped solver's are damped).
        states = [solver(f, kept[d - 1], max_iter=1, tol=0.0)[0] for d in at if d <= r - k]
        late = {}  # the requested depths among the last k (r is always one of them)

        def keep_late(j, z):
            if r - k + j in at:
                late[r - k + j] = z

        solver(f, z, max_iter=k, tol=0.0, callback=keep_late)
        states += [late[d] for d in sorted(late)]
        self.last_depth = (r - k, k)
        return states

    def __repr__(self):
        return f"RandomDepth(mean={self.mean!r}, k={self.k!r}, sigma={self.sigma!r}, depth={self.depth!r})"
