"""``LinearPrograms.from_linprog``: SciPy's ``linprog`` arguments in, infinite bounds kept."""

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import linprog

from sklearn_implicit.lp import LinearPrograms

INF = np.inf


def _linprog_args(seed=0, m_ub=3, m_eq=2, n=6):
    """A feasible, bounded LP in SciPy's form (x >= 0, a box row keeps it bounded)."""
    rng = np.random.RandomState(seed)
    x0 = rng.uniform(0.5, 1.5, n)  # a feasible point
    A_ub = rng.randn(m_ub, n) * (rng.rand(m_ub, n) < 0.6)
    A_ub[0] = 1.0  # sum(x) <= ... bounds the feasible set together with x >= 0
    A_eq = rng.randn(m_eq, n) * (rng.rand(m_eq, n) < 0.6)
    return {
        "c": rng.uniform(-1, 1, n),
        "A_ub": A_ub,
        "b_ub": A_ub @ x0 + rng.uniform(0.1, 1.0, m_ub),
        "A_eq": A_eq,
        "b_eq": A_eq @ x0,
    }


def _same_lp(X, i, Y, j):
    """Instance i of X and j of Y: the same LP, constraints compared as a set of rows."""
    a, b = X[i], Y[j]

    def rows(lp):
        table = np.column_stack([lp["A"], lp["b"], lp["is_equality"]])
        return table[np.lexsort(table.T[::-1])]

    for key in ("c", "lower", "upper"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(rows(a), rows(b))


# ---------------------------------------------------------------------- one LP
@pytest.mark.parametrize("fmt", ["csr_matrix", "csr_array"])
def test_sparse_matrices_and_nonnegative_bounds(fmt):
    kw = _linprog_args()
    to_sparse = getattr(sparse, fmt)
    X = LinearPrograms.from_linprog(
        **dict(kw, A_ub=to_sparse(kw["A_ub"]), A_eq=to_sparse(kw["A_eq"])), bounds=(0, None)
    )
    lp = X[0]
    assert len(X) == 1 and X.n_constraints.tolist() == [5] and X.n_variables.tolist() == [6]
    np.testing.assert_array_equal(lp["A"], np.vstack([kw["A_ub"], kw["A_eq"]]))
    np.testing.assert_array_equal(lp["b"], np.r_[kw["b_ub"], kw["b_eq"]])
    np.testing.assert_array_equal(lp["is_equality"], [False] * 3 + [True] * 2)
    np.testing.assert_array_equal(lp["c"], kw["c"])
    np.testing.assert_array_equal(lp["lower"], np.zeros(6))
    np.testing.assert_array_equal(lp["upper"], np.full(6, INF))


@pytest.mark.parametrize("default", [None, [], (), np.zeros((0, 2))])
def test_default_bounds_are_nonnegativity(default):
    kw = _linprog_args()
    X = LinearPrograms.from_linprog(**kw, bounds=default)
    np.testing.assert_array_equal(X[0]["lower"], np.zeros(6))
    np.testing.assert_array_equal(X[0]["upper"], np.full(6, INF))


@pytest.mark.parametrize(
    "bounds, lower, upper",
    [
        ((-1, 2), [-1] * 3, [2] * 3),
        ([(-1, 2)], [-1] * 3, [2] * 3),
        ([[-1], [2]], [-1] * 3, [2] * 3),  # SciPy reads a (2, 1) array as one pair too
        ((None, None), [-INF] * 3, [INF] * 3),
        ([(0, None), (None, 3), (-INF, INF)], [0, -INF, -INF], [INF, 3, INF]),
        (np.array([[0, INF], [-INF, 3], [1, 1]]), [0, -INF, 1], [INF, 3, 1]),
        ([[0, None], [None, 3], [-2, 5]], [0, -INF, -2], [INF, 3, 5]),
    ],
)
def test_bounds_follow_scipy(bounds, lower, upper):
    X = LinearPrograms.from_linprog(c=[1.0, 2.0, 3.0], bounds=bounds)
    np.testing.assert_array_equal(X[0]["lower"], lower)
    np.testing.assert_array_equal(X[0]["upper"], upper)
    assert X.n_constraints.tolist() == [0]


def test_columns_and_scalars_are_squeezed_as_scipy_does():
    X = LinearPrograms.from_linprog(c=2.0, A_ub=[[1.0]], b_ub=[[3.0]], bounds=(0, 1))
    assert X.n_variables.tolist() == [1] and X[0]["b"].tolist() == [3.0]
    Y = LinearPrograms.from_linprog(c=[1.0, 1.0], A_eq=[[1.0, 1.0]], b_eq=np.array([[2.0]]))
    assert Y[0]["b"].tolist() == [2.0] and Y[0]["is_equality"].tolist() == [True]


def test_only_one_constraint_type():
    only_eq = LinearPrograms.from_linprog(c=[1.0, 1.0], A_eq=[[1.0, 1.0]], b_eq=[1.0])
    only_ub = LinearPrograms.from_linprog(c=[1.0, 1.0], A_ub=[[1.0, 1.0]], b_ub=[1.0])
    assert only_eq[0]["is_equality"].tolist() == [True]
    assert only_ub[0]["is_equality"].tolist() == [False]


# ---------------------------------------------------------------------- several LPs
def test_lists_of_lps_of_different_sizes():
    one = _linprog_args(seed=0)
    two = _linprog_args(seed=1, m_ub=2, m_eq=1, n=4)
    X = LinearPrograms.from_linprog(
        c=[one["c"], two["c"], [1.0, -1.0]],
        A_ub=[sparse.csr_matrix(one["A_ub"]), two["A_ub"], None],
        b_ub=[one["b_ub"], two["b_ub"], None],
        A_eq=[one["A_eq"], sparse.csr_array(two["A_eq"]), [[1.0, 1.0]]],
        b_eq=[one["b_eq"], two["b_eq"], [1.0]],
        bounds=[None, (0, 10), [(None, 1), (0, None)]],
    )
    assert X.n_constraints.tolist() == [5, 3, 1] and X.n_variables.tolist() == [6, 4, 2]
    assert X.padded_shape == (5, 6)
    _same_lp(X, 0, LinearPrograms.from_linprog(**one), 0)
    _same_lp(X, 1, LinearPrograms.from_linprog(**two, bounds=(0, 10)), 0)
    np.testing.assert_array_equal(X[2]["lower"], [-INF, 0])
    np.testing.assert_array_equal(X[2]["upper"], [1, INF])


def test_a_2d_cost_array_is_one_lp_per_row():
    X = LinearPrograms.from_linprog(
        c=np.ones((3, 2)), A_ub=np.ones((3, 1, 2)), b_ub=np.ones((3, 1))
    )
    assert len(X) == 3 and X.n_constraints.tolist() == [1, 1, 1]
    np.testing.assert_array_equal(X.block("upper"), np.full((3, 2), INF))


def test_lists_match_one_lp_at_a_time():
    args = [_linprog_args(seed=s, n=5) for s in range(3)]
    together = LinearPrograms.from_linprog(
        **{key: [a[key] for a in args] for key in args[0]}, bounds=[(-1, 1)] * 3
    )
    alone = LinearPrograms.concatenate(
        [LinearPrograms.from_linprog(**a, bounds=(-1, 1)) for a in args]
    )
    for block in ("A", "b", "c", "lower", "upper", "is_equality"):
        np.testing.assert_array_equal(together.block(block), alone.block(block))


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"c": [1.0, 2.0], "A_ub": [[1.0, 2.0, 3.0]], "b_ub": [1.0]},
            r"A_ub must be a 2-D.*len\(c\) = 2.*\(1, 3\)",
        ),
        ({"c": [1.0, 2.0], "A_eq": [1.0, 2.0], "b_eq": [1.0]}, r"A_eq must be a 2-D"),
        (
            {"c": [1.0, 2.0], "A_ub": np.ones((2, 2)), "b_ub": [1.0]},
            r"b_ub has 1 entries but A_ub has 2 rows",
        ),
        ({"c": [1.0, 2.0], "b_eq": [1.0]}, r"b_eq is given but A_eq is not"),
        ({"c": [1.0, 2.0], "A_eq": np.ones((1, 2))}, r"b_eq has 0 entries but A_eq has 1 rows"),
        ({"c": np.ones((2, 2, 2))}, r"c must be 1-D"),
        ({"c": []}, r"c must be 1-D.*non-empty"),
        (
            {"c": [1.0, 2.0], "bounds": [(0, 1)] * 3},
            r"bounds must be one \(min, max\) pair.*\(3, 2\)",
        ),
        ({"c": [1.0, 2.0, 3.0], "bounds": np.zeros((2, 3))}, r"bounds: provide an 3 x 2 array"),
        ({"c": [1.0, 2.0], "bounds": [(0, 1), (0,)]}, r"bounds: unable to interpret"),
        (
            {"c": [1.0, 2.0], "bounds": [(2, 1), (0, 1)]},
            r"bounds: variable 0 has the bounds \(2.0, 1.0\)",
        ),
        ({"c": [1.0, 2.0], "bounds": (INF, None)}, r"variable 0.*\+inf"),
        ({"c": [1.0, 2.0], "bounds": ("a", 1)}, r"bounds: unable to interpret"),
    ],
)
def test_shapes_and_bounds_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearPrograms.from_linprog(**kwargs)


