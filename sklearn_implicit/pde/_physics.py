"""Steady 2-D incompressible Navier–Stokes physics: a pseudo-spectral steady vorticity solver.

The vorticity equation ``(u . grad) w = nu lap(w) + g`` on the 2*pi-periodic
grid, discretised with Fourier modes (2/3 dealiasing) and solved by Newton–Krylov:
:func:`solve_steady_vorticity` (one field, SciPy's ``newton_krylov``; the reference)
and :func:`solve_steady_batch` (many fields at once, a batched Newton–GMRES; what
:func:`~sklearn_implicit.pde.make_navier_stokes` uses). :func:`steady_residual`
measures how well a field solves the equation.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft

__all__ = ["solve_steady_batch", "solve_steady_vorticity", "steady_residual"]


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


class _BatchSpectral:
    """Real-FFT operators on a batch of ``n x n`` 2*pi-periodic fields, 2/3 dealiased."""

    def __init__(self, n, nu):
        kx = np.fft.rfftfreq(n, d=1.0 / n)[None, :]
        ky = np.fft.fftfreq(n, d=1.0 / n)[:, None]
        self.n = n
        self.ikx = 1j * kx
        self.iky = 1j * ky
        k2 = kx**2 + ky**2
        self.inv_k2 = np.where(k2 == 0, 0.0, 1.0 / np.where(k2 == 0, 1.0, k2))
        cut = n // 3
        self.dealias = (np.abs(kx) <= cut) & (np.abs(ky) <= cut)
        # (nu lap)^{-1} with the dealiasing folded in; zero on the mean mode.
        self.inv_visc = self.dealias * self.inv_k2 / nu
        self.nu_k2 = nu * k2

    def fft(self, a):
        return sp_fft.rfft2(a, workers=-1)

    def ifft(self, a_hat):
        return sp_fft.irfft2(a_hat, s=(self.n, self.n), workers=-1)

    def velocity_grad(self, w_hat):
        """Physical ``u, v, w_x, w_y`` of a vorticity (``u = psi_y``, ``v = -psi_x``)."""
        psi_hat = w_hat * self.inv_k2
        stacked = np.stack(
            [self.iky * psi_hat, -self.ikx * psi_hat, self.ikx * w_hat, self.iky * w_hat]
        )
        return self.ifft(stacked)

    def advection_hat(self, w_hat):
        u, v, wx, wy = self.velocity_grad(w_hat)
        return self.fft(u * wx + v * wy)


def _newton_krylov_batch(g, nu, *, tol, w0=None, max_iter=30, krylov_dim=30):
    """Damped inexact Newton–GMRES for a batch of steady vorticity equations.

    Solves ``F(w) = (nu lap)^{-1} (g - (u . grad) w) + w = 0`` (the viscously
    preconditioned steady equation, mean of ``w`` pinned to 0) for every field
    of ``g`` (shape ``(B, n, n)``) at once: one GMRES(``krylov_dim``) per Newton
    step with the exact Jacobian-vector product of the advection, and a
    backtracking line search on ``||F||``. Samples stop when the relative
    steady residual (:func:`steady_residual`) is below ``tol``.

    Returns ``(w, residual)`` with ``residual`` the final relative residual
    per sample (``inf`` where the iterate is not finite).
    """
    B, n, _ = g.shape
    sp = _BatchSpectral(n, nu)
    g_hat = sp.fft(g)
    g_hat[:, 0, 0] = 0.0
    g_norm = np.maximum(np.sqrt((sp.ifft(g_hat) ** 2).sum(axis=(1, 2))), 1e-300)
    if w0 is None:
        w_hat = g_hat * sp.inv_k2 / nu
    else:
        w_hat = sp.fft(np.asarray(w0, dtype=np.float64).reshape(B, n, n))
        w_hat[:, 0, 0] = 0.0

    def f_hat(w_hat, g_hat):
        adv = sp.advection_hat(w_hat) * sp.dealias
        r_hat = -sp.nu_k2 * w_hat - adv + g_hat
        steady = np.sqrt((sp.ifft(r_hat) ** 2).sum(axis=(1, 2)))
        F = (g_hat - adv) * sp.inv_visc - w_hat
        F[:, 0, 0] = -w_hat[:, 0, 0]
        return F, steady

    F, steady = f_hat(w_hat, g_hat)
    residual = steady / g_norm
    failed = ~np.isfinite(residual)
    for _ in range(max_iter):
        active = np.flatnonzero(~(residual <= tol) & ~failed)
        if active.size == 0:
            break
        wa, ga, Fa = w_hat[active], g_hat[active], F[active]
        fields = sp.velocity_grad(wa)  # u, v, w_x, w_y at the current iterate

        def jvp(x, fields=fields):
            """Jacobian of F at ``wa`` applied to real fields ``x`` (b, n, n)."""
            x_hat = sp.fft(x)
            du, dv, dwx, dwy = sp.velocity_grad(x_hat)
            u, v, wx, wy = fields
            dadv = sp.fft(du * wx + dv * wy + u * dwx + v * dwy)
            J_hat = -dadv * sp.inv_visc - x_hat
            J_hat[:, 0, 0] = -x_hat[:, 0, 0]
            return sp.ifft(J_hat)

        rhs = -sp.ifft(Fa)
        f_norm = np.sqrt((rhs**2).sum(axis=(1, 2)))
        eta = np.minimum(1e-2, np.sqrt(f_norm))  # inexact Newton forcing term
        delta = _gmres_batch(jvp, rhs, krylov_dim, eta)
        # Backtracking line search on ||F||, per sample.
        w_cur = sp.ifft(wa)
        step = np.ones(active.size)
        todo = np.arange(active.size)
        for _ in range(12):
            cand = sp.fft(w_cur[todo] + step[todo, None, None] * delta[todo])
            Fc, sc = f_hat(cand, ga[todo])
            Fn = np.sqrt((sp.ifft(Fc) ** 2).sum(axis=(1, 2)))
            ok = np.isfinite(Fn) & (Fn <= (1 - 1e-4 * step[todo]) * f_norm[todo])
            idx = active[todo[ok]]
            w_hat[idx], F[idx], residual[idx] = cand[ok], Fc[ok], sc[ok] / g_norm[idx]
            todo = todo[~ok]
            if todo.size == 0:
                break
            step[todo] *= 0.5
        failed[active[todo]] = True  # no decrease along the Newton direction: stalled
    residual = np.where(failed & ~(residual <= tol), np.inf, residual)
    w = sp.ifft(w_hat)
    bad = ~np.isfinite(w).all(axis=(1, 2))
    residual[bad] = np.inf
    return w, residual


def _gmres_batch(matvec, b, m, rtol):
    """GMRES(m) without restarts for a batch of systems ``A_i x_i = b_i`` (real fields).

    Arnoldi with modified Gram-Schmidt over the flattened fields, then the
    small least-squares problems solved with a batched QR. Stops early when
    every system's residual estimate is below ``rtol * ||b||``.
    """
    shape = b.shape
    nb = shape[0]
    bf = b.reshape(nb, -1)
    beta = np.linalg.norm(bf, axis=1)
    safe = np.where(beta == 0, 1.0, beta)
    V = np.zeros((m + 1, nb, bf.shape[1]))
    H = np.zeros((nb, m + 1, m))
    V[0] = bf / safe[:, None]
    k_used = m
    for j in range(m):
        wv = matvec(V[j].reshape(shape)).reshape(nb, -1)
        for i in range(j + 1):
            h = np.einsum("bi,bi->b", wv, V[i])
            H[:, i, j] = h
            wv -= h[:, None] * V[i]
        h = np.linalg.norm(wv, axis=1)
        H[:, j + 1, j] = h
        V[j + 1] = wv / np.where(h > 1e-300, h, 1.0)[:, None]
        # Residual estimate of the (j+1)-step least-squares solution.
        Hj = H[:, : j + 2, : j + 1]
        e1 = np.zeros((nb, j + 2))
        e1[:, 0] = beta
        y = _lstsq_batch(Hj, e1)
        res = np.linalg.norm(e1 - np.einsum("bij,bj->bi", Hj, y), axis=1)
        if np.all(res <= rtol * safe):
            k_used = j + 1
            break
    else:
        Hj = H[:, : m + 1, :m]
        e1 = np.zeros((nb, m + 1))
        e1[:, 0] = beta
        y = _lstsq_batch(Hj, e1)
    x = np.einsum("bj,jbi->bi", y, V[:k_used])
    return x.reshape(shape)


def _lstsq_batch(H, rhs):
    """Least-squares solutions of stacked small problems ``min ||H_b y - rhs_b||``."""
    Q, R = np.linalg.qr(H)
    qtb = np.einsum("bij,bi->bj", Q, rhs)
    diag = np.abs(np.diagonal(R, axis1=1, axis2=2))
    R = R + np.eye(R.shape[-1]) * (diag < 1e-14)[:, None, :]  # guard breakdowns
    return np.linalg.solve(R, qtb[..., None])[..., 0]


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


def solve_steady_batch(G, nu, tol, steps=(0.25, 0.5, 0.75, 1.0)):
    """Batched Newton–GMRES from the Stokes solution; continuation in the forcing for failures.

    Newton from the Stokes solution can miss the steady state of a strongly
    nonlinear problem; solving for ``s * g`` with ``s`` increasing, each from the
    previous solution, reaches it far more often.

    Parameters
    ----------
    G : ndarray of shape (n_fields, n, n)
        Curls of the forcings.
    nu : float
        Viscosity.
    tol : float
        Target relative residual (see :func:`steady_residual`).
    steps : tuple of float, default=(0.25, 0.5, 0.75, 1.0)
        Forcing scales of the continuation.

    Returns
    -------
    W : ndarray of shape (n_fields, n, n)
        Steady vorticities.
    R : ndarray of shape (n_fields,)
        Final relative residuals (``inf`` where the iterate is not finite);
        fields with ``R > tol`` did not converge.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.pde._physics import solve_steady_batch, steady_residual
    >>> y = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    >>> G = np.stack([np.tile(np.cos(k * y)[:, None], (1, 16)) for k in (1, 2)])
    >>> W, R = solve_steady_batch(G, 0.1, 1e-8)
    >>> W.shape, bool((R < 1e-8).all()), steady_residual(W[1], G[1], 0.1) < 1e-8
    ((2, 16, 16), True, True)
    """
    W, R = _newton_krylov_batch(G, nu, tol=tol)
    bad = np.flatnonzero(~(R <= tol))
    if bad.size:
        w = None
        for s in steps:
            w, r = _newton_krylov_batch(s * G[bad], nu, tol=tol, w0=w)
        W[bad], R[bad] = w, r
    return W, R
