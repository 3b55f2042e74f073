"""Steady 2-D incompressible Navier–Stokes data: random forcings and their steady vorticity."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._cache import cache_path, load_cache, save_cache
from ._physics import solve_steady_batch

__all__ = ["make_navier_stokes"]

#: Largest ``|kx|, |ky|`` of the random forcing modes.
_RANDOM_MODE_MAX = 3

#: Version of the random draw; part of the cache key, so that a cache written by an
#: older generator (another draw for the same seed) is never read back.
#: 2: one fixed block of random numbers per draw, evaluated on any grid.
_GENERATOR_VERSION = 2


def _draw_forcing(rng, n_modes):
    """The random parameters of one forcing, independent of any grid.

    One fixed block of random numbers per draw: the strength of the shear
    mode, ``n_modes`` wavenumbers ``(kx, ky)`` with ``|kx|, |ky| <= 3`` and
    their cosine and sine amplitudes (a drawn ``(0, 0)`` gets amplitude 0,
    keeping the forcing zero-mean). Draw ``j`` of a seed is therefore the same
    function of ``(x, y)`` whatever the resolution and whatever happened to
    the draws before it.
    """
    strength = 1.0 + 0.5 * rng.uniform(-1, 1)
    k = rng.randint(-_RANDOM_MODE_MAX, _RANDOM_MODE_MAX + 1, size=(n_modes, 2))
    ab = rng.normal(scale=0.5, size=(n_modes, 2))
    ab[(k == 0).all(axis=1)] = 0.0
    return strength, k, ab


def _forcing(draw, n, kolmogorov_k, amplitude):
    """Curl of the forcing ``draw`` sampled on the ``n x n`` grid of ``[0, 2 pi)^2``.

    A Kolmogorov shear ``k cos(k y)`` plus the drawn low Fourier modes; every
    term is evaluated exactly at the grid points, so the forcing on a grid of
    ``2 n`` points, taken at every second point, is the forcing on ``n`` points.
    """
    strength, k, ab = draw
    x = 2 * np.pi * np.arange(n) / n
    X, Y = np.meshgrid(x, x, indexing="xy")
    g = kolmogorov_k * np.cos(kolmogorov_k * Y) * strength
    for (kx, ky), (a, b) in zip(k, ab):
        phase = kx * X + ky * Y
        g = g + a * np.cos(phase) + b * np.sin(phase)
    return amplitude * g


def _min_resolution(kolmogorov_k):
    """Smallest grid that resolves every forcing mode: ``3 * max(kolmogorov_k, 3)``.

    The solver keeps the modes with ``|kx|, |ky| <= resolution // 3`` (2/3
    dealiasing); a forcing mode beyond that cut-off can never be balanced, so
    no solve would converge.
    """
    return 3 * max(int(kolmogorov_k), _RANDOM_MODE_MAX)


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "resolution": [Interval(Integral, 1, None, closed="left")],
        "viscosity": [Interval(Real, 0, None, closed="neither")],
        "amplitude": [Interval(Real, 0, None, closed="neither")],
        "kolmogorov_k": [Interval(Integral, 1, None, closed="left")],
        "n_random_modes": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "cache": ["boolean"],
        "data_home": [str, os.PathLike, None],
        "return_info": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_navier_stokes(
    n_samples=100,
    *,
    resolution=32,
    viscosity=0.1,
    amplitude=1.0,
    kolmogorov_k=4,
    n_random_modes=4,
    tol=1e-8,
    cache=True,
    data_home=None,
    return_info=False,
    random_state=None,
):
    """Forcing -> steady vorticity pairs of the 2-D incompressible Navier–Stokes equations.

    Each sample draws a forcing whose curl ``g`` is a Kolmogorov shear mode
    ``k cos(k y)`` (random strength) plus ``n_random_modes`` random Fourier
    modes with ``|kx|, |ky| <= 3``, and solves the steady vorticity equation
    ``(u . grad) w = nu lap(w) + g`` on the 2*pi-periodic grid with a
    pseudo-spectral discretisation (2/3 dealiasing) by a damped Newton–GMRES
    iteration run on all samples at once (exact Jacobian-vector products of
    the advection; continuation in the forcing strength for the draws where
    the direct solve fails). About 10 s per 100 samples at 32 x 32 on 2 cores.
    Samples whose solve does not reach ``tol`` are dropped and counted, and
    replaced by new draws until ``n_samples`` are kept.

    **Same forcings at every resolution.** The forcing's random parameters
    (wavenumbers, amplitudes, shear strength) are drawn independently of the
    grid, one fixed block per draw, and then evaluated on it: for a seed, the
    ``j``-th draw is the same forcing at every ``resolution``, and the forcing
    at ``2 * r`` taken at every second point is the forcing at ``r``. The
    samples of two resolutions are the same forcings whenever the same draws
    converge at both (compare ``info["draw"]``), e.g. to measure how a model
    trained on coarse fields transfers to fine ones. The steady solutions
    agree up to the discretisation error of the coarser grid.

    Parameters
    ----------
    n_samples : int, default=100
        Samples to return.
    resolution : int, default=32
        Grid points per side; at least ``3 * max(kolmogorov_k, 3)`` (12 with
        the default forcing), so that every forcing mode lies inside the 2/3
        dealiasing cut-off ``resolution // 3`` (a forcing mode outside it can
        never be balanced; the forcing is not altered to fit a coarse grid).
    viscosity : float, default=0.1
        ``nu`` (positive, finite); smaller values give steeper, more
        nonlinear steady states (and slower or failing solves).
    amplitude : float, default=1.0
        Scale of the forcing (positive, finite).
    kolmogorov_k : int, default=4
        Wavenumber of the shear mode (at least 1).
    n_random_modes : int, default=4
        Random low modes added per sample.
    tol : float, default=1e-8
        Relative steady residual required to keep a sample (positive, finite).
    cache : bool, default=True
        Read/write the result under :func:`get_data_home` (int seeds only).
    data_home : str or path-like, optional
        Cache folder (default: :func:`~sklearn_implicit.datasets.get_data_home`).
    return_info : bool, default=False
        Also return a dict of the solver's diagnostics: ``residual`` (ndarray
        of shape (n_samples,), the final relative steady residual of each
        sample), ``n_dropped`` (draws whose solve did not converge), ``draw``
        (ndarray of shape (n_samples,), the index of each sample's forcing in
        the seed's sequence of draws), and the ``resolution`` and
        ``viscosity`` of the data.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of shape (n_samples, resolution * resolution)
        Curl of the forcing, flattened row-major (rows are y, columns x).
    y : ndarray of shape (n_samples, resolution * resolution)
        Steady vorticity, flattened the same way.
    info : dict
        Only when ``return_info`` is True.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_navier_stokes
    >>> X, y = make_navier_stokes(3, resolution=16, cache=False, random_state=0)
    >>> X.shape, y.shape
    ((3, 256), (3, 256))
    >>> X, y, info = make_navier_stokes(
    ...     3, resolution=16, cache=False, return_info=True, random_state=0
    ... )
    >>> info["residual"].shape, bool((info["residual"] < 1e-8).all())
    ((3,), True)
    """
    if resolution < _min_resolution(kolmogorov_k):
        raise ValueError(
            f"resolution={resolution} cannot resolve the forcing: its modes reach "
            f"|k| = {max(kolmogorov_k, _RANDOM_MODE_MAX)}, beyond the 2/3 dealiasing cut-off "
            f"resolution // 3 = {resolution // 3}; use resolution >= "
            f"{_min_resolution(kolmogorov_k)} (3 * max(kolmogorov_k, {_RANDOM_MODE_MAX}))."
        )
    params = dict(
        n_samples=int(n_samples),
        resolution=int(resolution),
        viscosity=float(viscosity),
        amplitude=float(amplitude),
        kolmogorov_k=int(kolmogorov_k),
        n_random_modes=int(n_random_modes),
        tol=float(tol),
        random_state=random_state,
        solver="newton-gmres-batch",
        generator=_GENERATOR_VERSION,
    )
    use_cache = cache and isinstance(random_state, (int, np.integer))
    path = cache_path("navier_stokes", params, data_home) if use_cache else None
    if path is not None:
        cached = load_cache(
            path, lambda f: (f["X"], f["y"], f["residual"], int(f["n_dropped"]), f["draw"])
        )
        if cached is not None:
            return _output(*cached, resolution, viscosity, return_info)
    rng = check_random_state(random_state)
    n = int(resolution)
    Xs, ys, res, kept = [], [], [], []
    n_dropped = 0
    max_draws = 20 * int(n_samples) + 20
    draws = 0
    while len(Xs) < n_samples:
        if draws >= max_draws:
            raise RuntimeError(
                f"Only {len(Xs)} of {n_samples} steady states converged after {draws} draws; "
                "raise the viscosity or lower the forcing amplitude."
            )
        # Draw a little more than needed (about 10% of solves fail), solve as a batch.
        m = min(int(np.ceil(1.15 * (n_samples - len(Xs)))) + 2, max_draws - draws)
        batch = [_draw_forcing(rng, int(n_random_modes)) for _ in range(m)]
        G = np.stack([_forcing(d, n, kolmogorov_k, amplitude) for d in batch])
        W, R = solve_steady_batch(G, float(viscosity), float(tol))
        for j, (g, w, r) in enumerate(zip(G, W, R), start=draws):
            if len(Xs) == n_samples:
                break
            if not r <= tol:
                n_dropped += 1
                continue
            Xs.append(g.ravel())
            ys.append(w.ravel())
            res.append(r)
            kept.append(j)
        draws += m
    X, y, residual, draw = np.asarray(Xs), np.asarray(ys), np.asarray(res), np.asarray(kept)
    if path is not None:
        save_cache(path, X=X, y=y, residual=residual, n_dropped=n_dropped, draw=draw)
    return _output(X, y, residual, n_dropped, draw, resolution, viscosity, return_info)


def _output(X, y, residual, n_dropped, draw, resolution, viscosity, return_info):
    """``(X, y)``, or ``(X, y, info)`` with the solver's diagnostics."""
    if not return_info:
        return X, y
    info = {
        "residual": residual,
        "n_dropped": int(n_dropped),
        "draw": np.asarray(draw, dtype=np.intp),
        "resolution": int(resolution),
        "viscosity": float(viscosity),
    }
    return X, y, info
