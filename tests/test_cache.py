"""The data-set cache: atomic writes, corrupt entries regenerated with a warning."""

import os
import warnings

import numpy as np
import pytest

from sklearn_implicit import _cache
from sklearn_implicit._cache import cache_path, get_data_home, load_cache, save_cache


def test_get_data_home_env_and_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLEARN_IMPLICIT_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env" and (tmp_path / "env").is_dir()
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"


def test_cache_path_depends_on_params(tmp_path):
    a = cache_path("gen", {"n": 1, "seed": 0}, tmp_path)
    assert a == cache_path("gen", {"seed": 0, "n": 1}, tmp_path)
    assert a != cache_path("gen", {"n": 2, "seed": 0}, tmp_path)
    assert a.parent == tmp_path and a.name.startswith("gen-") and a.suffix == ".npz"


def test_roundtrip_and_missing(tmp_path):
    path = tmp_path / "entry.npz"
    assert load_cache(path, lambda f: f["x"]) is None
    save_cache(path, x=np.arange(4.0), n=3)
    x, n = load_cache(path, lambda f: (f["x"], int(f["n"])))
    np.testing.assert_array_equal(x, np.arange(4.0))
    assert n == 3
    assert os.listdir(tmp_path) == ["entry.npz"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # truncated (an interrupted in-place write)
        lambda raw: b"garbage" * 10,  # not a zip archive
        lambda raw: b"",  # empty
    ],
)
def test_corrupt_entry_is_reported_as_missing(tmp_path, damage):
    path = tmp_path / "entry.npz"
    save_cache(path, x=np.arange(1000.0))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(UserWarning, match="entry.npz"):
        assert load_cache(path, lambda f: f["x"]) is None


def test_missing_array_is_reported_as_missing(tmp_path):
    path = tmp_path / "entry.npz"
    save_cache(path, x=np.arange(3))
    with pytest.warns(UserWarning, match="KeyError"):
        assert load_cache(path, lambda f: f["y"]) is None


def test_failed_save_leaves_no_partial_file_and_keeps_the_old_entry(tmp_path, monkeypatch):
    path = tmp_path / "entry.npz"
    save_cache(path, x=np.arange(3))

    def fail_midway(file, **arrays):
        file.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(_cache.np, "savez_compressed", fail_midway)
    with pytest.raises(KeyboardInterrupt):
        save_cache(path, x=np.arange(5))
    assert os.listdir(tmp_path) == ["entry.npz"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_cache(path, lambda f: f["x"]), np.arange(3))
