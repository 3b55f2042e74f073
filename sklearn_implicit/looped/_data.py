"""Multi-hop pointer chasing: a token-sequence reasoning task where harder instances need more steps."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["make_pointer_chasing"]

#: Token of padded positions (in ``X`` and ``y``) when sequence lengths vary.
PAD = -1


def _one(rng, m, min_hops, n_hops):
    """Parents, roots and depths of one forest of chains on ``m`` nodes."""
    order = rng.permutation(m)
    parent = np.empty(m, dtype=np.int64)
    root = np.empty(m, dtype=np.int64)
    depth = np.empty(m, dtype=np.int64)
    start = 0
    while start < m:
        hops = int(rng.randint(min_hops, n_hops + 1))
        chain = order[start : start + hops + 1]
        start += hops + 1
        parent[chain[0]] = chain[0]
        parent[chain[1:]] = chain[:-1]
        root[chain] = chain[0]
        depth[chain] = np.arange(len(chain))
    return parent, root, depth


def _roots(parent):
    r = np.arange(len(parent))
    for _ in range(len(parent)):
        r = parent[r]
    return r


def _contrast(rng, parent, root):
    """Re-point one node so that the answers of its subtree change (a valid forest again).

    The node ``j`` is uniform; its new parent is uniform over ``j`` itself
    (``j`` becomes a root; not offered when it is one already) and the nodes
    of the other chains, so no cycle appears and at least ``j`` changes root.
    """
    m = len(parent)
    while True:
        j = int(rng.randint(m))
        options = np.flatnonzero(root != root[j])
        if parent[j] != j:
            options = np.append(options, j)
        if options.size:
            break
    pair = parent.copy()
    pair[j] = options[rng.randint(options.size)]
    return pair, _roots(pair)


def _contrast_root(rng, parent, root):
    """Re-point the root of one chain to a node of another chain (two chains merge).

    The chain is uniform over the chains, its new parent uniform over the
    nodes of the other chains, so the answer of every node of the chain
    changes. A sequence made of a single chain has no other chain to join:
    there a uniform non-root node becomes a root instead (the chain splits).
    """
    roots = np.flatnonzero(parent == np.arange(len(parent)))
    pair = parent.copy()
    if roots.size < 2:
        j = int(rng.choice(np.flatnonzero(parent != np.arange(len(parent)))))
        pair[j] = j
        return pair, _roots(pair)
    r = int(roots[rng.randint(roots.size)])
    options = np.flatnonzero(root != r)
    pair[r] = options[rng.randint(options.size)]
    return pair, _roots(pair)


_EDITS = {"node": _contrast, "root": _contrast_root}


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_nodes": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "n_hops": [Interval(Integral, 1, None, closed="left")],
        "min_hops": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "return_depth": ["boolean"],
        "return_pairs": ["boolean"],
        "pair_edit": [StrOptions(set(_EDITS))],
    },
    prefer_skip_nested_validation=True,
)
def make_pointer_chasing(
    n_samples=1000,
    *,
    n_nodes=32,
    n_hops=8,
    min_hops=1,
    random_state=None,
    return_depth=False,
    return_pairs=False,
    pair_edit="node",
):
    """Multi-hop pointer chasing: follow parent pointers to the root of each chain.

    Each sample is a forest of chains on ``n_nodes`` nodes, the nodes being
    the positions ``0..n_nodes-1`` of the sequence. Token ``X[i, j]`` is the
    parent of node ``j`` (a root points to itself) and the target
    ``y[i, j]`` is the root of ``j``'s chain, reached after ``depth(j)``
    pointer hops. Nodes are shuffled over positions, so the chains must be
    followed, not read off. Every chain has between ``min_hops`` and
    ``n_hops`` hops (uniformly drawn), so ``n_hops`` is the difficulty knob:
    a node at depth ``d`` needs ``d`` sequential look-ups (``ceil(log2 d)``
    with pointer doubling), and a model that iterates a shared step can
    answer deeper instances by running more steps at test time.

    The answer is a fixed point: ``root(j) = root(parent(j))``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.
    n_nodes : int or tuple of two ints, default=32
        Sequence length. A pair ``(low, high)`` draws each sequence's length
        uniformly in ``[low, high]`` and pads to ``high`` with ``-1`` in both
        ``X`` and ``y``.
    n_hops : int, default=8
        Largest number of hops from a node to its root (the difficulty).
    min_hops : int, default=1
        Smallest number of hops of a chain (the last chain of a sequence may
        be shorter when the nodes run out).
    random_state : int, RandomState instance or None, default=None
        Seed; the same seed gives the same data.
    return_depth : bool, default=False
        Also return the depth (hops to the root) of every node, ``-1`` on
        padding.
    return_pairs : bool, default=False
        Also return a *contrast partner* of every sequence, one token apart:
        one node (uniform) is re-pointed to itself (it becomes a root) or to
        a node of another chain (uniform over these options), so the
        partner is again a forest of chains and the roots of the whole
        subtree below that node change. These are the analogue of the
        paper's semantic contrast pairs ("charge and voltage" vs "charge
        and pay") for :meth:`~sklearn_implicit.looped.LoopedTransformerClassifier.lipschitz_curve`.
    pair_edit : {"node", "root"}, default="node"
        Which token the contrast partner changes. ``"node"``: a uniform node
        is re-pointed as above, which changes the answers of its subtree
        (a few nodes on average). ``"root"``: the root of a uniform chain is
        re-pointed to a node of another chain, so the two chains merge and
        the answer of every node of the first chain changes, however far
        below the edit it sits (a sequence of one chain, which has nothing
        to merge with, gets a ``"node"``-style split instead). Both keep
        ``X`` and ``y`` unchanged.

    Returns
    -------
    X : ndarray of int64, shape (n_samples, n_nodes)
        Parent pointers (tokens in ``[0, n_nodes)``, ``-1`` on padding).
    y : ndarray of int64, shape (n_samples, n_nodes)
        Root of every node (``-1`` on padding).
    depth : ndarray of int64, shape (n_samples, n_nodes)
        Only when ``return_depth=True``.
    X_pair, y_pair : ndarray of int64, shape (n_samples, n_nodes)
        Only when ``return_pairs=True``: the contrast partners and their
        roots (drawn after all of ``X``, so ``X`` and ``y`` do not depend on
        ``return_pairs``).

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_pointer_chasing
    >>> X, y = make_pointer_chasing(2, n_nodes=6, n_hops=2, random_state=0)
    >>> X.shape, y.shape
    ((2, 6), (2, 6))
    >>> bool((y[0] == y[0][X[0]]).all())  # the root of a node is its parent's root
    True
    """
    if isinstance(n_nodes, (tuple, list)):
        if len(n_nodes) != 2:
            raise ValueError(f"n_nodes must be an int or a (low, high) pair, got {n_nodes!r}.")
        low = check_scalar(n_nodes[0], "n_nodes[0]", Integral, min_val=1)
        high = check_scalar(n_nodes[1], "n_nodes[1]", Integral, min_val=low)
    else:
        low = high = n_nodes
    if return_pairs and low < 2:
        raise ValueError(
            f"Contrast pairs need sequences of at least 2 nodes, got n_nodes={n_nodes!r}."
        )
    if n_hops < min_hops:
        raise ValueError(f"n_hops={n_hops} must be >= min_hops={min_hops}.")
    rng = check_random_state(random_state)
    X = np.full((n_samples, high), PAD, dtype=np.int64)
    y = np.full((n_samples, high), PAD, dtype=np.int64)
    depth = np.full((n_samples, high), PAD, dtype=np.int64)
    for i in range(n_samples):
        m = int(rng.randint(low, high + 1)) if high > low else high
        X[i, :m], y[i, :m], depth[i, :m] = _one(rng, m, min_hops, n_hops)
    out = (X, y, depth) if return_depth else (X, y)
    if return_pairs:
        X_pair, y_pair = X.copy(), y.copy()
        for i in range(n_samples):
            m = int((X[i] != PAD).sum())
            X_pair[i, :m], y_pair[i, :m] = _EDITS[pair_edit](rng, X[i, :m], y[i, :m])
        out = out + (X_pair, y_pair)
    return out