@pytest.mark.parametrize("where", ["c", "A_ub", "b_ub", "A_eq", "b_eq", "bounds"])
def test_nan_is_refused(where):
    kw = {"c": [1.0, 2.0], "A_ub": [[1.0, 1.0]], "b_ub": [1.0], "A_eq": [[1.0, -1.0]]}
    kw.update(b_eq=[0.0], bounds=[(0, 1), (0, 1)])
    kw[where] = np.where(np.ones(np.shape(kw[where]), bool), np.nan, 0.0)
    with pytest.raises(ValueError, match=rf"{where}.*NaN"):
        LinearPrograms.from_linprog(**kw)


@pytest.mark.parametrize("where", ["c", "A_ub", "sparse A_eq", "b_eq", "bounds", "bound pair"])
def test_complex_is_refused(where):
    kw = {"c": [1.0, 2.0], "A_ub": [[1.0, 1.0]], "b_ub": [1.0]}
    if where == "c":
        kw["c"] = [1.0 + 1j, 2.0]
    elif where == "A_ub":
        kw["A_ub"] = np.array([[1.0, 1.0]]) * 1j
    elif where == "sparse A_eq":
        kw.update(A_eq=sparse.csr_matrix(np.array([[1.0, 1j]])), b_eq=[0.0])
    elif where == "b_eq":
        kw.update(A_eq=[[1.0, 1.0]], b_eq=[1j])
    elif where == "bounds":
        kw["bounds"] = [(0, 1j), (0, None)]
    else:
        kw["bounds"] = np.array([0, 1]) + 0j
    name = {"sparse A_eq": "A_eq", "bound pair": "bounds"}.get(where, where)
    with pytest.raises(ValueError, match=rf"{name}.*complex"):
        LinearPrograms.from_linprog(**kw)


