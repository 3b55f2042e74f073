"""``FNORegressor``: the implicit Fourier neural operator (and its explicit counterpart)."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from .. import BaseImplicitEstimator, FixedDepthModule
from .._base import check_float32_range
from .._params import doc_fragments
from ..lipschitz import FourierModes
from ._metrics import RelativeL2Loss
from ._operators import FourierOperator, GridLifting, PointwiseProjection, fourier_layers

__all__ = ["FNORegressor"]


class _InputFourierModes:
    """:class:`FourierModes` sized for each input: its fields' shape, band ``min(H, W) // 4``.

    ``row_shape(n_features) -> (C, H, W)`` unflattens rows; fields of shape
    ``(n, H, W)`` or ``(n, C, H, W)`` carry their own.
    """

    def __init__(self, row_shape):
        self.row_shape = row_shape

    def __call__(self, X, eps, n_directions, rng):
        X = np.asarray(X)
        shape = self.row_shape(X.shape[1]) if X.ndim == 2 else X.shape[1:]
        band = max(1, min(shape[-2:]) // 4)
        return FourierModes(shape=shape, max_frequency=band)(X, eps, n_directions, rng)


class FNORegressor(RegressorMixin, BaseImplicitEstimator):
    """Implicit Fourier neural operator: fields in, the fixed point of Fourier layers out.

    The model is ``w = Q_psi(z*)`` with ``z* = G(z*, Q_phi(f))``:
    ``Q_phi`` (:class:`GridLifting`) standardises the input fields, appends
    the grid coordinates and lifts pointwise to one ``width``-channel field
    ``u_l`` per layer; ``G`` (:class:`FourierOperator`) is ``n_layers``
    Fourier layers ``z <- GELU(K z + W z + u_l)`` (spectral convolution on
    the ``modes`` lowest frequencies, pointwise linear map, input
    injection); ``Q_psi`` (:class:`PointwiseProjection`) is a pointwise MLP
    to one output field. ``predict(X, n_iter=t)`` answers with ``t``
    applications of ``G`` from ``z_0 = 0``.

    ``architecture="explicit"`` is the explicit FNO of the same width: the
    same Fourier layers untied from the iteration and without injection,
    applied once each to the lifted input (a
    :class:`~sklearn_implicit.FixedDepthModule`; its answer does not depend
    on the budget). It has no solve: ``n_iter``, ``tol``, ``solver`` and
    ``backward`` do not shape it, and ``fit`` refuses routed ``solver__*`` and
    ``backward__*`` parameters.

    **Shape convention.** ``X`` holds ``C`` input fields per sample on an
    ``H x W`` periodic grid: rows ``(n, C * H * W)`` (channel-major, then
    row-major), ``(n, H, W)`` (one field) or ``(n, C, H, W)``; ``y`` likewise
    holds the output fields, e.g. the forcing curl and the steady vorticity
    from :func:`~sklearn_implicit.datasets.make_navier_stokes`. With rows on
    both sides, each row of ``y`` is one field on a square grid (or on
    ``grid_shape``) and ``C`` is inferred from the two widths; ``(n, C_out,
    H, W)`` targets give ``C_out`` output fields. The spectral convolution is
    this package's own compact implementation (:class:`SpectralConv2d`); the
    domain is periodic so the layers use no padding.

    **Any resolution.** A neural operator maps functions, not grids: the
    fitted model predicts on any grid (zero-shot super-resolution). Rows of
    another size are read as ``C`` square fields (``C * k * k`` features);
    fields ``(n, H, W)`` / ``(n, C, H, W)`` may have any ``H x W``. Only the
    channel count is fixed by fit. The lifting builds its coordinate grid,
    and the spectral layers their truncated DFTs, for each input's size,
    device and dtype; the spectral layers keep the modes the training grid
    resolved (``min(modes, H // 2)``, ``min(modes, W // 2 + 1)``), so no
    untrained weight acts at a finer grid. Predictions come back at the
    input's resolution and in its layout: rows for rows, ``(n, H, W)`` for
    ``(n, H, W)`` (one output field; else ``(n, C_out, H, W)``),
    ``(n, C_out, H, W)`` for ``(n, C, H, W)``. ``score`` flattens the fields.

    **Lipschitz curves.** :meth:`lipschitz_curve` perturbs the input fields
    by default with the paper's PDE perturbations: single Fourier modes
    ``cos(k . p + phi)``, the same in every input channel, with
    ``|k_y|, k_x <= max(1, min(H, W) // 4)`` of the grid of ``X`` (any
    resolution; :class:`~sklearn_implicit.lipschitz.FourierModes`);
    pass ``directions=FourierModes(shape=(C, H, W), max_frequency=k)`` for
    another band, or ``directions=GaussianDirections()`` for random fields.
    ``eps`` is the norm of the perturbation in the units of ``X``: the
    forcing fields of :func:`~sklearn_implicit.datasets.make_navier_stokes`
    have norms of order 100 on a 32 x 32 grid, and ``eps=0.1`` (this
    estimator's default before the Lipschitz options were shared) suits
    them; the shared default ``1e-3`` comes closer to float32 round-off.

    Parameters
    ----------
    architecture : {{"implicit", "explicit"}}, default="implicit"
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
        ``(H, W)`` of training rows, two positive integers; None means a
        square grid (``H = W = sqrt(n_outputs)``). Fields ``(n, H, W)`` or
        ``(n, C, H, W)`` carry their grid (a given ``grid_shape`` must match).
    {budget}
    {solver}
        The paper uses ``backward__k=3, backward__tau=0.8`` with the phantom
        gradient.
    {training}
        The paper adds ``optimizer__weight_decay=1e-4`` to Adam.
    {runtime}
    compile : bool, default=False
        Compile the module with ``torch.compile`` for training (skorch's
        ``compile``; needs a C++ compiler on the CPU).
    {equilibrium}
    **kwargs
        Routed ``optimizer__*`` parameters and, for the implicit
        architecture, ``solver__*`` and ``backward__*``; ``fit`` refuses
        anything else.

    Attributes
    ----------
    grid_shape_ : tuple of int
        ``(H, W)`` of the training fields.
    in_channels_ : int
        Input fields per sample ``C``.
    out_channels_ : int
        Output fields per sample ``C_out``.
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_`` is an
        :class:`~sklearn_implicit.ImplicitModule` whose ``operator`` is the
        :class:`FourierOperator` (implicit), or a
        :class:`~sklearn_implicit.FixedDepthModule` of :class:`FourierLayer`
        (explicit).
    n_features_in_ : int
        ``C * H * W`` at the training grid (rows of this width are read on
        ``grid_shape_``; other widths as square fields).
    n_outputs_ : int
        ``C_out * H * W`` at the training grid.
    n_parameters_ : int
        Trainable parameters (lifting, Fourier layers and projection).
    device_ : str
        Device the model lives on.
    loss_curve_ : list of float
        Training loss (relative L2 error) per epoch.

    See Also
    --------
    relative_l2_error : The operator-learning metric (``score`` is R^2).

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
    >>> X32, y32 = make_navier_stokes(2, resolution=32, cache=False, random_state=0)
    >>> est.predict(X32).shape, est.predict(X32.reshape(2, 32, 32)).shape  # any resolution
    ((2, 1024), (2, 32, 32))
    """

    _parameter_constraints: dict = {
        **BaseImplicitEstimator._parameter_constraints,
        "architecture": [StrOptions({"implicit", "explicit"})],
        "width": [Interval(Integral, 1, None, closed="left")],
        "modes": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "projection_width": [Interval(Integral, 1, None, closed="left")],
        "grid_shape": [None, tuple, list],
    }

    #: What :meth:`score` returns (RegressorMixin's coefficient of determination).
    score_name = "$R^2$"

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
        callbacks=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        warm_start=False,
        compile=False,
        jacobian_penalty=0.0,
        train_states=1,
        train_depth="fixed",
        **kwargs,
    ):
        self.architecture = architecture
        self.width = width
        self.modes = modes
        self.n_layers = n_layers
        self.projection_width = projection_width
        self.grid_shape = grid_shape
        super().__init__(
            n_iter=n_iter,
            tol=tol,
            solver=solver,
            backward=backward,
            max_epochs=max_epochs,
            lr=lr,
            batch_size=batch_size,
            optimizer=optimizer,
            device=device,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            warm_start=warm_start,
            compile=compile,
            jacobian_penalty=jacobian_penalty,
            train_states=train_states,
            train_depth=train_depth,
            **kwargs,
        )

    # ------------------------------------------------------------------ data
    def _resolve_grid(self, n_outputs):
        if self.grid_shape is None:
            side = math.isqrt(n_outputs)
            if side * side != n_outputs:
                raise ValueError(
                    f"y has {n_outputs} features, not a square number: pass grid_shape=(H, W)."
                )
            return (side, side)
        shape = self._checked_grid_shape()
        if math.prod(shape) != n_outputs:
            raise ValueError(
                f"grid_shape={self.grid_shape!r} does not match the {n_outputs} features of y "
                "(expected (H, W) with H * W == n_outputs)."
            )
        return shape

    def _checked_grid_shape(self):
        shape = tuple(self.grid_shape)
        if len(shape) != 2 or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape
        ):
            raise ValueError(
                f"grid_shape must be a pair of positive integers (H, W), got {self.grid_shape!r}."
            )
        return (int(shape[0]), int(shape[1]))

    @staticmethod
    def _fields(A, name):
        """``(n, H, W)`` or ``(n, C, H, W)`` array-like -> validated ``(n, C, H, W)`` array."""
        A = check_array(A, allow_nd=True, dtype=[np.float32, np.float64], input_name=name)
        if A.ndim not in (3, 4):
            raise ValueError(
                f"{name} must be rows (n, C * H * W), fields (n, H, W) or (n, C, H, W); "
                f"got shape {A.shape}."
            )
        return A[:, None] if A.ndim == 3 else A

    def _validate_Xy(self, X, y):
        """Rows, ``(n, H, W)`` or ``(n, C, H, W)`` fields; returns rows.

        Sets ``grid_shape_``, ``in_channels_`` and ``out_channels_``. The grid
        comes from the fields' shape when X or y is given as fields, else from
        the rows of y (one field each, square or ``grid_shape``).
        """
        grids = {}
        if np.ndim(X) >= 3:
            X = self._fields(X, "X")
            grids["X"] = X.shape[-2:]
            X = X.reshape(X.shape[0], -1)
        out_channels = None
        if np.ndim(y) >= 3:
            y = self._fields(y, "y")
            grids["y"] = y.shape[-2:]
            out_channels = y.shape[1]
            y = y.reshape(y.shape[0], -1)
        X, y = super()._validate_Xy(X, y)
        if y.ndim != 2:
            raise ValueError(
                f"y must hold output fields: rows (n, C * H * W), (n, H, W) or (n, C, H, W); "
                f"got shape {y.shape}."
            )
        if grids:
            shapes = {tuple(int(s) for s in g) for g in grids.values()}
            if len(shapes) > 1:
                raise ValueError(f"X and y are fields on different grids: {grids}.")
            (grid,) = shapes
            if self.grid_shape is not None and self._checked_grid_shape() != grid:
                raise ValueError(
                    f"grid_shape={self.grid_shape!r} does not match the {grid} grid of the fields."
                )
        else:
            grid = self._resolve_grid(y.shape[1])
        cells = math.prod(grid)
        if out_channels is None:
            if y.shape[1] % cells:
                raise ValueError(
                    f"y has {y.shape[1]} features, not a whole number of {grid} fields "
                    f"({cells} values each)."
                )
            out_channels = y.shape[1] // cells
        if X.shape[1] % cells:
            raise ValueError(
                f"X has {X.shape[1]} features, not a whole number of {grid} fields "
                f"({cells} values each)."
            )
        self.grid_shape_ = grid
        self.in_channels_ = X.shape[1] // cells
        self.out_channels_ = out_channels
        return X, y

    def _validate_X(self, X):
        """Rows of square fields of any size (or the fitted grid), or fields of any size.

        The layout is kept (the tensor and the output follow it); only the
        channel count is fixed by fit.
        """
        ndim = np.ndim(X)
        C = self.in_channels_
        if ndim >= 3:
            shape = np.shape(X)
            X = self._fields(X, "X")
            if X.shape[1] != C:
                raise ValueError(
                    f"X has {X.shape[1]} field(s) per sample (shape {shape}), but "
                    f"{type(self).__name__} was fitted on {C} input field(s) per sample; pass "
                    f"(n, {C}, H, W) fields."
                )
            X = X[:, 0] if ndim == 3 else X
        elif ndim == 2 and np.shape(X)[1] != self.n_features_in_:
            X = check_array(X, dtype=[np.float32, np.float64], input_name="X")
            self._row_fields(X.shape[1])
        else:
            return super()._validate_X(X)
        check_float32_range(X, "X")
        return X

    def _row_fields(self, n_features):
        """``(C, H, W)`` of rows with ``n_features`` features: the fitted grid or a square one."""
        C = self.in_channels_
        if n_features == self.n_features_in_:
            return (C, *self.grid_shape_)
        side = math.isqrt(n_features // C) if n_features % C == 0 else 0
        if side < 1 or C * side * side != n_features:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input, or rows of {C} square field(s) of "
                f"another size ({C} * k * k features), or (n, {C}, H, W) fields."
            )
        return (C, side, side)

    def _fields_of(self, X):
        """Validated inputs in any layout -> ``(n, C, H, W)`` array (a view)."""
        X = np.asarray(X)
        if X.ndim == 2:
            return X.reshape(X.shape[0], *self._row_fields(X.shape[1]))
        return X[:, None] if X.ndim == 3 else X

    def _to_tensor(self, X, device):
        return torch.tensor(self._fields_of(X), dtype=torch.float32, device=device)

    def _training_inputs(self, X):
        return np.asarray(X, dtype=np.float32).reshape(-1, self.in_channels_, *self.grid_shape_)

    def _targets_for_training(self, y):
        return np.asarray(y, dtype=np.float32).reshape(-1, self.out_channels_, *self.grid_shape_)

    def _in_layout(self, y, X):
        """Module outputs ``(n, C_out, H, W)`` -> the layout of ``X`` (rows, 3-D or 4-D)."""
        ndim = np.ndim(X)
        if ndim == 3 and y.shape[1] == 1:
            return y[:, 0]
        if ndim == 4 or ndim == 3:
            return y
        return y.reshape(y.shape[0], -1)

    # ------------------------------------------------------------------ module
    def _build_module(self, X, y, routed):
        """Lifting (training statistics) -> Fourier layers (tied or untied) -> projection."""
        H, W = self.grid_shape_
        C, C_out = self.in_channels_, self.out_channels_
        Xc = np.asarray(X, dtype=np.float64).reshape(X.shape[0], C, H * W)
        x_shift = Xc.mean(axis=(0, 2)).reshape(C, 1, 1)
        x_scale = np.maximum(Xc.std(axis=(0, 2)), 1e-12).reshape(C, 1, 1)
        yc = np.asarray(y, dtype=np.float64).reshape(y.shape[0], C_out, H * W)
        y_shift = yc.mean(axis=(0, 2)).reshape(C_out, 1, 1)
        y_scale = np.maximum(yc.std(axis=(0, 2)), 1e-12).reshape(C_out, 1, 1)
        # Only the frequencies the training grid resolves: at a finer grid the layers then
        # act on the same (trained) modes, none with untrained weights.
        modes = (max(1, min(self.modes, H // 2)), max(1, min(self.modes, W // 2 + 1)))
        implicit = self.architecture == "implicit"
        # The implicit operator takes one injected field per layer.
        lifted = self.width * (self.n_layers if implicit else 1)
        encoder = GridLifting(
            C, lifted, torch.tensor(x_shift).float(), torch.tensor(x_scale).float()
        )
        decoder = PointwiseProjection(
            self.width,
            self.projection_width,
            torch.tensor(y_shift).float(),
            torch.tensor(y_scale).float(),
            out_channels=C_out,
        )
        if not implicit:
            layers = fourier_layers(self.width, modes, self.n_layers, inject=False)
            return FixedDepthModule(layers, encoder, decoder)
        operator = FourierOperator(self.width, modes, self.n_layers)
        return self._assemble(operator, encoder, decoder, routed)

    def _criterion(self):
        return RelativeL2Loss

    def _default_directions(self):
        """Single Fourier modes of the input fields, ``|k_y|, k_x <= min(H, W) // 4`` of X's grid."""
        return _InputFourierModes(self._row_fields)

    # ------------------------------------------------------------------ outputs
    def _format_output(self, y, X=None):
        """Output fields at the resolution and in the layout of ``X``.

        Rows ``(n, C_out * H * W)`` for rows, ``(n, H, W)`` for ``(n, H, W)``
        (one output field, else ``(n, C_out, H, W)``), ``(n, C_out, H, W)``
        for ``(n, C, H, W)``.
        """
        y = super()._format_output(y, X)
        return y if X is None else self._in_layout(y, X)

    def _export_head(self):
        """``export`` returns rows ``(n, C_out * H * W)``, as :meth:`predict` does for rows."""
        return torch.nn.Flatten()

    def score(self, X, y, sample_weight=None):
        """R^2 of the predicted fields, every grid value an output (any layout of ``y``)."""
        y_pred = self.predict(X)
        n = y_pred.shape[0]
        y = np.asarray(y)
        return r2_score(y.reshape(n, -1), y_pred.reshape(n, -1), sample_weight=sample_weight)

    @property
    def n_parameters_(self):
        """Number of trainable parameters (lifting, Fourier layers and projection)."""
        check_is_fitted(self)
        return sum(p.numel() for p in self.net_.module_.parameters() if p.requires_grad)


FNORegressor.__doc__ = FNORegressor.__doc__.format(
    equilibrium=doc_fragments["equilibrium"],
    budget=doc_fragments["budget"].format(n_iter=24, tol=1e-4),
    solver=doc_fragments["solver"].format(solver="anderson", backward="phantom"),
    training=doc_fragments["training"].format(
        max_epochs=100, lr=5e-3, batch_size=16, optimizer="adam"
    ),
    runtime=doc_fragments["runtime"],
)
