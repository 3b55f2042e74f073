"""The pseudo-spectral steady Navier–Stokes solver: analytic case, residual, two solvers agree."""

import numpy as np
import pytest

from sklearn_implicit.pde._data import _draw_forcing, _forcing
from sklearn_implicit.pde._physics import (
    _newton_krylov_batch,
    solve_steady_vorticity,
    steady_residual,
)


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


def test_batched_newton_matches_scipy_newton_krylov():
    # Two independent solvers (batched Newton-GMRES, SciPy's newton_krylov) agree
    # on moderately nonlinear problems where the steady state is unique.
    rng = np.random.RandomState(3)
    G = np.stack([_forcing(_draw_forcing(rng, 3), 16, 2, 0.5) for _ in range(3)])
    W, R = _newton_krylov_batch(G, 0.2, tol=1e-9)
    assert np.all(R < 1e-9)
    for g, w in zip(G, W):
        w_ref, r_ref = solve_steady_vorticity(g, 0.2, tol=1e-9)
        assert r_ref < 1e-9
        np.testing.assert_allclose(w, w_ref, atol=1e-6 * np.abs(w_ref).max())
        assert steady_residual(w, g, 0.2) < 1e-9