@pytest.mark.parametrize("where", ["c", "A_ub", "b_ub"])
def test_infinite_coefficients_are_refused(where):
    kw = {"c": [1.0, 2.0], "A_ub": [[1.0, 1.0]], "b_ub": [1.0]}
    kw[where] = np.where(np.ones(np.shape(kw[where]), bool), INF, 0.0)
    with pytest.raises(ValueError, match=rf"{where} contains infinite values"):
        LinearPrograms.from_linprog(**kw)


def test_batch_errors_name_the_lp():
    c = [[1.0, 2.0], [1.0, 2.0, 3.0]]
    with pytest.raises(ValueError, match=r"A_ub\[1\] must be a 2-D.*len\(c\[1\]\) = 3"):
        LinearPrograms.from_linprog(c, A_ub=[np.ones((1, 2))] * 2, b_ub=[[1.0]] * 2)
    with pytest.raises(ValueError, match=r"b_ub has 1 entries but c holds 2"):
        LinearPrograms.from_linprog(c, A_ub=[None, np.ones((1, 3))], b_ub=[[1.0]])
    with pytest.raises(ValueError, match=r"bounds\[1\]: variable 2"):
        LinearPrograms.from_linprog(c, bounds=[None, [(0, 1), (0, 1), (1, 0)]])
    with pytest.raises(ValueError, match=r"c\[0\].*NaN"):
        LinearPrograms.from_linprog([[np.nan, 1.0], [1.0]])


