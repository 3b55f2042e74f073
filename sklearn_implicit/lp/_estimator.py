"""``LPGNNRegressor``: an implicit bipartite GNN that predicts LP solutions."""

from __future__ import annotations

import sys
from numbers import Integral

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval
from torch import nn

from .._estimator import BaseImplicitEstimator
from ._container import LinearPrograms
from ._gnn import (
    ExplicitLPGNN,
    ImplicitLPGNNLayer,
    LPEncoder,
    LPImplicitModule,
    LPReadout,
    orthogonal_init,
)

__all__ = ["ExplicitLPGNNRegressor", "LPGNNRegressor", "MaskedMSELoss"]

_BLOCKS = ("A", "b", "c", "lower", "upper")
_BLOCK_ALIASES = {"l": "lower", "u": "upper"}


class MaskedMSELoss(nn.Module):
    """Mean squared error over the finite entries of the target (NaN = padded slot)."""

    def forward(self, y_pred, y_true):
        valid = torch.isfinite(y_true)
        diff = torch.where(valid, y_pred - torch.where(valid, y_true, 0.0), 0.0)
        return (diff**2).sum() / valid.sum().clamp_min(1)


def _feature_scales(X, y):
    """Training standard deviations of the input blocks and of the target (floored)."""

    def std(values):
        values = np.asarray(values, dtype=np.float64)
        s = float(values.std()) if values.size else 1.0
        return s if np.isfinite(s) and s > 1e-12 else 1.0

    cmask = np.arange(X.padded_shape[0])[None, :] < X.n_constraints[:, None]
    vmask = X.variable_mask()
    A = X.block("A")
    bounds = np.concatenate([X.block("lower")[vmask], X.block("upper")[vmask]])
    return {
        "cons": [std(X.block("b")[cmask]), 1.0],
        "var": [std(X.block("c")[vmask]), std(bounds), std(bounds)],
        "edge": std(A[A != 0]),
        "target": std(y[np.isfinite(y)]),
    }


def _check_lps(X):
    if isinstance(X, LinearPrograms):
        if len(X) == 0:
            raise ValueError("Found an empty LinearPrograms container (0 samples).")
        return X
    if isinstance(X, (list, tuple)) and X and all(isinstance(x, dict) for x in X):
        keys = ("A", "b", "c", "lower", "upper", "is_equality")
        return LinearPrograms(*[[x[k] for x in X] for k in keys])
    raise ValueError(
        "X must be a sklearn_implicit.lp.LinearPrograms container (or a list of LP dicts "
        f"with keys A, b, c, lower, upper, is_equality); got {type(X).__name__}."
    )


def _check_targets(y, X):
    """Targets as a float array (n_samples, N) with NaN on padded slots."""
    if isinstance(y, (list, tuple)) and y and np.ndim(y[0]) == 1:
        rows = [np.asarray(r, dtype=np.float64) for r in y]
        width = max(r.shape[0] for r in rows)
        y = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            y[i, : r.shape[0]] = r
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D (n_samples, n_variables), got shape {y.shape}.")
    if y.shape[0] != len(X):
        raise ValueError(f"X has {len(X)} linear programs but y has {y.shape[0]} rows.")
    N = X.padded_shape[1]
    if y.shape[1] < X.n_variables.max():
        raise ValueError(
            f"y has {y.shape[1]} columns but some instances have {X.n_variables.max()} variables."
        )
    y = y[:, :N] if y.shape[1] >= N else np.pad(y, ((0, 0), (0, N - y.shape[1])), "constant")
    mask = X.variable_mask()
    if not np.isfinite(y[mask]).all():
        raise ValueError("y contains NaN or infinite values on real variables.")
    return np.where(mask, y, np.nan)


