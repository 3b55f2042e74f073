"""``FNORegressor``: the implicit Fourier neural operator (and its explicit counterpart)."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._estimator import BaseImplicitEstimator
from ..backward import get_backward
from ._operators import FourierOperator, GridLifting, PointwiseProjection

__all__ = ["FNORegressor", "RelativeL2Loss", "relative_l2_error"]


def relative_l2_error(y_true, y_pred):
    """Mean over samples of ``||y_pred - y_true|| / ||y_true||`` (the operator-learning metric).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_features)
        Reference and predicted fields, one flattened field per row.

    Returns
    -------
    error : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.pde import relative_l2_error
    >>> y = np.ones((2, 4))
    >>> relative_l2_error(y, 1.1 * y)
    0.1
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"Shapes differ: y_true {y_true.shape}, y_pred {y_pred.shape}.")
    n = y_true.shape[0]
    num = np.linalg.norm((y_pred - y_true).reshape(n, -1), axis=1)
    den = np.maximum(np.linalg.norm(y_true.reshape(n, -1), axis=1), 1e-12)
    return round(float(np.mean(num / den)), 12)


class RelativeL2Loss(nn.Module):
    """Training loss: mean over the batch of ``||y_pred - y|| / ||y||``."""

    def forward(self, y_pred, y_true):
        n = y_true.shape[0]
        num = torch.linalg.vector_norm((y_pred - y_true).reshape(n, -1), dim=1)
        den = torch.linalg.vector_norm(y_true.reshape(n, -1), dim=1).clamp_min(1e-12)
        return (num / den).mean()


