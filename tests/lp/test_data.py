import numpy as np
import pytest
from scipy.optimize import linprog
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_implicit.lp import make_linear_programs

SMALL = dict(n_constraints=4, n_variables=7, nnz=12)


def _check_optimal(X, y, rtol=1e-6):
    for i in range(len(X)):
        kw = X.to_linprog(i)
        yi = y[i, : X.n_variables[i]]
        bounds = kw["bounds"]
        assert np.all(yi >= bounds[:, 0] - 1e-7) and np.all(yi <= bounds[:, 1] + 1e-7)
        if kw["A_ub"] is not None:
            assert np.all(kw["A_ub"] @ yi <= kw["b_ub"] + 1e-7)
        if kw["A_eq"] is not None:
            np.testing.assert_allclose(kw["A_eq"] @ yi, kw["b_eq"], atol=1e-7)
        # An independent solve (interior point) must reach the same optimal value.
        ref = linprog(method="highs-ipm", **kw)
        assert ref.status == 0
        assert abs(kw["c"] @ yi - ref.fun) <= rtol * (1 + abs(ref.fun))


def test_deterministic_per_seed():
    X1, y1 = make_linear_programs(6, **SMALL, cache=False, random_state=3)
    X2, y2 = make_linear_programs(6, **SMALL, cache=False, random_state=3)
    X3, y3 = make_linear_programs(6, **SMALL, cache=False, random_state=4)
    np.testing.assert_array_equal(X1.to_flat(), X2.to_flat())
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1.to_flat(), X3.to_flat())


def test_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLEARN_IMPLICIT_DATA", str(tmp_path))
    X1, y1, info1 = make_linear_programs(5, **SMALL, return_info=True, random_state=1)
    assert len(list(tmp_path.iterdir())) == 1
    X2, y2, info2 = make_linear_programs(5, **SMALL, return_info=True, random_state=1)
    np.testing.assert_array_equal(X1.to_flat(), X2.to_flat())
    np.testing.assert_array_equal(y1, y2)
    assert info1 == info2


def test_paper_sizes_and_distributions():
    X, y, info = make_linear_programs(8, cache=False, return_info=True, random_state=0)
    assert len(X) == 8 and y.shape == (8, 50)
    assert X.padded_shape == (10, 50)
    assert np.all((X.block("A") != 0).sum(axis=(1, 2)) == 100)
    assert np.all(np.abs(X.block("c")) <= 0.01)
    assert np.all(X.block("lower") <= X.block("upper"))
    assert info["n_generated"] == 8 + info["n_dropped"]
    assert info["n_dropped"] == info["n_infeasible"] + info["n_unbounded"] + info["n_failed"]


def test_targets_are_highs_optimal():
    X, y = make_linear_programs(6, **SMALL, cache=False, random_state=0)
    _check_optimal(X, y)


def test_min_norm_targets_optimal_and_not_longer():
    X, y_min = make_linear_programs(4, **SMALL, target="min_norm", cache=False, random_state=0)
    _, y = make_linear_programs(4, **SMALL, cache=False, random_state=0)
    _check_optimal(X, y_min, rtol=1e-5)
    assert np.all(np.linalg.norm(y_min, axis=1) <= np.linalg.norm(y, axis=1) + 1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"nnz": 1000, "n_constraints": 2, "n_variables": 3},
        {"p_equality": 1.5},
        {"target": "l1"},
    ],
)
def test_bad_arguments(kwargs):
    args = {"n_samples": 2, "cache": False, **kwargs}
    with pytest.raises(ValueError):
        make_linear_programs(args.pop("n_samples"), **args)


def test_corrupt_cache_is_regenerated_with_a_warning(tmp_path):
    X1, y1, info1 = make_linear_programs(
        4, **SMALL, data_home=tmp_path, return_info=True, random_state=2
    )
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match=path.name):
        X2, y2, info2 = make_linear_programs(
            4, **SMALL, data_home=tmp_path, return_info=True, random_state=2
        )
    np.testing.assert_array_equal(X1.to_flat(), X2.to_flat())
    np.testing.assert_array_equal(y1, y2)
    assert info1 == info2
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p_equality": "a"},  # was an unclear TypeError from a comparison
        {"p_equality": np.nan},
        {"n_samples": 2.5},
        {"n_constraints": "4"},
        {"nnz": -1},
        {"cache": "no"},
        {"data_home": 3},
    ],
    ids=lambda kw: "-".join(f"{k}={v!r}" for k, v in kw.items()),
)
def test_invalid_arguments_are_refused(kwargs):
    (name,) = kwargs
    args = {"n_samples": 2, **SMALL, "cache": False, **kwargs}
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        make_linear_programs(args.pop("n_samples"), **args)
