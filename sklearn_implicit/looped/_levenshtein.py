"""Levenshtein (edit) distance between token sequences, vectorised over pairs."""

from __future__ import annotations

import numpy as np

__all__ = ["levenshtein", "levenshtein_rows"]


def _compact(A, pad):
    """Move the non-pad entries of each row to its front; return ``(rows, lengths)``."""
    A = np.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"Expected a 2-D array of token rows, got shape {A.shape}.")
    if pad is None:
        return A, np.full(A.shape[0], A.shape[1], dtype=np.int64)
    keep = A != pad
    lengths = keep.sum(axis=1)
    order = np.argsort(~keep, axis=1, kind="stable")
    return np.take_along_axis(A, order, axis=1), lengths


def levenshtein_rows(A, B, *, pad=-1):
    """Edit distance between ``A[i]`` and ``B[i]`` for every row ``i``.

    Unit-cost insertions, deletions and substitutions. Entries equal to
    ``pad`` are removed first (padding), so rows of different true lengths
    are compared correctly. The dynamic programme runs over the rows of
    ``A`` once, vectorised over pairs and over the columns of ``B``
    (insertions are resolved with a cumulative minimum), so a batch costs
    ``O(len(A[0]))`` NumPy operations.

    Parameters
    ----------
    A : array-like of shape (n_pairs, m)
        First sequences (integer tokens).
    B : array-like of shape (n_pairs, k)
        Second sequences.
    pad : int or None, default=-1
        Padding token to ignore; None keeps every entry.

    Returns
    -------
    ndarray of int64, shape (n_pairs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.looped import levenshtein_rows
    >>> levenshtein_rows(np.array([[1, 2, 3, -1], [1, 2, 3, 4]]), np.array([[1, 3, -1], [4, 3, 2]]))
    array([1, 3])
    """
    A, la = _compact(A, pad)
    B, lb = _compact(B, pad)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"A has {A.shape[0]} rows but B has {B.shape[0]}.")
    n, m = A.shape
    k = B.shape[1]
    out = lb.astype(np.int64).copy()  # distance when A's row is empty
    cols = np.arange(k + 1)
    prev = np.broadcast_to(cols, (n, k + 1)).astype(np.int64)
    rows = np.arange(n)
    for i in range(1, m + 1):
        cost = (A[:, i - 1 : i] != B).astype(np.int64)
        cand = np.minimum(prev[:, :-1] + cost, prev[:, 1:] + 1)
        cur = np.empty_like(prev)
        cur[:, 0] = i
        cur[:, 1:] = cand
        # Insertions: cur[j] = min_{l <= j} cur[l] + (j - l).
        cur = np.minimum.accumulate(cur - cols, axis=1) + cols
        done = la == i
        if done.any():
            out[done] = cur[rows[done], lb[done]]
        prev = cur
    return out


def levenshtein(a, b):
    """Edit distance between two sequences (strings, lists of words, token arrays).

    Parameters
    ----------
    a, b : str or sequence of hashable items
        A string is compared character by character; split it first for a
        word-level distance (as in the paper's measure).

    Returns
    -------
    int

    Examples
    --------
    >>> from sklearn_implicit.looped import levenshtein
    >>> levenshtein("kitten", "sitting")
    3
    >>> levenshtein("charge and voltage".split(), "charge and pay".split())
    1
    """
    a = list(a)
    b = list(b)
    codes = {}
    ia = np.array([codes.setdefault(t, len(codes)) for t in a], dtype=np.int64)
    ib = np.array([codes.setdefault(t, len(codes)) for t in b], dtype=np.int64)
    if ia.size == 0 or ib.size == 0:
        return int(max(ia.size, ib.size))
    return int(levenshtein_rows(ia[None], ib[None], pad=None)[0])
