"""make_pointer_chasing: structure, determinism, difficulty, padding."""

import numpy as np
import pytest

from sklearn_implicit.looped import make_pointer_chasing


def roots_by_following(parents):
    out = np.empty_like(parents)
    for j in range(len(parents)):
        k, hops = j, 0
        while parents[k] != k:
            k = parents[k]
            hops += 1
            assert hops <= len(parents)  # no cycles
        out[j] = k
    return out


def test_targets_are_roots_and_depths_bounded():
    X, y, depth = make_pointer_chasing(50, n_nodes=20, n_hops=6, random_state=0, return_depth=True)
    assert X.shape == y.shape == depth.shape == (50, 20)
    assert X.dtype == np.int64
    for i in range(50):
        assert (roots_by_following(X[i]) == y[i]).all()
        assert (y[i] == y[i][X[i]]).all()  # fixed point: root(j) = root(parent(j))
    assert depth.max() <= 6 and depth.min() == 0
    assert 0 <= X.min() and X.max() < 20


def test_deterministic_per_seed():
    a = make_pointer_chasing(10, random_state=3)
    b = make_pointer_chasing(10, random_state=3)
    c = make_pointer_chasing(10, random_state=4)
    assert all((u == v).all() for u, v in zip(a, b, strict=True))
    assert not (a[0] == c[0]).all()


def test_difficulty_knob_deepens_instances():
    _, _, d_easy = make_pointer_chasing(
        200, n_nodes=32, n_hops=2, random_state=0, return_depth=True
    )
    _, _, d_hard = make_pointer_chasing(
        200, n_nodes=32, n_hops=16, random_state=0, return_depth=True
    )
    assert d_easy.max() <= 2
    assert d_hard.mean() > 2 * d_easy.mean()


def test_variable_lengths_are_padded():
    X, y = make_pointer_chasing(40, n_nodes=(4, 10), n_hops=3, random_state=0)
    assert X.shape == (40, 10)
    lengths = (X != -1).sum(axis=1)
    assert lengths.min() >= 4 and lengths.max() <= 10 and len(set(lengths)) > 1
    assert ((X == -1) == (y == -1)).all()
    for i, m in enumerate(lengths):
        assert (X[i, m:] == -1).all() and (X[i, :m] < m).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"n_hops": 0},
        {"n_nodes": (5, 3)},
        {"n_nodes": (1, 2, 3)},
        {"min_hops": -1},
        {"return_pairs": True, "n_nodes": 1},
        {"return_pairs": True, "pair_edit": "leaf"},
        {"n_samples": 2.5},
        {"n_samples": "3"},
        {"n_hops": 3, "min_hops": 4},
        {"return_depth": "yes"},
    ],
)
def test_bad_arguments(kwargs):
    kwargs = {"n_samples": 5, **kwargs}
    with pytest.raises(ValueError):
        make_pointer_chasing(**kwargs)


def test_contrast_pairs_are_one_token_apart_valid_and_change_answers():
    X, y, Xp, yp = make_pointer_chasing(
        60, n_nodes=(6, 12), n_hops=5, random_state=0, return_pairs=True
    )
    X2, y2 = make_pointer_chasing(60, n_nodes=(6, 12), n_hops=5, random_state=0)
    assert (X == X2).all() and (y == y2).all()  # pairs are drawn after the data
    assert ((X != Xp).sum(axis=1) == 1).all()
    assert ((Xp == -1) == (X == -1)).all()
    for i in range(60):
        m = int((X[i] != -1).sum())
        assert (roots_by_following(Xp[i, :m]) == yp[i, :m]).all()  # a forest, no cycle
        assert (yp[i] != y[i]).any()
    # A single chain still gets a valid partner (a node becomes a root).
    X, y, Xp, yp = make_pointer_chasing(
        5, n_nodes=8, n_hops=7, min_hops=7, random_state=0, return_pairs=True
    )
    assert ((X != Xp).sum(axis=1) == 1).all() and (yp != y).any(axis=1).all()


def test_root_edit_pairs_merge_two_chains():
    X, y, Xp, yp = make_pointer_chasing(
        80, n_nodes=(8, 14), n_hops=3, random_state=1, return_pairs=True, pair_edit="root"
    )
    X2, y2, Xn, _ = make_pointer_chasing(
        80, n_nodes=(8, 14), n_hops=3, random_state=1, return_pairs=True
    )
    assert (X == X2).all() and (y == y2).all()  # the data do not depend on the edit
    assert (Xp != Xn).any()  # but the partners do
    assert ((X != Xp).sum(axis=1) == 1).all()
    for i in range(80):
        m = int((X[i] != -1).sum())
        j = int(np.flatnonzero(X[i] != Xp[i])[0])
        assert X[i, j] == j  # the edited token is a root's
        assert (roots_by_following(Xp[i, :m]) == yp[i, :m]).all()  # a forest, no cycle
        chain = y[i, :m] == j
        # Every node of the edited chain changes answer, and nothing else does.
        assert (yp[i, :m][chain] != j).all()
        assert (yp[i, :m][~chain] == y[i, :m][~chain]).all()
        assert len(set(y[i, :m])) == len(set(yp[i, :m])) + 1  # two chains merged


def test_root_edit_on_a_single_chain_splits_it():
    X, y, Xp, yp = make_pointer_chasing(
        5, n_nodes=8, n_hops=7, min_hops=7, random_state=0, return_pairs=True, pair_edit="root"
    )
    assert ((X != Xp).sum(axis=1) == 1).all()
    for i in range(5):
        assert len(set(yp[i])) == 2 and (roots_by_following(Xp[i]) == yp[i]).all()


def test_bad_n_nodes_pair_entries():
    with pytest.raises(TypeError, match=r"n_nodes\[0\]"):
        make_pointer_chasing(3, n_nodes=(2.5, 6))
    with pytest.raises(ValueError, match=r"n_nodes\[1\]"):
        make_pointer_chasing(3, n_nodes=(6, 5))
