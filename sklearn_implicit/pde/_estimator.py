"""``FNORegressor``: the implicit Fourier neural operator (and its explicit counterpart)."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .. import BaseImplicitEstimator, FixedDepthModule
from .._params import doc_fragments
from ..lipschitz import FourierModes
from ._metrics import RelativeL2Loss
from ._operators import FourierOperator, GridLifting, PointwiseProjection, fourier_layers

__all__ = ["FNORegressor"]


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

    **Shape convention.** Rows of ``X`` hold ``C`` input fields on an
    ``H x W`` periodic grid, flattened channel-major and row-major
    (``C * H * W`` features); rows of ``y`` hold one output field
    (``H * W`` features), e.g. the forcing curl and the steady vorticity
    from :func:`~sklearn_implicit.datasets.make_navier_stokes`. ``C`` is
    inferred from the two widths. The spectral convolution is this
    package's own compact implementation (:class:`SpectralConv2d`); the
    domain is periodic so the layers use no padding.

    **Lipschitz curves.** :meth:`lipschitz_curve` perturbs the input fields
    by default with the paper's PDE perturbations: single Fourier modes
    ``cos(k . p + phi)``, the same in every input channel, with
    ``|k_y|, k_x <= max(1, min(H, W) // 4)`` (:class:`~sklearn_implicit.lipschitz.FourierModes`);
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
        ``(H, W)``, two positive integers; None means a square grid
        (``H = W = sqrt(n_outputs)``).
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
    **kwargs
        Routed ``optimizer__*`` parameters and, for the implicit
        architecture, ``solver__*`` and ``backward__*``; ``fit`` refuses
        anything else.

    Attributes
    ----------
    grid_shape_ : tuple of int
        ``(H, W)``.
    in_channels_ : int
        Input fields per sample ``C``.
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_`` is an
        :class:`~sklearn_implicit.ImplicitModule` whose ``operator`` is the
        :class:`FourierOperator` (implicit), or a
        :class:`~sklearn_implicit.FixedDepthModule` of :class:`FourierLayer`
        (explicit).
    n_features_in_ : int
        ``C * H * W``.
    n_outputs_ : int
        ``H * W``.
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
        compile=False,
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
            compile=compile,
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
        shape = tuple(self.grid_shape)
        if len(shape) != 2 or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape
        ):
            raise ValueError(
                f"grid_shape must be a pair of positive integers (H, W), got {self.grid_shape!r}."
            )
        shape = (int(shape[0]), int(shape[1]))
        if math.prod(shape) != n_outputs:
            raise ValueError(
                f"grid_shape={self.grid_shape!r} does not match the {n_outputs} features of y "
                "(expected (H, W) with H * W == n_outputs)."
            )
        return shape

    def _validate_Xy(self, X, y):
        """Fields as rows; sets ``grid_shape_`` and ``in_channels_``."""
        X, y = super()._validate_Xy(X, y)
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
    def _build_module(self, X, y, routed):
        """Lifting (training statistics) -> Fourier layers (tied or untied) -> projection."""
        H, W = self.grid_shape_
        C = self.in_channels_
        Xc = np.asarray(X, dtype=np.float64).reshape(X.shape[0], C, H * W)
        x_shift = Xc.mean(axis=(0, 2)).reshape(C, 1, 1)
        x_scale = np.maximum(Xc.std(axis=(0, 2)), 1e-12).reshape(C, 1, 1)
        y_shift, y_scale = float(np.mean(y)), float(max(np.std(y), 1e-12))
        implicit = self.architecture == "implicit"
        # The implicit operator takes one injected field per layer.
        lifted = self.width * (self.n_layers if implicit else 1)
        encoder = GridLifting(
            C, lifted, (H, W), torch.tensor(x_shift).float(), torch.tensor(x_scale).float()
        )
        decoder = PointwiseProjection(self.width, self.projection_width, y_shift, y_scale)
        if not implicit:
            layers = fourier_layers(self.width, self.modes, self.n_layers, inject=False)
            return FixedDepthModule(layers, encoder, decoder)
        operator = FourierOperator(self.width, self.modes, self.n_layers, grid_shape=(H, W))
        return self._assemble(operator, encoder, decoder, routed, state_shape=operator.state_shape)

    def _criterion(self):
        return RelativeL2Loss

    def _default_directions(self):
        """Single Fourier modes of the forcing, ``|k_y|, k_x <= min(H, W) // 4``."""
        H, W = self.grid_shape_
        return FourierModes(shape=(self.in_channels_, H, W), max_frequency=max(1, min(H, W) // 4))

    @property
    def n_parameters_(self):
        """Number of trainable parameters (lifting, Fourier layers and projection)."""
        check_is_fitted(self)
        return sum(p.numel() for p in self.net_.module_.parameters() if p.requires_grad)


FNORegressor.__doc__ = FNORegressor.__doc__.format(
    budget=doc_fragments["budget"].format(n_iter=24, tol=1e-4),
    solver=doc_fragments["solver"].format(solver="anderson", backward="phantom"),
    training=doc_fragments["training"].format(
        max_epochs=100, lr=5e-3, batch_size=16, optimizer="adam"
    ),
    runtime=doc_fragments["runtime"],
)
