"""Steady 2-D incompressible Navier–Stokes: forcing -> vorticity, by a pseudo-spectral solver."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._base import cache_path

__all__ = ["make_navier_stokes", "steady_residual", "solve_steady_vorticity"]


class _Spectral:
    """Fourier operators on the 2*pi-periodic ``n x n`` grid, with 2/3 dealiasing."""

    def __init__(self, n):
        k = np.fft.fftfreq(n, d=1.0 / n)
        self.kx, self.ky = np.meshgrid(k, k, indexing="xy")  # x along columns, y along rows
        self.k2 = self.kx**2 + self.ky**2
        self.k2_safe = np.where(self.k2 == 0, 1.0, self.k2)
        cut = n // 3
        self.dealias = (np.abs(self.kx) <= cut) & (np.abs(self.ky) <= cut)

    def residual_hat(self, w_hat, g_hat, nu):
        """Fourier transform of ``nu * lap(w) - (u . grad) w + g``."""
        psi_hat = w_hat / self.k2_safe  # -lap(psi) = w
        psi_hat[0, 0] = 0.0
        u = np.real(np.fft.ifft2(1j * self.ky * psi_hat))  # u = psi_y
        v = np.real(np.fft.ifft2(-1j * self.kx * psi_hat))  # v = -psi_x
        wx = np.real(np.fft.ifft2(1j * self.kx * w_hat))
        wy = np.real(np.fft.ifft2(1j * self.ky * w_hat))
        adv_hat = np.fft.fft2(u * wx + v * wy) * self.dealias
        return -nu * self.k2 * w_hat - adv_hat + g_hat


def steady_residual(w, g, nu):
    """Relative residual ``||nu lap(w) - (u . grad) w + g|| / ||g||`` of a vorticity field.

    Parameters
    ----------
    w, g : ndarray of shape (n, n)
        Vorticity and curl of the forcing on the 2*pi-periodic grid.
    nu : float
        Viscosity.

    Returns
    -------
    float
    """
    sp = _Spectral(w.shape[0])
    r = np.real(np.fft.ifft2(sp.residual_hat(np.fft.fft2(w), np.fft.fft2(g), nu)))
    return float(np.linalg.norm(r) / max(np.linalg.norm(g), 1e-300))


def solve_steady_vorticity(g, nu, *, tol=1e-8, max_iter=200, w0=None):
    """Steady vorticity for the forcing curl ``g`` by Newton–Krylov in Fourier space.

    Solves ``nu lap(w) - (u . grad) w + g = 0`` with ``u = (psi_y, -psi_x)``,
    ``-lap(psi) = w``, on the 2*pi-periodic grid; the zero mode of ``w`` is
    fixed to 0. The residual is preconditioned by the viscous operator, so
    Newton's iteration works on ``w + (nu lap)^{-1} (-(u . grad) w + g)``.

    Parameters
    ----------
    g : ndarray of shape (n, n)
        Curl of the forcing (zero mean).
    nu : float
        Viscosity.
    tol : float, default=1e-8
        Target relative residual (see :func:`steady_residual`).
    max_iter : int, default=200
        Newton iterations.
    w0 : ndarray, optional
        Starting vorticity (default: the Stokes solution ``g / (nu k^2)``).

    Returns
    -------
    w : ndarray of shape (n, n)
    residual : float
        Final relative residual.
    """
    from scipy.optimize import NoConvergence, newton_krylov

    n = g.shape[0]
    sp = _Spectral(n)
    g_hat = np.fft.fft2(g)
    g_hat[0, 0] = 0.0
    if w0 is None:
        w0_hat = g_hat / (nu * sp.k2_safe)
        w0_hat[0, 0] = 0.0
        w0 = np.real(np.fft.ifft2(w0_hat))
    scale = max(np.linalg.norm(g), 1e-300)

    def precond_residual(w_flat):
        w_hat = np.fft.fft2(w_flat.reshape(n, n))
        r_hat = sp.residual_hat(w_hat, g_hat, nu)
        r_hat = r_hat / (nu * sp.k2_safe)
        r_hat[0, 0] = w_hat[0, 0]  # pin the mean of w to zero
        return np.real(np.fft.ifft2(r_hat)).ravel()

    try:
        w = newton_krylov(
            precond_residual,
            w0.ravel(),
            f_tol=1e-3 * tol * scale / (nu * n),
            maxiter=max_iter,
            method="lgmres",
        )
    except NoConvergence as exc:
        w = np.asarray(exc.args[0])
    except (ValueError, FloatingPointError):
        w = np.full(n * n, np.nan)
    w = np.asarray(w).reshape(n, n)
    if not np.all(np.isfinite(w)):
        return w, float("inf")
    return w, steady_residual(w, g, nu)


def _solve_with_continuation(g, nu, tol, steps=(0.25, 0.5, 0.75, 1.0)):
    """Direct Newton–Krylov solve; if it fails, follow the forcing up from a fraction of it.

    Newton from the Stokes solution can miss the steady state of a strongly
    nonlinear problem; solving for ``s * g`` with ``s`` increasing, each from the
    previous solution, reaches it far more often.
    """
    # A direct solve that converges does so in a few Newton steps; give up early.
    w, r = solve_steady_vorticity(g, nu, tol=tol, max_iter=20)
    if r <= tol:
        return w, r
    w = None
    for s in steps:
        w, r = solve_steady_vorticity(s * g, nu, tol=tol, w0=w)
        if not r <= tol:
            return w, r
    return w, r


def _forcing(rng, n, kolmogorov_k, n_modes, amplitude):
    """Curl of a Kolmogorov shear forcing plus random low Fourier modes (zero mean)."""
    x = np.linspace(0, 2 * np.pi, n, endpoint=False)
    X, Y = np.meshgrid(x, x, indexing="xy")
    g = kolmogorov_k * np.cos(kolmogorov_k * Y) * (1.0 + 0.5 * rng.uniform(-1, 1))
    for _ in range(n_modes):
        kx, ky = rng.randint(-3, 4, size=2)
        if kx == 0 and ky == 0:
            continue
        a, b = rng.normal(scale=0.5, size=2)
        g += a * np.cos(kx * X + ky * Y) + b * np.sin(kx * X + ky * Y)
    return amplitude * g


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
    random_state=None,
):
    """Forcing -> steady vorticity pairs of the 2-D incompressible Navier–Stokes equations.

    Each sample draws a forcing whose curl ``g`` is a Kolmogorov shear mode
    ``k cos(k y)`` (random strength) plus ``n_random_modes`` random Fourier
    modes with ``|kx|, |ky| <= 3``, and solves the steady vorticity equation
    ``(u . grad) w = nu lap(w) + g`` on the 2*pi-periodic grid with a
    pseudo-spectral discretisation (2/3 dealiasing) and Newton–Krylov (with
    continuation in the forcing strength when the direct solve fails).
    Samples whose solve does not reach ``tol`` are dropped and counted, and
    replaced by new draws until ``n_samples`` are kept.

    Parameters
    ----------
    n_samples : int, default=100
        Samples to return.
    resolution : int, default=32
        Grid points per side.
    viscosity : float, default=0.1
        ``nu``; smaller values give steeper, more nonlinear steady states
        (and slower or failing solves).
    amplitude : float, default=1.0
        Scale of the forcing.
    kolmogorov_k : int, default=4
        Wavenumber of the shear mode.
    n_random_modes : int, default=4
        Random low modes added per sample.
    tol : float, default=1e-8
        Relative steady residual required to keep a sample.
    cache : bool, default=True
        Read/write the result under :func:`get_data_home` (int seeds only).
    data_home : str, optional
        Cache folder.
    random_state : int, RandomState instance or None
        Seed.

    Returns
    -------
    data : Bunch
        ``X`` (n_samples, resolution * resolution): curl of the forcing,
        flattened row-major (rows are y, columns x);
        ``y`` (n_samples, resolution * resolution): steady vorticity;
        ``residual`` (n_samples,): final relative residual of each kept sample;
        ``n_dropped``: solves that did not converge; ``resolution``,
        ``viscosity``.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_navier_stokes
    >>> data = make_navier_stokes(3, resolution=16, cache=False, random_state=0)
    >>> data.X.shape, data.y.shape, bool((data.residual < 1e-8).all())
    ((3, 256), (3, 256), True)
    """
    if int(n_samples) < 1 or int(resolution) < 8:
        raise ValueError(
            f"n_samples must be >= 1 and resolution >= 8, got {n_samples!r} and {resolution!r}."
        )
    if not viscosity > 0:
        raise ValueError(f"viscosity must be positive, got {viscosity!r}.")
    params = dict(
        n_samples=int(n_samples),
        resolution=int(resolution),
        viscosity=float(viscosity),
        amplitude=float(amplitude),
        kolmogorov_k=int(kolmogorov_k),
        n_random_modes=int(n_random_modes),
        tol=float(tol),
        random_state=random_state,
    )
    use_cache = cache and isinstance(random_state, (int, np.integer))
    path = cache_path("navier_stokes", params, data_home) if use_cache else None
    if path is not None and path.exists():
        with np.load(path) as f:
            return Bunch(
                X=f["X"],
                y=f["y"],
                residual=f["residual"],
                n_dropped=int(f["n_dropped"]),
                resolution=int(resolution),
                viscosity=float(viscosity),
            )
    rng = check_random_state(random_state)
    n = int(resolution)
    Xs, ys, res = [], [], []
    n_dropped = 0
    max_draws = 20 * int(n_samples) + 20
    draws = 0
    while len(Xs) < n_samples:
        if draws >= max_draws:
            raise RuntimeError(
                f"Only {len(Xs)} of {n_samples} steady states converged after {draws} draws; "
                "raise the viscosity or lower the forcing amplitude."
            )
        draws += 1
        g = _forcing(rng, n, kolmogorov_k, n_random_modes, amplitude)
        w, r = _solve_with_continuation(g, viscosity, tol)
        if not r <= tol:
            n_dropped += 1
            continue
        Xs.append(g.ravel())
        ys.append(w.ravel())
        res.append(r)
    data = Bunch(
        X=np.asarray(Xs),
        y=np.asarray(ys),
        residual=np.asarray(res),
        n_dropped=n_dropped,
        resolution=n,
        viscosity=float(viscosity),
    )
    if path is not None:
        np.savez(path, X=data.X, y=data.y, residual=data.residual, n_dropped=n_dropped)
    return data
