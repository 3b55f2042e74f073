import numpy as np
import pytest
from sklearn.model_selection import KFold, train_test_split
from sklearn.utils import _safe_indexing

from sklearn_implicit.lp import LinearPrograms, lp_relative_error


def _lps(sizes, seed=0):
    rng = np.random.RandomState(seed)
    A, b, c, lo, up, eq = [], [], [], [], [], []
    for m, n in sizes:
        A.append(rng.randn(m, n) * (rng.rand(m, n) < 0.5))
        b.append(rng.uniform(-1, 1, m))
        c.append(rng.uniform(-1, 1, n))
        bounds = np.sort(rng.normal(0, 10, (n, 2)), axis=1)
        lo.append(bounds[:, 0])
        up.append(bounds[:, 1])
        eq.append(rng.rand(m) < 0.3)
    return LinearPrograms(A, b, c, lo, up, eq)


def test_indexing_like_an_array():
    X = _lps([(2, 3), (4, 5), (3, 2)])
    assert len(X) == 3 and X.shape == (3,) and X.padded_shape == (4, 5)
    lp = X[1]
    assert lp["A"].shape == (4, 5) and lp["b"].shape == (4,)
    sub = X[np.array([2, 0])]
    assert sub.n_variables.tolist() == [2, 3]
    np.testing.assert_array_equal(sub[0]["A"], X[2]["A"])
    assert len(X[np.array([True, False, True])]) == 2
    assert len(X[1:]) == 2
    assert len(_safe_indexing(X, [0, 2])) == 2
    with pytest.raises(IndexError):
        X[5]


def test_sklearn_splitters():
    X = _lps([(2, 3)] * 6)
    y = np.arange(18.0).reshape(6, 3)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=2, random_state=0)
    assert isinstance(Xtr, LinearPrograms) and len(Xtr) == 4 and len(Xte) == 2
    for tr, _te in KFold(3).split(X):
        assert len(X[tr]) == 4


def test_flat_encoding_and_concatenate():
    X = _lps([(2, 3), (4, 5)])
    flat = X.to_flat()
    M, N = X.padded_shape
    assert flat.shape == (2, 4 + 2 * M + 3 * N + M * N)
    np.testing.assert_array_equal(flat[:, :4], [[2, 3, 4, 5], [4, 5, 4, 5]])
    Z = LinearPrograms.concatenate([X[:1], _lps([(6, 7)])])
    assert Z.padded_shape == (6, 7) and Z.n_variables.tolist() == [3, 7]
    np.testing.assert_array_equal(Z[0]["A"], X[0]["A"])


def test_to_linprog_splits_constraint_types():
    X = LinearPrograms(
        A=[np.eye(2)],
        b=[[1.0, 2.0]],
        c=[[1.0, 1.0]],
        lower=[[0, 0]],
        upper=[[3, 3]],
        is_equality=[[True, False]],
    )
    kw = X.to_linprog(0)
    np.testing.assert_array_equal(kw["A_eq"], [[1.0, 0.0]])
    np.testing.assert_array_equal(kw["b_ub"], [2.0])


@pytest.mark.parametrize("bad", ["nan", "-inf upper", "+inf lower", "order", "size"])
def test_invalid_instances(bad):
    lo, up, b = [[0.0, 0.0]], [[1.0, 1.0]], [[1.0]]
    if bad == "nan":
        up = [[np.nan, 1.0]]
    if bad == "-inf upper":
        lo, up = [[-np.inf, 0.0]], [[-np.inf, 1.0]]
    if bad == "+inf lower":
        lo, up = [[np.inf, 0.0]], [[np.inf, 1.0]]
    if bad == "order":
        lo = [[2.0, 0.0]]
    if bad == "size":
        b = [[1.0, 2.0]]
    with pytest.raises(ValueError):
        LinearPrograms([np.ones((1, 2))], b, [[1.0, 1.0]], lo, up, [[False]])


