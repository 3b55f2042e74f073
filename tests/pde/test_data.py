"""make_navier_stokes: converged steady states, determinism, cache, nonlinearity."""

import warnings

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

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
    assert set(info) == {"residual", "n_dropped", "draw", "resolution", "viscosity"}


def test_same_forcing_at_every_resolution():
    # A seed draws the same forcings at every resolution: the fine forcing taken at every
    # second point is the coarse one; the steady states agree up to the coarse grid's
    # discretisation error.
    kwargs = dict(viscosity=0.2, cache=False, return_info=True, random_state=3)
    X16, y16, info16 = make_navier_stokes(6, resolution=16, **kwargs)
    X32, y32, info32 = make_navier_stokes(6, resolution=32, **kwargs)
    np.testing.assert_array_equal(info16["draw"], info32["draw"])
    np.testing.assert_allclose(X32.reshape(6, 32, 32)[:, ::2, ::2].reshape(6, -1), X16, atol=1e-12)
    sub = y32.reshape(6, 32, 32)[:, ::2, ::2].reshape(6, -1)
    rel = np.linalg.norm(sub - y16, axis=1) / np.linalg.norm(sub, axis=1)
    assert rel.max() < 0.1, rel
    # The draws are independent of the batch they are solved in: a prefix is a prefix.
    X4 = make_navier_stokes(4, resolution=16, **kwargs)[0]
    np.testing.assert_array_equal(X4, X16[:4])


def test_old_cache_entries_are_not_reused(tmp_path):
    # The generator's version is part of the cache key: an entry written by another
    # draw of the same seed (version 1) lives under another name and is never read.
    from sklearn_implicit.pde import _data

    make_navier_stokes(2, resolution=16, data_home=tmp_path, random_state=0)
    (path,) = tmp_path.glob("*.npz")
    assert _data._GENERATOR_VERSION >= 2
    params = dict(
        n_samples=2,
        resolution=16,
        viscosity=0.1,
        amplitude=1.0,
        kolmogorov_k=4,
        n_random_modes=4,
        tol=1e-8,
        random_state=0,
        solver="newton-gmres-batch",
    )
    from sklearn_implicit._cache import cache_path

    assert cache_path("navier_stokes", params, tmp_path) != path  # the version-less key
    assert (
        cache_path("navier_stokes", {**params, "generator": _data._GENERATOR_VERSION}, tmp_path)
        == path
    )


@pytest.fixture
def no_solve(monkeypatch):
    """Fail the test if the solver runs: invalid arguments must be refused before it."""
    from sklearn_implicit.pde import _data

    def solve(*args, **kwargs):
        raise AssertionError("the solver ran on invalid arguments")

    monkeypatch.setattr(_data, "solve_steady_batch", solve)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"viscosity": np.inf},  # was a RuntimeError after seconds of solving
        {"viscosity": np.nan},
        {"viscosity": 0.0},
        {"amplitude": np.nan},  # was a RuntimeError after seconds of solving
        {"amplitude": np.inf},
        {"amplitude": 0.0},
        {"tol": -1},  # was a RuntimeError after seconds of solving
        {"tol": 0.0},
        {"tol": np.inf},
        {"n_samples": "3"},  # was an unrelated TypeError
        {"n_samples": 2.5},  # returned 4 samples
        {"n_samples": 0},
        {"resolution": 16.0},
        {"kolmogorov_k": 0},
        {"n_random_modes": -1},
        {"cache": "no"},
        {"return_info": 1},
    ],
    ids=lambda kw: "-".join(f"{k}={v!r}" for k, v in kw.items()),
)
def test_invalid_arguments_are_refused_up_front(kwargs, no_solve):
    # An InvalidParameterError (a ValueError) naming the parameter, before any solve.
    (name,) = kwargs
    args = {"n_samples": 2, "resolution": 16, "cache": False, **kwargs}
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        make_navier_stokes(args.pop("n_samples"), **args)


@pytest.mark.parametrize("kolmogorov_k", [1, 4, 5])
def test_documented_minimum_resolution_works(kolmogorov_k):
    # resolution >= 3 * max(kolmogorov_k, 3): every forcing mode is inside the 2/3 cut-off.
    # The old documented minimum, 8, never converged with the default forcing (k = 4).
    resolution = 3 * max(kolmogorov_k, 3)
    X, y, info = make_navier_stokes(
        3,
        resolution=resolution,
        kolmogorov_k=kolmogorov_k,
        cache=False,
        return_info=True,
        random_state=0,
    )
    assert X.shape == y.shape == (3, resolution**2)
    assert np.all(info["residual"] < 1e-8)
    for xi, wi in zip(X, y):
        g, w = xi.reshape(resolution, resolution), wi.reshape(resolution, resolution)
        assert steady_residual(w, g, 0.1) < 1e-8


@pytest.mark.parametrize("resolution, kolmogorov_k", [(8, 4), (11, 4), (14, 5), (8, 1)])
def test_resolution_below_the_dealiasing_minimum_is_refused(resolution, kolmogorov_k, no_solve):
    # Was a RuntimeError after every draw failed to converge (resolution=8 with the defaults).
    minimum = 3 * max(kolmogorov_k, 3)
    with pytest.raises(ValueError, match=f"resolution >= {minimum}"):
        make_navier_stokes(2, resolution=resolution, kolmogorov_k=kolmogorov_k, cache=False)


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