def test_batch_needs_per_lp_arguments():
    with pytest.raises(ValueError, match=r"c holds 2 linear programs.*A_ub needs one entry"):
        LinearPrograms.from_linprog(np.ones((2, 3)), A_ub=sparse.csr_matrix(np.ones((1, 3))))
    with pytest.raises(ValueError, match=r"bounds needs one entry per linear program"):
        LinearPrograms.from_linprog([[1.0, 2.0], [3.0, 4.0]], bounds=(0, None))


# ---------------------------------------------------------------------- round trip
def _mixed_lps():
    """Finite and infinite bounds, equalities interleaved with inequalities."""
    rng = np.random.RandomState(0)
    A = [rng.randn(4, 5), rng.randn(3, 3)]
    lower = [[0.0, -INF, -1.0, 0.0, -2.0], [-INF, 0.0, 0.0]]
    upper = [[INF, 2.0, 1.0, INF, INF], [INF, INF, 1.0]]
    eq = [[False, True, False, True], [True, False, False]]
    return LinearPrograms(
        A, [rng.randn(4), rng.randn(3)], [rng.randn(5), rng.randn(3)], lower, upper, eq
    )


def test_round_trip_through_to_linprog():
    X = _mixed_lps()
    for i in range(len(X)):
        Y = LinearPrograms.from_linprog(**X.to_linprog(i))
        _same_lp(X, i, Y, 0)  # the same LP, the inequalities now first
        Z = LinearPrograms.from_linprog(**Y.to_linprog(0))
        for block in ("A", "b", "c", "lower", "upper", "is_equality"):
            np.testing.assert_array_equal(Z.block(block), Y.block(block))  # exactly


def test_round_trip_keeps_the_scipy_optimum():
    kw = _linprog_args(seed=3)
    kw["c"] = np.abs(kw["c"]) + 0.1  # bounded below on the free variables' box
    bounds = [(0, None), (None, 3.0), (-1.0, 1.0), (0, np.inf), (-5, None), (0, 2)]
    original = dict(kw, A_ub=sparse.csr_matrix(kw["A_ub"]), A_eq=sparse.csr_array(kw["A_eq"]))
    X = LinearPrograms.from_linprog(**original, bounds=bounds)
    expected = linprog(**original, bounds=bounds, method="highs")
    got = linprog(**X.to_linprog(0), method="highs")
    assert expected.status == 0 and got.status == 0
    assert got.fun == pytest.approx(expected.fun, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(got.x, expected.x, atol=1e-7)


def test_scipy_default_bounds_survive_the_round_trip():
    kw = _linprog_args(seed=4)
    X = LinearPrograms.from_linprog(**kw)
    expected = linprog(**kw, method="highs")
    got = linprog(**X.to_linprog(0), method="highs")
    assert expected.status == 0 and got.fun == pytest.approx(expected.fun, rel=1e-9)