def test_error_metric():
    y = np.array([[3.0, 4.0, np.nan], [0.0, 0.0, 0.0]])
    p = np.array([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0]])
    assert lp_relative_error(y, p) == pytest.approx((0.0 + 1.0 / 1.0) / 2)
    with pytest.raises(ValueError):
        lp_relative_error(y, p[:, :2])


def _one_lp():
    return {
        "A": np.array([[1.0, 2.0], [0.0, 1.0]]),
        "b": np.array([1.0, 2.0]),
        "c": np.array([1.0, -1.0]),
        "lower": np.zeros(2),
        "upper": np.ones(2),
        "is_equality": np.array([True, False]),
    }


def _build(lps):
    """The container through its constructor (one list per block)."""
    keys = ("A", "b", "c", "lower", "upper", "is_equality")
    return LinearPrograms(*[[lp[k] for lp in lps] for k in keys])


@pytest.mark.parametrize("block", ["A", "b", "c"])
def test_complex_inputs_are_refused(block):
    lp = _one_lp()
    lp[block] = lp[block] + 1j
    with pytest.raises(ValueError, match=rf"{block}\[0\] has complex values"):
        _build([lp])


def test_complex_block_replacement_is_refused():
    X = LinearPrograms.from_dicts([_one_lp()])
    with pytest.raises(ValueError, match="complex"):
        X.with_block("b", X.block("b") + 1j)


@pytest.mark.parametrize("fmt", ["csr_matrix", "csr_array", "coo_matrix"])
def test_sparse_constraint_matrices_are_densified(fmt):
    sp = pytest.importorskip("scipy.sparse")
    lp = _one_lp()
    dense = _build([lp, lp])
    mixed = _build([dict(lp, A=getattr(sp, fmt)(lp["A"])), lp])
    np.testing.assert_array_equal(mixed.block("A"), dense.block("A"))
    np.testing.assert_array_equal(mixed.n_constraints, [2, 2])


def test_missing_dict_keys_are_named():
    lp = _one_lp()
    del lp["c"], lp["upper"]
    with pytest.raises(ValueError, match=r"instances\[1\] is missing the key\(s\) 'c', 'upper'"):
        LinearPrograms.from_dicts([_one_lp(), lp])
    with pytest.raises(ValueError, match="must be a dict"):
        LinearPrograms.from_dicts([_one_lp(), [1.0]])


def test_mismatched_lengths_are_named():
    lp = _one_lp()
    args = [[lp[k]] * 2 for k in ("A", "b", "c", "lower", "upper", "is_equality")]
    args[2] = args[2][:1]
    with pytest.raises(ValueError, match=r"lengths differ: A=2, b=2, c=1, lower=2"):
        LinearPrograms(*args)
    args = [[lp[k]] for k in ("A", "b", "c", "lower", "upper")]
    with pytest.raises(ValueError, match="one entry per linear program"):
        LinearPrograms(*args, is_equality=1.0)


@pytest.mark.parametrize("eq", [["<=", "="], [0.5, 1.0], [2, 0], [None, True]])
def test_non_boolean_constraint_types_are_refused(eq):
    lp = _one_lp()
    with pytest.raises(ValueError, match="is_equality.*booleans"):
        _build([dict(lp, is_equality=eq)])


def test_zero_one_constraint_types_are_booleans():
    lp = _one_lp()
    X = _build([dict(lp, is_equality=[1, 0]), dict(lp, is_equality=[0.0, 1.0])])
    np.testing.assert_array_equal(X.block("is_equality"), [[True, False], [False, True]])


def test_check_targets_pads_and_refuses_complex():
    lp = _one_lp()
    small = dict(lp, A=lp["A"][:, :1], c=lp["c"][:1], lower=[0.0], upper=[1.0])
    X = LinearPrograms.from_dicts([small, lp])
    y = X.check_targets([[0.5], [0.25, 0.75]])
    np.testing.assert_array_equal(np.isnan(y), [[False, True], [False, False]])
    with pytest.raises(ValueError, match="complex"):
        X.check_targets(np.array([[0.5, 0.0], [0.25, 0.75]]) + 1j)
