"""make_navier_stokes: converged steady states, determinism, cache, nonlinearity."""

import warnings

import numpy as np
import pytest

from sklearn_implicit.pde import make_navier_stokes
from sklearn_implicit.pde._physics import steady_residual


def test_make_navier_stokes_residual_deterministic_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLEARN_IMPLICIT_DATA", str(tmp_path))
    X, y, info = make_navier_stokes(4, resolution=16, return_info=True, random_state=0)
    assert X.shape == (4, 256) and y.shape == (4, 256)
    assert info["residual"].shape == (4,) and np.all(info["residual"] < 1e-8)
    assert info["resolution"] == 16 and info["viscosity"] == 0.1
    for xi, wi in zip(X, y):
        assert steady_residual(wi.reshape(16, 16), xi.reshape(16, 16), 0.1) < 1e-8
    X2, y2, info2 = make_navier_stokes(4, resolution=16, return_info=True, random_state=0)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(info["residual"], info2["residual"])
    assert info["n_dropped"] == info2["n_dropped"]
    assert any(tmp_path.rglob("*.npz"))
    X3, y3 = make_navier_stokes(4, resolution=16, cache=False, random_state=0)
    np.testing.assert_array_equal(X, X3)
    np.testing.assert_allclose(y, y3)


def test_returns_X_y_by_default_and_info_behind_a_flag():
    # One convention for every make_*: (X, y), extras behind return_info.
    out = make_navier_stokes(2, resolution=16, cache=False, random_state=0)
    assert isinstance(out, tuple) and len(out) == 2
    X, y, info = make_navier_stokes(2, resolution=16, cache=False, return_info=True, random_state=0)
    np.testing.assert_array_equal(out[0], X)
    np.testing.assert_array_equal(out[1], y)
    assert set(info) == {"residual", "n_dropped", "resolution", "viscosity"}


def test_make_navier_stokes_invalid():
    with pytest.raises(ValueError):
        make_navier_stokes(2, viscosity=0.0, cache=False)


def test_batched_newton_is_nonlinear():
    # At the default viscosity the steady state is far from the Stokes (linear) solution,
    # so the learning problem is genuinely nonlinear.
    X, y = make_navier_stokes(4, resolution=16, cache=False, random_state=1)
    n = 16
    k = np.fft.fftfreq(n, d=1.0 / n)
    k2 = k[None, :] ** 2 + k[:, None] ** 2
    k2[0, 0] = 1.0
    g_hat = np.fft.fft2(X.reshape(-1, n, n))
    stokes = np.real(np.fft.ifft2(g_hat / (0.1 * k2))).reshape(4, -1)
    rel = np.linalg.norm(y - stokes, axis=1) / np.linalg.norm(y, axis=1)
    assert np.all(rel > 0.1)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_cache_is_regenerated_with_a_warning(tmp_path, damage):
    kwargs = dict(resolution=16, data_home=tmp_path, random_state=0)
    X, y = make_navier_stokes(3, **kwargs)
    (path,) = tmp_path.glob("*.npz")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"\x00garbage" * 64)
    with pytest.warns(UserWarning, match=path.name):
        again = make_navier_stokes(3, **kwargs)
    np.testing.assert_array_equal(again[0], X)
    np.testing.assert_array_equal(again[1], y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the entry was rewritten whole
        np.testing.assert_array_equal(make_navier_stokes(3, **kwargs)[1], y)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_interrupted_cache_write_leaves_no_file(tmp_path, monkeypatch):
    from sklearn_implicit import _cache

    def interrupted(file, **arrays):
        file.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(_cache.np, "savez_compressed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_navier_stokes(2, resolution=16, data_home=tmp_path, random_state=0)
    assert list(tmp_path.iterdir()) == []
