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


# ---------------------------------------------------------------------- linprog form
def _linprog_real(value, name):
    """``value`` (dense or sparse) as a float64 array of real, non-NaN numbers."""
    if sparse.issparse(value):
        value = value.toarray()
    arr = np.asarray(value)
    if np.iscomplexobj(arr) or (
        arr.dtype == object and any(isinstance(v, complex) for v in arr.ravel())
    ):
        raise ValueError(f"{name} has complex values; linear programs need real coefficients.")
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold real numbers (got dtype {arr.dtype}).") from err
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN.")
    if np.isinf(arr).any():
        raise ValueError(
            f"{name} contains infinite values; only the variable bounds may be infinite."
        )
    return arr


def _linprog_vector(value, name):
    """A 1-D vector the way :func:`scipy.optimize.linprog` reads ``c``, ``b_ub``, ``b_eq``.

    Singleton dimensions are squeezed away (a ``(m, 1)`` column is a vector).
    """
    arr = _linprog_real(value, name).squeeze()
    arr = arr.reshape(-1) if arr.size == 1 else arr
    if arr.ndim != 1 or (name.startswith("c") and arr.size == 0):
        raise ValueError(
            f"{name} must be 1-D (at most one non-singleton dimension) and non-empty for c, "
            f"got shape {np.shape(value)}."
        )
    return arr


def _linprog_constraints(A, b, n, names, suffix):
    """``(A, b)`` of one constraint type: ``A`` of shape (m, n), ``b`` of shape (m,)."""
    name_A, name_b = (f"{name}{suffix}" for name in names)
    if A is None:
        A = np.zeros((0, n))
    else:
        A = _linprog_real(A, name_A)
        if A.ndim != 2 or A.shape[1] != n:
            raise ValueError(
                f"{name_A} must be a 2-D matrix with one column per variable (len(c{suffix}) "
                f"= {n}), got shape {A.shape}."
            )
    if b is None:
        b = np.zeros(0)
    else:
        b = _linprog_vector(b, name_b)
    if b.shape[0] != A.shape[0]:
        if A.shape[0] == 0:
            raise ValueError(f"{name_b} is given but {name_A} is not: pass both or neither.")
        raise ValueError(
            f"{name_b} has {b.shape[0]} entries but {name_A} has {A.shape[0]} rows: one "
            "right-hand side per constraint."
        )
    return A, b


def _linprog_bounds(bounds, n, name):
    """``(lower, upper)`` from :func:`scipy.optimize.linprog`'s ``bounds``, ``None`` as +-inf."""
    try:
        objects = np.array(bounds, dtype=object)
    except ValueError as err:  # nested sequences of different lengths
        raise ValueError(f"{name}: unable to interpret the bounds {bounds!r}.") from err
    if bounds is None or objects.size == 0:  # SciPy's default: x >= 0
        objects = np.array([0.0, None], dtype=object)
    if any(isinstance(v, (complex, np.complexfloating)) for v in objects.ravel()):
        raise ValueError(f"{name} has complex values; bounds must be real or None.")
    is_none = np.vectorize(lambda v: v is None, otypes=[bool])(objects)
    try:
        values = objects.astype(np.float64)  # None becomes NaN
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name}: unable to interpret the bounds {bounds!r}; use numbers, None or +-inf."
        ) from err
    if (np.isnan(values) & ~is_none).any():
        raise ValueError(f"{name} contains NaN; use None (or -inf / inf) for a missing bound.")
    values = np.atleast_2d(values)
    if values.ndim > 2:
        raise ValueError(f"{name} must be a pair or an (n, 2) array, got shape {values.shape}.")
    if values.shape == (n, 2):
        pairs = values
    elif values.shape in ((1, 2), (2, 1)):
        pairs = np.tile(values.reshape(1, 2), (n, 1))
    elif values.shape == (2, n):
        raise ValueError(f"{name}: provide an {n} x 2 array of (min, max) pairs, not 2 x {n}.")
    else:
        raise ValueError(
            f"{name} must be one (min, max) pair for all variables or one pair per variable "
            f"(shape ({n}, 2)); got shape {values.shape}."
        )
    lower = np.where(np.isnan(pairs[:, 0]), -np.inf, pairs[:, 0])
    upper = np.where(np.isnan(pairs[:, 1]), np.inf, pairs[:, 1])
    wrong = np.flatnonzero((lower > upper) | (lower == np.inf) | (upper == -np.inf))
    if wrong.size:
        j = wrong[0]
        raise ValueError(
            f"{name}: variable {j} has the bounds ({lower[j]}, {upper[j]}); a lower bound must "
            "not exceed its upper bound, nor be +inf (nor an upper bound -inf)."
        )
    return lower, upper