class FNORegressor(RegressorMixin, BaseImplicitEstimator):
    """Implicit Fourier neural operator: fields in, the fixed point of Fourier layers out.

    The model is ``w = Q_psi(z*)`` with ``z* = G(z*, Q_phi(f))``:
    ``Q_phi`` (:class:`GridLifting`) standardises the input fields, appends
    the grid coordinates and lifts pointwise to one ``width``-channel field
    ``u_l`` per layer; ``G`` (:class:`FourierOperator`) is ``n_layers``
    Fourier layers ``z <- GELU(K z + W z + u_l)`` (spectral convolution on
    the ``modes`` lowest frequencies, pointwise linear map, input
    injection); ``Q_psi``
    (:class:`PointwiseProjection`) is a pointwise MLP to one output field.
    ``predict(X, n_iter=t)`` answers with ``t`` applications of ``G`` from
    ``z_0 = 0``.

    ``architecture="explicit"`` is the explicit FNO of the same width: the
    same Fourier layers untied from the iteration and without injection,
    applied once to the lifted input (``n_iter``, ``solver`` and ``backward``
    are then ignored).

    **Shape convention.** Rows of ``X`` hold ``C`` input fields on an
    ``H x W`` periodic grid, flattened channel-major and row-major
    (``C * H * W`` features); rows of ``y`` hold one output field
    (``H * W`` features), e.g. the forcing curl and the steady vorticity
    from :func:`~sklearn_implicit.datasets.make_navier_stokes`. ``C`` is
    inferred from the two widths. The spectral convolution is this
    package's own compact implementation (:class:`SpectralConv2d`); the
    domain is periodic so the layers use no padding.

    Parameters
    ----------
    architecture : {"implicit", "explicit"}, default="implicit"
        Weight-tied fixed point with injection, or the explicit stack.
    width : int, default=32
        Channels of the latent state.
    modes : int, default=12
        Fourier modes kept per axis by each spectral convolution.
    n_layers : int, default=2
        Fourier layers per application of ``G`` (explicit: layers in all).
    projection_width : int, default=128
        Hidden channels of the output MLP.
    grid_shape : tuple of int or None, default=None
        ``(H, W)``; None means a square grid (``H = W = sqrt(n_outputs)``).
    n_iter : int, default=24
        Budget of applications of ``G`` (training and default prediction).
    tol : float, default=1e-4
        Per-sample relative residual at which the solve stops.
    solver : {"picard", "anderson"} or callable, default="anderson"
        Forward solver (options via ``solver__*``).
    backward : {"implicit", "jacobian_free", "phantom", "unroll"}, default="phantom"
        Gradient through the solve (options via ``backward__*``, e.g.
        ``backward__k=3, backward__tau=0.8`` as in the paper).
    max_epochs : int, default=100
        Training epochs.
    lr : float, default=5e-3
        Learning rate (Adam; the paper adds ``optimizer__weight_decay=1e-4``).
    batch_size : int, default=16
        Mini-batch size.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or class, default="adam"
        Optimizer (options via ``optimizer__*``).
    device : str, default="auto"
        Torch device; ``"auto"`` uses CUDA when present.
    random_state : int, RandomState instance or None, default=None
        Seed of initialisation and shuffling.
    verbose : int, default=0
        Progress bar over epochs when positive.
    **kwargs
        Routed ``solver__*``, ``backward__*``, ``optimizer__*`` parameters.

    Attributes
    ----------
    grid_shape_ : tuple of int
        ``(H, W)``.
    in_channels_ : int
        Input fields per sample ``C``.
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_.operator`` is the :class:`FourierOperator`.
    n_features_in_ : int
        ``C * H * W``.
    loss_curve_ : list of float
        Training loss (relative L2 error) per epoch.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_navier_stokes
    >>> from sklearn_implicit.pde import FNORegressor, relative_l2_error
    >>> X, y = make_navier_stokes(16, resolution=16, cache=False, random_state=0)
    >>> est = FNORegressor(width=8, modes=4, n_iter=6, max_epochs=2, random_state=0)
    >>> est = est.fit(X, y)
    >>> est.predict(X[:2], n_iter=3).shape
    (2, 256)
    >>> err = relative_l2_error(y, est.predict(X, n_iter=6))  # est.score(X, y): R^2
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in BaseImplicitEstimator._parameter_constraints.items()
            if k not in ("operator", "encoder", "decoder")
        },
        "architecture": [StrOptions({"implicit", "explicit"})],
        "width": [Interval(Integral, 1, None, closed="left")],
        "modes": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "projection_width": [Interval(Integral, 1, None, closed="left")],
        "grid_shape": [None, tuple, list],
    }

    _predict_chunk_size = 256

    def __init__(
        self,
        architecture="implicit",
        *,
        width=32,
        modes=12,
        n_layers=2,
        projection_width=128,
        grid_shape=None,
        n_iter=24,
        tol=1e-4,
        solver="anderson",
        backward="phantom",
        max_epochs=100,
        lr=5e-3,
        batch_size=16,
        optimizer="adam",
        device="auto",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        self.architecture = architecture
        self.width = width
        self.modes = modes
        self.n_layers = n_layers
        self.projection_width = projection_width
        self.grid_shape = grid_shape
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
        self.verbose = verbose
        self._set_prefixed(kwargs, error=TypeError)

    # ------------------------------------------------------------------ data
    def _resolve_grid(self, n_outputs):
        if self.grid_shape is None:
            side = math.isqrt(n_outputs)
            if side * side != n_outputs:
                raise ValueError(
                    f"y has {n_outputs} features, not a square number: pass grid_shape=(H, W)."
                )
            return (side, side)
        shape = tuple(int(s) for s in self.grid_shape)
        if len(shape) != 2 or math.prod(shape) != n_outputs:
            raise ValueError(
                f"grid_shape={self.grid_shape!r} does not match the {n_outputs} features of y "
                "(expected (H, W) with H * W == n_outputs)."
            )
        return shape

    def _validate_Xy(self, X, y):
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=[np.float32, np.float64]
        )
        if y.ndim != 2:
            raise ValueError(
                f"y must hold one flattened output field per row (2-D), got shape {y.shape}."
            )
        self.grid_shape_ = self._resolve_grid(y.shape[1])
        cells = math.prod(self.grid_shape_)
        if X.shape[1] % cells:
            raise ValueError(
                f"X has {X.shape[1]} features, not a whole number of {self.grid_shape_} fields "
                f"({cells} values each)."
            )
        self.in_channels_ = X.shape[1] // cells
        return X, y

    # ------------------------------------------------------------------ module
    def _build_module(self, X, y):
        H, W = self.grid_shape_
        C = self.in_channels_
        Xc = np.asarray(X, dtype=np.float64).reshape(X.shape[0], C, H * W)
        x_shift = Xc.mean(axis=(0, 2)).reshape(C, 1, 1)
        x_scale = np.maximum(Xc.std(axis=(0, 2)), 1e-12).reshape(C, 1, 1)
        y_shift, y_scale = float(np.mean(y)), float(max(np.std(y), 1e-12))
        implicit = self.architecture == "implicit"
        lifted = self.width * (self.n_layers if implicit else 1)
        encoder = GridLifting(
            C, lifted, (H, W), torch.tensor(x_shift).float(), torch.tensor(x_scale).float()
        )
        decoder = PointwiseProjection(self.width, self.projection_width, y_shift, y_scale)
        operator = FourierOperator(
            self.width, self.modes, self.n_layers, injection=implicit, grid_shape=(H, W)
        )
        module = self._assemble(operator, encoder, decoder, operator.state_shape)
        if not implicit:  # G ignores z: one application is the fixed point
            module.n_iter = 1
            module.backward = get_backward("unroll")
        return module

    def _criterion(self):
        return RelativeL2Loss

    @property
    def n_parameters_(self):
        """Number of trainable parameters (lifting, operator and projection)."""
        check_is_fitted(self)
        return sum(p.numel() for p in self.net_.module_.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ lipschitz
    def _perturb(self, X, eps, n_directions, rng):
        if getattr(self, "_directions", "frequency") == "random":
            return super()._perturb(X, eps, n_directions, rng)
        H, W = self.grid_shape_
        C = self.in_channels_
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        m = n_directions * n
        kmax = getattr(self, "_max_frequency", None) or max(1, min(H, W) // 4)
        # One Fourier mode cos(ky y + kx x + phase) per direction, in every input channel.
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
        Xp = np.tile(X, (n_directions, 1)) + d
        return Xp.astype(np.float32), np.full(m, float(eps))

    def lipschitz_curve(
        self,
        X,
        n_iter=None,
        *,
        eps=1e-1,
        n_directions=4,
        reduce="max",
        directions="frequency",
        max_frequency=None,
        random_state=None,
    ):
        """Empirical Lipschitz constant ``L_t`` of ``f -> w_t(f)`` for ``t = 1..n_iter``.

        As :meth:`BaseImplicitEstimator.lipschitz_curve`, with the paper's
        PDE perturbations: by default each direction is a single-frequency
        forcing perturbation ``cos(k . p + phi)`` (random wavenumber with
        ``|k_y|, k_x <= max_frequency`` and random phase, the same in every
        input channel), scaled to norm ``eps``; ``directions="random"`` uses
        Gaussian directions instead.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input fields at which to measure.
        n_iter : int, optional
            Largest budget ``T``; default the estimator's ``n_iter``.
        eps : float, default=0.1
            Norm of the perturbations (in the units of ``X``).
        n_directions : int, default=4
            Directions per sample.
        reduce : {"max", "mean"}, default="max"
            Aggregation over samples and directions (the paper: max).
        directions : {"frequency", "random"}, default="frequency"
            Kind of perturbation.
        max_frequency : int, optional
            Largest wavenumber of a frequency perturbation; default a quarter
            of the grid side.
        random_state : int, RandomState instance or None
            Seed of the directions.

        Returns
        -------
        curve : LipschitzCurve
        """
        if directions not in ("frequency", "random"):
            raise ValueError(f"directions must be 'frequency' or 'random', got {directions!r}.")
        if max_frequency is not None and (
            isinstance(max_frequency, bool)
            or not isinstance(max_frequency, Integral)
            or max_frequency < 1
        ):
            raise ValueError(f"max_frequency must be an integer >= 1, got {max_frequency!r}.")
        self._directions = directions
        self._max_frequency = max_frequency
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
            del self._directions, self._max_frequency
