"""Direction strategies: how ``lipschitz_curve`` perturbs its inputs.

A strategy is any callable ``directions(X, eps, n_directions, rng) ->
(X_perturbed, norms)``. ``X`` is the validated input in the estimator's own
format (rows of features, images, a :class:`~sklearn_implicit.lp.LinearPrograms`
container, token sequences); ``X_perturbed`` stacks the perturbed copies in
the same format, **direction-major**: row ``j * n + i`` is sample ``i`` under
direction ``j``; ``norms`` (shape ``(n_copies * n,)``) holds the size of each
input perturbation, the denominator of the ratio. ``rng`` is a
:class:`numpy.random.RandomState`. The strategies below are the ones the
paper uses for each kind of input; every estimator has a default.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FourierModes",
    "GaussianDirections",
    "GivenPairs",
    "LPBlocks",
    "TokenSubstitutions",
]


def _check_eps(eps):
    eps = float(eps)
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}.")
    return eps


class GaussianDirections:
    """Gaussian directions scaled to norm ``eps`` (the default for real-valued rows).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.lipschitz import GaussianDirections
    >>> X = np.zeros((3, 2))
    >>> Xp, norms = GaussianDirections()(X, 0.1, 2, np.random.RandomState(0))
    >>> Xp.shape, norms.shape
    ((6, 2), (6,))
    >>> np.allclose(np.linalg.norm(Xp, axis=1), 0.1)
    True
    """

    def __call__(self, X, eps, n_directions, rng):
        eps = _check_eps(eps)
        X = np.asarray(X, dtype=np.float64)
        d = rng.standard_normal((n_directions,) + X.shape)
        norms = np.sqrt((d.reshape(n_directions, X.shape[0], -1) ** 2).sum(-1, keepdims=True))
        d = d / norms.reshape(norms.shape + (1,) * (X.ndim - 2)) * eps
        Xp = (X[None] + d).reshape((-1,) + X.shape[1:])
        return Xp.astype(np.float32), np.full(n_directions * X.shape[0], eps)

    def __repr__(self):
        return "GaussianDirections()"


class FourierModes:
    """Single Fourier modes ``cos(k_y y + k_x x + phi)``, the same in every channel.

    The paper's perturbations for images and PDE fields: each direction is
    one mode of random wavenumber ``k`` (the constant mode excluded) and
    random phase ``phi``, scaled to norm ``eps``. For a circular blur these
    are its eigenvectors.

    Parameters
    ----------
    shape : tuple of int, optional
        ``(H, W)`` or ``(C, H, W)`` of one sample when ``X`` holds flat rows;
        unused for ``(n, H, W)`` or ``(n, C, H, W)`` arrays. Flat rows with no
        shape are taken as square single-channel images.
    max_frequency : int, optional
        Largest wavenumber: ``|k_y|, k_x <= max_frequency``. Default: every
        frequency of the grid (``k_y`` in ``[0, H)``, ``k_x`` in ``[0, W/2]``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.lipschitz import FourierModes
    >>> X = np.zeros((2, 8, 8))
    >>> Xp, norms = FourierModes(max_frequency=2)(X, 1.0, 3, np.random.RandomState(0))
    >>> Xp.shape
    (6, 8, 8)
    >>> bool(np.allclose(np.linalg.norm(Xp.reshape(6, -1), axis=1), 1.0))
    True
    """

    def __init__(self, shape=None, max_frequency=None):
        self.shape = shape
        self.max_frequency = max_frequency

    def _sample_shape(self, X):
        if X.ndim == 4:
            return X.shape[1:]
        if X.ndim == 3:
            return (1,) + X.shape[1:]
        if X.ndim != 2:
            raise ValueError(f"FourierModes needs 2-D, 3-D or 4-D inputs, got {X.ndim}-D.")
        if self.shape is None:
            side = int(round(np.sqrt(X.shape[1])))
            if side * side != X.shape[1]:
                raise ValueError(
                    f"Rows of {X.shape[1]} features are not square images; give "
                    "FourierModes(shape=(H, W)) or (C, H, W)."
                )
            return (1, side, side)
        shape = tuple(int(s) for s in self.shape)
        shape = (1,) + shape if len(shape) == 2 else shape
        if len(shape) != 3 or int(np.prod(shape)) != X.shape[1]:
            raise ValueError(f"shape={self.shape} does not match rows of {X.shape[1]} features.")
        return shape

    def __call__(self, X, eps, n_directions, rng):
        eps = _check_eps(eps)
        X = np.asarray(X, dtype=np.float64)
        C, H, W = self._sample_shape(X)
        n = X.shape[0]
        m = n_directions * n
        if self.max_frequency is None:
            ky = rng.randint(0, H, size=m)
            kx = rng.randint(0, W // 2 + 1, size=m)
        else:
            kmax = int(self.max_frequency)
            if kmax < 1:
                raise ValueError(f"max_frequency must be >= 1, got {self.max_frequency!r}.")
            ky = rng.randint(-kmax, kmax + 1, size=m)
            kx = rng.randint(0, kmax + 1, size=m)
        zero = (ky == 0) & (kx == 0)
        kx[zero] = 1
        phase = rng.uniform(0, 2 * np.pi, size=m)
        yy = 2 * np.pi * np.arange(H)[None, :, None] / H
        xx = 2 * np.pi * np.arange(W)[None, None, :] / W
        d = np.cos(ky[:, None, None] * yy + kx[:, None, None] * xx + phase[:, None, None])
        d = np.broadcast_to(d[:, None], (m, C, H, W)).reshape(m, -1)
        d = d / np.linalg.norm(d, axis=1, keepdims=True) * eps
        Xp = np.tile(X.reshape(n, -1), (n_directions, 1)) + d
        return Xp.reshape((m,) + X.shape[1:]).astype(np.float32), np.full(m, eps)

    def __repr__(self):
        return f"FourierModes(shape={self.shape!r}, max_frequency={self.max_frequency!r})"


_LP_BLOCKS = ("A", "b", "c", "lower", "upper")
_LP_ALIASES = {"l": "lower", "u": "upper"}


class LPBlocks:
    """Gaussian perturbations of one block of linear programs (the paper's LP figure).

    Each direction is Gaussian on one block only: the nonzeros of ``A``
    (the sparsity pattern is kept), ``b`` (real constraints only), ``c`` or
    the bounds ``lower`` / ``upper`` (real variables only), scaled to norm
    ``eps``. ``X`` is a :class:`~sklearn_implicit.lp.LinearPrograms`
    container (anything with its ``block``, ``with_block``,
    ``variable_mask``, ``n_constraints`` and ``concatenate`` API).

    Parameters
    ----------
    block : {"A", "b", "c", "lower", "upper"}, default="A"
        The perturbed block (``"l"``, ``"u"`` accepted).
    """

    def __init__(self, block="A"):
        self.block = block

    def __call__(self, X, eps, n_directions, rng):
        eps = _check_eps(eps)
        block = _LP_ALIASES.get(self.block, self.block)
        if block not in _LP_BLOCKS:
            raise ValueError(f"block must be one of {list(_LP_BLOCKS)}, got {self.block!r}.")
        base = X.block(block)
        if block == "A":
            support = base != 0
        elif block == "b":
            support = np.arange(base.shape[1])[None, :] < X.n_constraints[:, None]
        else:
            support = X.variable_mask()
        parts = []
        for _ in range(n_directions):
            d = rng.standard_normal(base.shape) * support
            norms = np.sqrt((d.reshape(len(X), -1) ** 2).sum(1))
            norms[norms == 0] = 1.0
            d = d / norms.reshape((-1,) + (1,) * (d.ndim - 1)) * eps
            parts.append(X.with_block(block, base + d))
        return type(X).concatenate(parts), np.full(n_directions * len(X), eps)

    def __repr__(self):
        return f"LPBlocks(block={self.block!r})"


class TokenSubstitutions:
    """One random non-padding token replaced per copy; input distance 1.

    The position is uniform over the non-padded ones and the new token
    uniform over the other tokens of the vocabulary ``0..n_tokens - 1``.
    ``eps`` is unused (a token edit has size one).

    Parameters
    ----------
    n_tokens : int, optional
        Vocabulary size; default the largest token of ``X`` plus one.
    pad : int, default=-1
        The padding token, never substituted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.lipschitz import TokenSubstitutions
    >>> X = np.array([[0, 1, 2, -1]])
    >>> Xp, norms = TokenSubstitutions(n_tokens=3)(X, 1.0, 2, np.random.RandomState(0))
    >>> (Xp != X).sum(axis=1).tolist(), norms.tolist()
    ([1, 1], [1.0, 1.0])
    """

    def __init__(self, n_tokens=None, pad=-1):
        self.n_tokens = n_tokens
        self.pad = pad

    def __call__(self, X, eps, n_directions, rng):
        X = np.asarray(X)
        n_tokens = int(X.max()) + 1 if self.n_tokens is None else int(self.n_tokens)
        if n_tokens < 2:
            raise ValueError("Token substitutions need a vocabulary of at least 2 tokens.")
        parts = []
        valid = X != self.pad
        rows = np.arange(X.shape[0])
        for _ in range(n_directions):
            Xp = X.copy()
            scores = rng.random_sample(X.shape) * valid
            pos = scores.argmax(axis=1)
            old = X[rows, pos]
            new = rng.randint(0, n_tokens - 1, size=X.shape[0])
            Xp[rows, pos] = new + (new >= old)
            parts.append(Xp)
        return np.concatenate(parts), np.ones(n_directions * X.shape[0])

    def __repr__(self):
        return f"TokenSubstitutions(n_tokens={self.n_tokens!r}, pad={self.pad!r})"


class GivenPairs:
    """Measure on given pairs ``(X[i], X_pairs[i])`` instead of random directions.

    ``eps`` and ``n_directions`` are unused: there is one partner per
    sample. The ratio divides by ``distance(X, X_pairs)`` (Euclidean row
    norms of the difference by default; e.g. a Levenshtein distance for
    token sequences); every pair must differ.

    Parameters
    ----------
    X_pairs : array-like
        Partners, in the estimator's validated input format, same length as
        ``X``.
    distance : callable, optional
        ``distance(X, X_pairs) -> ndarray of shape (n,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.lipschitz import GivenPairs
    >>> X = np.zeros((2, 2))
    >>> Xp, norms = GivenPairs(np.ones((2, 2)))(X, 1e-3, 4, None)
    >>> norms.round(3).tolist()
    [1.414, 1.414]
    """

    def __init__(self, X_pairs, distance=None):
        self.X_pairs = X_pairs
        self.distance = distance

    def __call__(self, X, eps, n_directions, rng):
        X = np.asarray(X)
        Xp = np.asarray(self.X_pairs, dtype=X.dtype)
        if Xp.shape != X.shape:
            raise ValueError(
                f"X_pairs has shape {Xp.shape}, expected {X.shape} (one partner per row)."
            )
        if self.distance is None:
            diff = (Xp.astype(np.float64) - X.astype(np.float64)).reshape(X.shape[0], -1)
            norms = np.linalg.norm(diff, axis=1)
        else:
            norms = np.asarray(self.distance(X, Xp), dtype=np.float64)
        if (norms == 0).any():
            raise ValueError(
                f"{int((norms == 0).sum())} rows of X_pairs equal their row of X; every pair "
                "must differ (the ratio divides by the input distance)."
            )
        return Xp, norms

    def __repr__(self):
        return f"GivenPairs(X_pairs=<{len(self.X_pairs)} rows>, distance={self.distance!r})"
