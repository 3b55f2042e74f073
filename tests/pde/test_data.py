import numpy as np
import pytest

from sklearn_implicit.pde import make_navier_stokes
from sklearn_implicit.pde._data import solve_steady_vorticity, steady_residual


def test_kolmogorov_mode_analytic():
    # A single shear mode g = k cos(k y) has zero advection: w = g / (nu k^2) exactly.
    n, k, nu = 16, 2, 0.05
    y = np.linspace(0, 2 * np.pi, n, endpoint=False)
    g = np.tile((k * np.cos(k * y))[:, None], (1, n))
    w, r = solve_steady_vorticity(g, nu)
    np.testing.assert_allclose(w, g / (nu * k**2), atol=1e-8)
    assert r < 1e-8


def test_residual_detects_wrong_field():
    n = 16
    y = np.linspace(0, 2 * np.pi, n, endpoint=False)
    g = np.tile(np.cos(y)[:, None], (1, n))
    assert steady_residual(np.zeros_like(g), g, 0.1) == pytest.approx(1.0)


def test_make_navier_stokes_residual_deterministic_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLEARN_IMPLICIT_DATA", str(tmp_path))
    a = make_navier_stokes(4, resolution=16, random_state=0)
    assert a.X.shape == (4, 256) and a.y.shape == (4, 256)
    assert np.all(a.residual < 1e-8)
    for xi, wi in zip(a.X, a.y):
        assert steady_residual(wi.reshape(16, 16), xi.reshape(16, 16), a.viscosity) < 1e-8
    b = make_navier_stokes(4, resolution=16, random_state=0)
    np.testing.assert_array_equal(a.y, b.y)
    assert any(tmp_path.rglob("*.npz"))
    c = make_navier_stokes(4, resolution=16, cache=False, random_state=0)
    np.testing.assert_allclose(a.y, c.y)


def test_make_navier_stokes_invalid():
    with pytest.raises(ValueError):
        make_navier_stokes(2, viscosity=0.0, cache=False)


def test_batched_newton_matches_scipy_newton_krylov():
    # Two independent solvers (batched Newton-GMRES, SciPy's newton_krylov) agree
    # on moderately nonlinear problems where the steady state is unique.
    from sklearn_implicit.pde._data import _forcing, _newton_krylov_batch

    rng = np.random.RandomState(3)
    G = np.stack([_forcing(rng, 16, 2, 3, 0.5) for _ in range(3)])
    W, R = _newton_krylov_batch(G, 0.2, tol=1e-9)
    assert np.all(R < 1e-9)
    for g, w in zip(G, W):
        w_ref, r_ref = solve_steady_vorticity(g, 0.2, tol=1e-9)
        assert r_ref < 1e-9
        np.testing.assert_allclose(w, w_ref, atol=1e-6 * np.abs(w_ref).max())
        assert steady_residual(w, g, 0.2) < 1e-9


def test_batched_newton_is_nonlinear():
    # At the default viscosity the steady state is far from the Stokes (linear) solution,
    # so the learning problem is genuinely nonlinear.
    data = make_navier_stokes(4, resolution=16, cache=False, random_state=1)
    n = 16
    k = np.fft.fftfreq(n, d=1.0 / n)
    k2 = k[None, :] ** 2 + k[:, None] ** 2
    k2[0, 0] = 1.0
    g_hat = np.fft.fft2(data.X.reshape(-1, n, n))
    stokes = np.real(np.fft.ifft2(g_hat / (data.viscosity * k2))).reshape(4, -1)
    rel = np.linalg.norm(data.y - stokes, axis=1) / np.linalg.norm(data.y, axis=1)
    assert np.all(rel > 0.1)
