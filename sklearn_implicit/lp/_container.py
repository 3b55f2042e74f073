"""An indexable, scikit-learn-friendly container of linear programs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Integral

import numpy as np
from scipy import sparse

__all__ = ["LinearPrograms"]

#: Number of header entries of the flat encoding: ``m_i, n_i, M, N``.
_HEADER = 4

#: The blocks of one instance, in the order of :class:`LinearPrograms`' arguments.
_KEYS = ("A", "b", "c", "lower", "upper", "is_equality")


def _real_array(value, name):
    """``value`` as a float64 array; sparse matrices are densified, complex ones refused."""
    if sparse.issparse(value):
        value = value.toarray()
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise ValueError(
            f"{name} has complex values; linear programs need real coefficients "
            "(pass the real part explicitly if that is what you mean)."
        )
    return arr.astype(np.float64)


def _boolean_array(value, name):
    """``value`` as a bool array; entries must be booleans or the numbers 0 and 1."""
    arr = np.asarray(value)
    if arr.dtype != bool:
        numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        if not numeric or not np.isin(arr, (0, 1)).all():
            raise ValueError(
                f"{name} must hold booleans (or 0/1): True for an equality, False for a "
                f"'<=' constraint; got dtype {arr.dtype} with values {arr.ravel()[:4].tolist()}."
            )
    return arr.astype(bool).reshape(-1)


def _per_instance(values, name):
    """The list of per-instance entries of one argument (a sequence or a stacked array)."""
    stacked = isinstance(values, np.ndarray) and values.ndim >= 1
    if not stacked and (
        sparse.issparse(values)
        or isinstance(values, (str, bytes, Mapping, np.ndarray))
        or not isinstance(values, Iterable)
    ):
        raise ValueError(
            f"{name} must be a sequence with one entry per linear program (or an array "
            f"stacking them along its first axis); got {type(values).__name__}."
        )
    return list(values)


def _ragged(values, name, sizes, convert=_real_array):
    """Convert per-instance entries to 1-D arrays and check their sizes against ``sizes``."""
    out = [convert(v, f"{name}[{i}]").reshape(-1) for i, v in enumerate(values)]
    for i, (v, s) in enumerate(zip(out, sizes, strict=True)):
        if v.shape[0] != s:
            raise ValueError(f"{name}[{i}] has {v.shape[0]} entries, expected {s}.")
    return out


class LinearPrograms:
    """A batch of linear programs ``min c^T y`` subject to ``A y o b`` and ``l <= y <= u``.

    Each row of the constraint system is either an equality (``o`` is ``=``)
    or an inequality (``<=``). Instances may have different sizes ``(m, n)``;
    they are stored zero-padded to the largest ``(M, N)`` together with their
    true sizes, so the container slices like an array along its first axis:
    ``X[3]`` is one instance (a dict), ``X[idx]`` with a slice, an integer
    array or a boolean mask is a new :class:`LinearPrograms` (keeping the
    padding of ``X``). That is all scikit-learn needs for ``train_test_split``,
    cross-validation and :class:`~sklearn.model_selection.GridSearchCV`.

    Parameters
    ----------
    A : sequence of array-like or sparse matrix of shape (m_i, n_i), or ndarray (n_samples, m, n)
        Constraint matrices, dense or :mod:`scipy.sparse` (densified; zeros
        are "no edge"). Real values only: complex input is refused.
    b : sequence of array-like of shape (m_i,)
        Right-hand sides.
    c : sequence of array-like of shape (n_i,)
        Costs.
    lower, upper : sequence of array-like of shape (n_i,)
        Variable bounds (finite).
    is_equality : sequence of array-like of bool, shape (m_i,)
        Which constraints are equalities (the others are ``<=``): booleans,
        or the numbers 0 and 1.

    All six arguments need one entry per instance. :meth:`from_dicts` builds
    the container from one dict per instance instead.

    Attributes
    ----------
    n_constraints : ndarray of shape (n_samples,)
        ``m_i``.
    n_variables : ndarray of shape (n_samples,)
        ``n_i``.
    shape : tuple
        ``(n_samples,)``; lets scikit-learn count and index samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.lp import LinearPrograms
    >>> X = LinearPrograms(
    ...     A=[np.array([[1.0, 1.0]]), np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])],
    ...     b=[[1.0], [1.0, 2.0]],
    ...     c=[[-1.0, 0.0], [1.0, 1.0, 1.0]],
    ...     lower=[[0.0, 0.0], [0.0, 0.0, 0.0]],
    ...     upper=[[2.0, 2.0], [5.0, 5.0, 5.0]],
    ...     is_equality=[[False], [True, False]],
    ... )
    >>> len(X), X.n_variables.tolist()
    (2, [2, 3])
    >>> X[[1]].n_constraints.tolist()
    [2]
    """

    def __init__(self, A, b, c, lower, upper, is_equality):
        given = dict(zip(_KEYS, (A, b, c, lower, upper, is_equality), strict=True))
        entries = {key: _per_instance(value, key) for key, value in given.items()}
        lengths = {key: len(value) for key, value in entries.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{key}={n}" for key, n in lengths.items())
            raise ValueError(
                "A, b, c, lower, upper and is_equality need one entry per linear program, "
                f"but their lengths differ: {shown}."
            )
        A_list = [_real_array(a, f"A[{i}]") for i, a in enumerate(entries["A"])]
        for i, a in enumerate(A_list):
            if a.ndim != 2:
                raise ValueError(f"A[{i}] must be a 2-D matrix, got shape {a.shape}.")
        m = np.array([a.shape[0] for a in A_list], dtype=np.int64)
        n = np.array([a.shape[1] for a in A_list], dtype=np.int64)
        b_list = _ragged(entries["b"], "b", m)
        eq_list = _ragged(entries["is_equality"], "is_equality", m, convert=_boolean_array)
        c_list = _ragged(entries["c"], "c", n)
        l_list = _ragged(entries["lower"], "lower", n)
        u_list = _ragged(entries["upper"], "upper", n)
        k = len(A_list)
        M = int(m.max()) if k else 0
        N = int(n.max()) if k else 0
        self._A = np.zeros((k, M, N))
        self._b = np.zeros((k, M))
        self._eq = np.zeros((k, M), dtype=bool)
        self._c = np.zeros((k, N))
        self._l = np.zeros((k, N))
        self._u = np.zeros((k, N))
        for i in range(k):
            self._A[i, : m[i], : n[i]] = A_list[i]
            self._b[i, : m[i]] = b_list[i]
            self._eq[i, : m[i]] = eq_list[i]
            self._c[i, : n[i]] = c_list[i]
            self._l[i, : n[i]] = l_list[i]
            self._u[i, : n[i]] = u_list[i]
        self.n_constraints = m
        self.n_variables = n
        self._check()

    @classmethod
    def from_dicts(cls, instances):
        """Build the container from one dict per instance (the form ``X[i]`` returns).

        Parameters
        ----------
        instances : sequence of dict
            Each with the keys ``"A"``, ``"b"``, ``"c"``, ``"lower"``,
            ``"upper"`` and ``"is_equality"`` (the arguments of
            :class:`LinearPrograms`, for one instance); other keys are ignored.

        Returns
        -------
        X : LinearPrograms

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_implicit.lp import LinearPrograms
        >>> lp = {"A": np.eye(2), "b": [1.0, 1.0], "c": [1.0, 0.0], "lower": [0.0, 0.0],
        ...       "upper": [1.0, 1.0], "is_equality": [True, False]}
        >>> LinearPrograms.from_dicts([lp, lp]).n_variables.tolist()
        [2, 2]
        """
        instances = _per_instance(instances, "instances")
        for i, lp in enumerate(instances):
            if not isinstance(lp, Mapping):
                raise ValueError(
                    f"instances[{i}] must be a dict with keys {', '.join(_KEYS)}; "
                    f"got {type(lp).__name__}."
                )
            missing = [key for key in _KEYS if key not in lp]
            if missing:
                raise ValueError(
                    f"instances[{i}] is missing the key(s) {', '.join(map(repr, missing))}; "
                    f"each linear program needs {', '.join(_KEYS)}."
                )
        return cls(*[[lp[key] for lp in instances] for key in _KEYS])

    def check_targets(self, y):
        """Validate targets for these instances: a float array NaN on padded slots.

        Parameters
        ----------
        y : array-like of shape (n_samples, n) or sequence of array-like of shape (n_i,)
            Solutions, one row per instance; rows may be ragged (one array of
            length ``n_i`` each) or padded with anything past ``n_i``.

        Returns
        -------
        y : ndarray of shape (n_samples, N)
            ``N`` is the padded number of variables; padded slots are NaN.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_implicit.lp import LinearPrograms
        >>> X = LinearPrograms([np.eye(1), np.eye(2)], [[1.0], [1.0, 1.0]], [[1.0], [1.0, 1.0]],
        ...                    [[0.0], [0.0, 0.0]], [[1.0], [1.0, 1.0]], [[True], [True, True]])
        >>> X.check_targets([[1.0], [1.0, 1.0]])
        array([[ 1., nan],
               [ 1.,  1.]])
        """
        if isinstance(y, (list, tuple)) and y and np.ndim(y[0]) == 1:
            rows = [_real_array(r, f"y[{i}]").reshape(-1) for i, r in enumerate(y)]
            y = np.full((len(rows), max(r.shape[0] for r in rows)), np.nan)
            for i, r in enumerate(rows):
                y[i, : r.shape[0]] = r
        y = _real_array(y, "y")
        if y.ndim != 2:
            raise ValueError(f"y must be 2-D (n_samples, n_variables), got shape {y.shape}.")
        if y.shape[0] != len(self):
            raise ValueError(f"X has {len(self)} linear programs but y has {y.shape[0]} rows.")
        N = self.padded_shape[1]
        if len(self) and y.shape[1] < self.n_variables.max():
            raise ValueError(
                f"y has {y.shape[1]} columns but some instances have "
                f"{self.n_variables.max()} variables."
            )
        y = y[:, :N] if y.shape[1] >= N else np.pad(y, ((0, 0), (0, N - y.shape[1])))
        mask = self.variable_mask()
        if not np.isfinite(y[mask]).all():
            raise ValueError("y contains NaN or infinite values on real variables.")
        return np.where(mask, y, np.nan)

    @classmethod
    def _from_padded(cls, A, b, eq, c, lower, upper, m, n):
        obj = cls.__new__(cls)
        obj._A, obj._b, obj._eq = A, b, eq
        obj._c, obj._l, obj._u = c, lower, upper
        obj.n_constraints = np.asarray(m, dtype=np.int64)
        obj.n_variables = np.asarray(n, dtype=np.int64)
        return obj

    def _check(self):
        for name, arr in (("A", self._A), ("b", self._b), ("c", self._c)):
            if not np.isfinite(arr).all():
                raise ValueError(f"LinearPrograms: {name} contains NaN or infinite values.")
        if not (np.isfinite(self._l).all() and np.isfinite(self._u).all()):
            raise ValueError(
                "LinearPrograms: the variable bounds must be finite (the GNN reads them as "
                "features); replace infinite bounds by a large finite box."
            )
        if (self._l > self._u).any():
            raise ValueError("LinearPrograms: some lower bounds exceed their upper bounds.")

    # ------------------------------------------------------------------ array-like
    @property
    def shape(self):
        return (len(self.n_variables),)

    @property
    def padded_shape(self):
        """``(M, N)``: the padded number of constraints and variables."""
        return self._A.shape[1], self._A.shape[2]

    def __len__(self):
        return len(self.n_variables)

    def __getitem__(self, key):
        if isinstance(key, tuple):  # sklearn's _safe_indexing calls X[key, ...]
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError("LinearPrograms can only be indexed along the instance axis.")
        if isinstance(key, Integral) and not isinstance(key, (bool, np.bool_)):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} is out of range for {len(self)} linear programs.")
            i %= len(self)
            mi, ni = self.n_constraints[i], self.n_variables[i]
            return {
                "A": self._A[i, :mi, :ni].copy(),
                "b": self._b[i, :mi].copy(),
                "c": self._c[i, :ni].copy(),
                "lower": self._l[i, :ni].copy(),
                "upper": self._u[i, :ni].copy(),
                "is_equality": self._eq[i, :mi].copy(),
            }
        if not isinstance(key, slice):
            key = np.asarray(key)
            if key.dtype != bool and key.size and not np.issubdtype(key.dtype, np.integer):
                raise IndexError("LinearPrograms indices must be integers or a boolean mask.")
            if key.size == 0:
                key = key.astype(np.int64)
        return self._from_padded(
            self._A[key],
            self._b[key],
            self._eq[key],
            self._c[key],
            self._l[key],
            self._u[key],
            self.n_constraints[key],
            self.n_variables[key],
        )

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        sizes = sorted({(int(a), int(b)) for a, b in zip(self.n_constraints, self.n_variables)})
        shown = ", ".join(f"{a}x{b}" for a, b in sizes[:4]) + (", ..." if len(sizes) > 4 else "")
        return f"LinearPrograms(n_samples={len(self)}, sizes (m x n): {shown})"

    # ------------------------------------------------------------------ helpers
    @classmethod
    def concatenate(cls, parts):
        """Join containers (padding to the largest sizes among them)."""
        parts = list(parts)
        if not parts:
            raise ValueError("Cannot concatenate an empty list of LinearPrograms.")
        M = max(p._A.shape[1] for p in parts)
        N = max(p._A.shape[2] for p in parts)

        def pad(arr, *target):
            widths = [(0, 0)] + [(0, t - s) for t, s in zip(target, arr.shape[1:])]
            return np.pad(arr, widths)

        return cls._from_padded(
            np.concatenate([pad(p._A, M, N) for p in parts]),
            np.concatenate([pad(p._b, M) for p in parts]),
            np.concatenate([pad(p._eq, M) for p in parts]),
            np.concatenate([pad(p._c, N) for p in parts]),
            np.concatenate([pad(p._l, N) for p in parts]),
            np.concatenate([pad(p._u, N) for p in parts]),
            np.concatenate([p.n_constraints for p in parts]),
            np.concatenate([p.n_variables for p in parts]),
        )

    def variable_mask(self):
        """Boolean array (n_samples, N): which padded variable slots are real."""
        return np.arange(self._A.shape[2])[None, :] < self.n_variables[:, None]

    def to_linprog(self, i):
        """Keyword arguments of :func:`scipy.optimize.linprog` for instance ``i``."""
        lp = self[i]
        eq = lp["is_equality"]
        A, b = lp["A"], lp["b"]
        return {
            "c": lp["c"],
            "A_ub": A[~eq] if (~eq).any() else None,
            "b_ub": b[~eq] if (~eq).any() else None,
            "A_eq": A[eq] if eq.any() else None,
            "b_eq": b[eq] if eq.any() else None,
            "bounds": np.column_stack([lp["lower"], lp["upper"]]),
        }

    def to_flat(self, dtype=np.float32):
        """The documented flat encoding, one row per instance.

        Row layout, with ``(M, N)`` the padded sizes: ``[m_i, n_i, M, N,
        b (M), is_equality (M), c (N), lower (N), upper (N), A (M * N,
        row-major)]``; padded entries are zero.
        """
        k, M, N = self._A.shape
        head = np.column_stack(
            [self.n_constraints, self.n_variables, np.full(k, M), np.full(k, N)]
        ).astype(np.float64)
        flat = np.concatenate(
            [
                head,
                self._b,
                self._eq.astype(np.float64),
                self._c,
                self._l,
                self._u,
                self._A.reshape(k, M * N),
            ],
            axis=1,
        )
        return flat.astype(dtype)

    def with_block(self, block, values):
        """A copy with one block replaced by padded ``values`` (``"A"``, ``"b"``, ...)."""
        arrays = {
            "A": self._A,
            "b": self._b,
            "c": self._c,
            "lower": self._l,
            "upper": self._u,
        }
        if block not in arrays:
            raise ValueError(f"Unknown block {block!r}; expected one of {sorted(arrays)}.")
        if np.shape(values) != arrays[block].shape:
            raise ValueError(f"Block {block!r} needs shape {arrays[block].shape}.")
        arrays[block] = _real_array(values, block)
        return self._from_padded(
            arrays["A"],
            arrays["b"],
            self._eq,
            arrays["c"],
            arrays["lower"],
            arrays["upper"],
            self.n_constraints,
            self.n_variables,
        )

    def block(self, name):
        """The padded array of one block: ``"A"`` (n, M, N), ``"b"``, ``"c"``, ``"lower"``, ..."""
        arrays = {
            "A": self._A,
            "b": self._b,
            "c": self._c,
            "lower": self._l,
            "upper": self._u,
            "is_equality": self._eq,
        }
        if name not in arrays:
            raise ValueError(f"Unknown block {name!r}; expected one of {sorted(arrays)}.")
        return arrays[name]