def _linprog_instance(c, A_ub, b_ub, A_eq, b_eq, bounds, suffix=""):
    """One LP in :func:`scipy.optimize.linprog`'s form as ``(A, b, c, lower, upper, eq)``."""
    c = _linprog_vector(c, f"c{suffix}")
    n = c.shape[0]
    A_ub, b_ub = _linprog_constraints(A_ub, b_ub, n, ("A_ub", "b_ub"), suffix)
    A_eq, b_eq = _linprog_constraints(A_eq, b_eq, n, ("A_eq", "b_eq"), suffix)
    lower, upper = _linprog_bounds(bounds, n, f"bounds{suffix}")
    is_equality = np.r_[np.zeros(A_ub.shape[0], bool), np.ones(A_eq.shape[0], bool)]
    return np.vstack([A_ub, A_eq]), np.r_[b_ub, b_eq], c, lower, upper, is_equality


def _is_batch_of_costs(c):
    """Whether ``c`` lists several LPs' costs (a 2-D array or a sequence of vectors)."""
    if isinstance(c, np.ndarray):
        return c.ndim == 2
    if isinstance(c, (list, tuple)):
        return any(np.ndim(v) >= 1 or sparse.issparse(v) for v in c)
    return False


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
        Variable bounds; ``-inf`` (lower) and ``inf`` (upper) mean no bound.
    is_equality : sequence of array-like of bool, shape (m_i,)
        Which constraints are equalities (the others are ``<=``): booleans,
        or the numbers 0 and 1.

    All six arguments need one entry per instance. :meth:`from_dicts` builds
    the container from one dict per instance instead, :meth:`from_linprog`
    from :func:`scipy.optimize.linprog`'s arguments.

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

    @classmethod
    def from_linprog(cls, c, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=None):
        """Build the container from :func:`scipy.optimize.linprog`'s arguments.

        One LP ``min c^T x  s.t.  A_ub x <= b_ub,  A_eq x == b_eq,  l <= x <= u``
        with SciPy's conventions, or several: then every argument given is a
        sequence with one entry per LP (``c`` a list of cost vectors or a 2-D
        array, one row per LP; an entry may be None where that LP has no
        such constraints or default bounds).

        Parameters
        ----------
        c : array-like of shape (n,), or sequence of them
            Costs. Singleton dimensions are squeezed as SciPy does, except that
            a 2-D array holds several LPs, one per row.
        A_ub : array-like or sparse matrix of shape (m_ub, n), optional
            Inequality constraint matrix (``A_ub x <= b_ub``), dense or
            :mod:`scipy.sparse`.
        b_ub : array-like of shape (m_ub,), optional
            Inequality right-hand sides.
        A_eq : array-like or sparse matrix of shape (m_eq, n), optional
            Equality constraint matrix (``A_eq x == b_eq``).
        b_eq : array-like of shape (m_eq,), optional
            Equality right-hand sides.
        bounds : sequence, optional
            As in :func:`scipy.optimize.linprog`: None (or empty) means
            ``(0, None)`` for every variable; one ``(min, max)`` pair applies
            to all variables; otherwise one pair per variable (shape (n, 2)).
            None (or ``-inf`` / ``inf``) means no bound on that side. NaN is
            refused (SciPy would read it as None).

        Returns
        -------
        X : LinearPrograms
            Each LP's constraints are the rows of ``A_ub`` followed by those of
            ``A_eq`` (``is_equality`` False, then True). Infinite bounds are
            kept as ``-inf`` / ``inf``.

        Raises
        ------
        ValueError
            On shapes that do not fit (the message names the argument, and the
            LP as ``A_ub[i]`` in a batch), NaN, complex values, infinite
            coefficients, or a lower bound above its upper bound.

        See Also
        --------
        to_linprog : The inverse: ``from_linprog(**X.to_linprog(i))`` is
            instance ``i`` with its inequalities moved before its equalities.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy import sparse
        >>> from sklearn_implicit.lp import LinearPrograms
        >>> X = LinearPrograms.from_linprog(
        ...     c=[-1.0, -2.0, 0.5],
        ...     A_ub=sparse.csr_matrix([[1.0, 1.0, 0.0]]), b_ub=[4.0],
        ...     A_eq=[[1.0, 0.0, -1.0]], b_eq=[1.0],
        ...     bounds=[(0, None), (None, 3.0), (-1.0, 1.0)],
        ... )
        >>> X[0]["lower"].tolist(), X[0]["upper"].tolist(), X[0]["is_equality"].tolist()
        ([0.0, -inf, -1.0], [inf, 3.0, 1.0], [False, True])
        >>> batch = LinearPrograms.from_linprog(
        ...     c=[[1.0, 1.0], [1.0, 2.0, 3.0]],
        ...     A_ub=[[[-1.0, -1.0]], None], b_ub=[[-1.0], None],
        ...     A_eq=[None, [[1.0, 1.0, 1.0]]], b_eq=[None, [2.0]],
        ... )
        >>> batch.n_constraints.tolist(), batch.n_variables.tolist()
        ([1, 1], [2, 3])
        """
        given = {"A_ub": A_ub, "b_ub": b_ub, "A_eq": A_eq, "b_eq": b_eq, "bounds": bounds}
        if not _is_batch_of_costs(c):
            return cls(*([part] for part in _linprog_instance(c, **given)))
        costs = list(c)
        k = len(costs)
        per_lp = {}
        for name, value in given.items():
            if value is None:
                per_lp[name] = [None] * k
                continue
            if not isinstance(value, (list, tuple, np.ndarray)) or (
                name == "bounds" and any(v is not None and np.ndim(v) == 0 for v in value)
            ):
                raise ValueError(
                    f"c holds {k} linear programs (a 2-D array or a sequence of cost "
                    f"vectors), so {name} needs one entry per linear program (None where "
                    f"one has none); got {type(value).__name__}"
                    + (f" {value!r}" if name == "bounds" else "")
                    + ". For one LP, pass c as a 1-D vector."
                )
            per_lp[name] = list(value)
            if len(per_lp[name]) != k:
                raise ValueError(
                    f"{name} has {len(per_lp[name])} entries but c holds {k} linear programs."
                )
        parts = [
            _linprog_instance(
                costs[i], **{name: v[i] for name, v in per_lp.items()}, suffix=f"[{i}]"
            )
            for i in range(k)
        ]
        return cls(*(list(block) for block in zip(*parts, strict=True)))

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
        if np.isnan(self._l).any() or np.isnan(self._u).any():
            raise ValueError(
                "LinearPrograms: the variable bounds contain NaN; use -inf / inf for a "
                "missing bound."
            )
        if (self._l == np.inf).any() or (self._u == -np.inf).any():
            raise ValueError(
                "LinearPrograms: a lower bound is +inf or an upper bound -inf (no point "
                "satisfies it)."
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
        """Keyword arguments of :func:`scipy.optimize.linprog` for instance ``i``.

        Returns
        -------
        kwargs : dict
            ``c``; ``A_ub``, ``b_ub`` (the ``<=`` rows) and ``A_eq``, ``b_eq``
            (the equalities), each None where the instance has no such rows;
            ``bounds`` an (n_i, 2) array of ``(lower, upper)`` pairs, ``-inf`` /
            ``inf`` where a side is unbounded. :meth:`from_linprog` reads it
            back (with the inequality rows first).
        """
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
        row-major)]``; padded entries are zero, infinite bounds stay ``-inf`` /
        ``inf`` (the model's encoder clips them, see
        :class:`~sklearn_implicit.lp.LPGNNRegressor`).
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
