import numpy as np
import pytest

from sklearn_implicit.datasets import make_navier_stokes
from sklearn_implicit.datasets._navier_stokes import solve_steady_vorticity, steady_residual


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