class LPGNNRegressor(RegressorMixin, BaseImplicitEstimator):
    """Implicit bipartite GNN that maps a linear program to its optimal solution.

    An LP ``min c^T y  s.t.  A y o b,  l <= y <= u`` is a bipartite graph:
    constraint nodes with features ``(b_i, o_i)`` (``o_i = 1`` for an
    equality), variable nodes with ``(c_j, l_j, u_j)``, an edge of weight
    ``A_ij`` for each nonzero. The operator ``G(y, x)`` takes a state ``y``
    with one scalar per variable, runs four half-layers of message passing
    (variables -> constraints -> variables -> constraints -> variables) on the
    node embeddings with ``y`` appended to the variable features (input
    injection), and maps each variable node back to a new scalar. The answer
    is a read-out MLP of ``[emb(var), y_T]`` after ``T`` applications from
    ``y_0 = 0``. The state is per instance (padded to the batch's largest
    ``n`` with a mask), so LPs of any size, also sizes unseen in training,
    can be predicted.

    Defaults follow the paper: plain unrolled backpropagation through a fixed
    number of iterations (``backward="unroll"``, ``tol=0``), full-batch Adam
    on the mean squared error.

    Parameters
    ----------
    emb_size : int, default=16
        Width of the node embeddings and message-passing MLPs.
    n_iter : int, default=6
        Applications of ``G`` in training and default prediction
        (``predict(X, n_iter=t)`` changes it at test time).
    tol : float, default=0.0
        Early-stopping tolerance; 0 runs exactly ``n_iter`` steps (and then
        no convergence warning is raised).
    solver : {"picard", "anderson"} or callable, default="picard"
        Forward solver.
    backward : {"unroll", "implicit", "jacobian_free", "phantom"}, default="unroll"
        Gradient through the solve.
    max_epochs : int, default=300
        Training epochs.
    lr : float, default=1e-2
        Adam learning rate.
    batch_size : int or None, default=None
        Instances per mini-batch; None trains full batch (as the paper).
    optimizer : str or torch optimizer class, default="adam"
        Optimizer.
    device : str, default="auto"
        Torch device.
    random_state : int, RandomState instance or None, default=None
        Seed of initialisation and shuffling.
    normalize : bool, default=True
        Divide the input blocks (``b``; ``c``; the bounds; ``A``) and the
        output by their standard deviations on the training set (fixed
        buffers, not trained). False feeds raw features as the paper's code.
    verbose : int, default=0
        Progress bar over epochs when positive.
    **kwargs
        Routed ``optimizer__*``, ``solver__*`` and ``backward__*`` parameters.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_`` is the torch module.
    loss_curve_ : list of float
        Training loss per epoch.
    n_params_ : int
        Number of trainable parameters.

    See Also
    --------
    ExplicitLPGNNRegressor : The same layers, untied, at a fixed depth.
    sklearn_implicit.datasets.make_linear_programs : Training data.
    sklearn_implicit.lp.lp_relative_error : The paper's error metric.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_linear_programs
    >>> from sklearn_implicit.lp import LPGNNRegressor, lp_relative_error
    >>> X, y = make_linear_programs(
    ...     10, n_constraints=3, n_variables=5, nnz=6, cache=False, random_state=0
    ... )
    >>> est = LPGNNRegressor(emb_size=4, max_epochs=2, random_state=0).fit(X, y)
    >>> est.predict(X[:3]).shape
    (3, 5)
    >>> est.predict(X[:3], n_iter=2).shape
    (3, 5)
    >>> bool(lp_relative_error(y, est.predict(X)) >= 0)
    True
    >>> est.n_params_
    722
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in BaseImplicitEstimator._parameter_constraints.items()
            if k not in ("operator", "encoder", "decoder", "batch_size")
        },
        "emb_size": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
    }

    def __init__(
        self,
        emb_size=16,
        *,
        n_iter=6,
        tol=0.0,
        solver="picard",
        backward="unroll",
        max_epochs=300,
        lr=1e-2,
        batch_size=None,
        optimizer="adam",
        device="auto",
        random_state=None,
        normalize=True,
        verbose=0,
        **kwargs,
    ):
        self.emb_size = emb_size
        self.n_iter = n_iter
        self.tol = tol
        self.solver = solver
        self.backward = backward
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.device = device
        self.random_state = random_state
        self.normalize = normalize
        self.verbose = verbose
        self._set_prefixed(kwargs, error=TypeError)

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ hooks
    def _validate_Xy(self, X, y):
        X = _check_lps(X)
        return X, _check_targets(y, X)

    def _validate_X(self, X):
        return _check_lps(X)

    def _to_tensor(self, X, device):
        return torch.from_numpy(X.to_flat()).to(device)

    def _n_rows(self, X):
        return len(X)

    def _slice(self, X, start, stop):
        return X[start:stop]

    def _concat(self, parts):
        return LinearPrograms.concatenate(parts)

    def _training_inputs(self, X):
        return X.to_flat()

    def _targets_for_training(self, y):
        return np.asarray(y, dtype=np.float32)

    def _criterion(self):
        return MaskedMSELoss

    def _net_kwargs(self):
        if self.batch_size is None:
            return {"iterator_train__batch_size": sys.maxsize}
        return {}

    def _build_module(self, X, y):
        e = int(self.emb_size)
        encoder = LPEncoder(e)
        operator = ImplicitLPGNNLayer(e)
        readout = LPReadout(e + 1, e)
        module = self._assemble(operator, encoder, readout, state_shape=(0,))
        module = LPImplicitModule(
            module.operator,
            module.encoder,
            module.decoder,
            state_shape=(0,),
            solver=module.solver,
            backward=module.backward,
            n_iter=module.n_iter,
            tol=module.tol,
        )
        orthogonal_init(module)
        return self._scaled(module, X, y)

    def _scaled(self, module, X, y):
        if self.normalize:
            scales = _feature_scales(X, y)
            module.encoder.set_scales(scales["cons"], scales["var"], scales["edge"])
            module.decoder.scale.fill_(scales["target"])
        return module

    def fit(self, X, y):
        """Train on linear programs ``X`` and their optimal solutions ``y``.

        Parameters
        ----------
        X : LinearPrograms
            Training instances.
        y : array-like of shape (n_samples, n_variables)
            Optimal solutions (NaN on padded slots when sizes differ), or a
            list of 1-D arrays.

        Returns
        -------
        self : object
        """
        super().fit(X, y)
        self.n_params_ = sum(p.numel() for p in self.net_.module_.parameters())
        return self

    def _warn_info(self, info, explicit_budget):
        super()._warn_info(info, explicit_budget=explicit_budget or self.tol == 0)

    def _format_output(self, y):
        return y.numpy().astype(np.float64, copy=False)

    def score(self, X, y, sample_weight=None):
        """R^2 over all (instance, variable) entries pooled, padded slots ignored.

        Parameters
        ----------
        X : LinearPrograms
            Instances.
        y : array-like of shape (n_samples, n_variables)
            Optimal solutions.
        sample_weight : array-like of shape (n_samples,), optional
            Per-instance weights (spread over the instance's variables).

        Returns
        -------
        float
        """
        X = _check_lps(X)
        y = _check_targets(y, X)
        y_pred = self.predict(X)
        mask = np.isfinite(y)
        w = None
        if sample_weight is not None:
            w = np.broadcast_to(np.asarray(sample_weight, dtype=float)[:, None], y.shape)[mask]
        return float(r2_score(y[mask], y_pred[mask], sample_weight=w))

    # ------------------------------------------------------------------ lipschitz
    def _perturb(self, X, eps, n_directions, rng):
        block = getattr(self, "_perturb_block", "A")
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
        return LinearPrograms.concatenate(parts), np.full(n_directions * len(X), float(eps))

    def _output_distance(self, y_perturbed, y_base):
        diff = torch.nan_to_num(y_perturbed - y_base, nan=0.0)
        return torch.linalg.vector_norm(diff.reshape(y_base.shape[0], -1), dim=1)

    def lipschitz_curve(
        self,
        X,
        n_iter=None,
        *,
        block="A",
        eps=1e-3,
        n_directions=4,
        reduce="mean",
        random_state=None,
    ):
        """Empirical ``L_t`` under random perturbations of one LP block.

        As in the paper, each direction is Gaussian on one block only: the
        nonzeros of ``A`` (the sparsity pattern is kept), ``b``, ``c``, or the
        bounds ``l`` / ``u``, scaled to norm ``eps``; ``L_t`` is the mean (by
        default) over instances and directions of ``||y_t(x + d) - y_t(x)|| /
        ||d||``. The paper uses ``eps = 1e-4``; the default here is ``1e-3``
        because the model runs in float32.

        Parameters
        ----------
        X : LinearPrograms
            Instances at which to measure.
        n_iter : int, optional
            Largest budget ``T``; default the estimator's ``n_iter``.
        block : {"A", "b", "c", "lower", "upper"}, default="A"
            Which block is perturbed (``"l"`` and ``"u"`` are accepted too).
        eps : float, default=1e-3
            Norm of each perturbation.
        n_directions : int, default=4
            Directions per instance.
        reduce : {"mean", "max"}, default="mean"
            Aggregation over instances and directions.
        random_state : int, RandomState instance or None
            Seed of the directions.

        Returns
        -------
        LipschitzCurve
        """
        block = _BLOCK_ALIASES.get(block, block)
        if block not in _BLOCKS:
            raise ValueError(f"block must be one of {list(_BLOCKS)}, got {block!r}.")
        self._perturb_block = block
        try:
            return super().lipschitz_curve(
                X,
                n_iter,
                eps=eps,
                n_directions=n_directions,
                reduce=reduce,
                random_state=random_state,
            )
        finally:
            del self._perturb_block


class ExplicitLPGNNRegressor(LPGNNRegressor):
    """Explicit bipartite GNN: the same layers, untied, at a fixed depth.

    Embeddings, ``n_rounds`` rounds of (variables -> constraints,
    constraints -> variables) half-layers with their own weights, and a
    read-out MLP: the paper's explicit baseline (``n_rounds=2``). The output
    does not depend on a budget, so ``predict(X, n_iter=t)`` is the same for
    every ``t``.

    Parameters
    ----------
    emb_size : int, default=16
        Width of the embeddings and MLPs.
    n_rounds : int, default=2
        Rounds of message passing (two half-layers each).
    max_epochs, lr, batch_size, optimizer, device, random_state, normalize, verbose, **kwargs
        As in :class:`LPGNNRegressor`.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained net.
    n_params_ : int
        Number of trainable parameters.

    Examples
    --------
    >>> from sklearn_implicit.lp import ExplicitLPGNNRegressor
    >>> ExplicitLPGNNRegressor(emb_size=4).get_params()["n_rounds"]
    2
    """

    #: Explicit networks have no solve; these make the shared inference code run once.
    n_iter = 1
    tol = 0.0

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in LPGNNRegressor._parameter_constraints.items()
            if k not in ("n_iter", "tol", "solver", "backward")
        },
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        emb_size=16,
        *,
        n_rounds=2,
        max_epochs=300,
        lr=1e-2,
        batch_size=None,
        optimizer="adam",
        device="auto",
        random_state=None,
        normalize=True,
        verbose=0,
        **kwargs,
    ):
        self.emb_size = emb_size
        self.n_rounds = n_rounds
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.device = device
        self.random_state = random_state
        self.normalize = normalize
        self.verbose = verbose
        self._set_prefixed(kwargs, error=TypeError)

    def _build_module(self, X, y):
        return self._scaled(ExplicitLPGNN(int(self.emb_size), int(self.n_rounds)), X, y)

    def lipschitz_curve(self, X, n_iter=None, **kwargs):
        """Empirical Lipschitz constant (constant over ``t``); see :class:`LPGNNRegressor`."""
        return super().lipschitz_curve(X, 1 if n_iter is None else n_iter, **kwargs)
