"""``DeblurRegressor``: plug-and-play deblurring as an implicit (equilibrium) model."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._estimator import BaseImplicitEstimator
from ..backward import get_backward
from ._operators import PnPOperator, ResidualDenoiser
from ._physics import BlurFFT, blur_kernel

__all__ = ["DeblurRegressor", "peak_signal_noise_ratio"]

_DEFAULT_STEP = {"pgd": 1.0, "hqs": 4.0, "explicit": 1.0}


def peak_signal_noise_ratio(y_true, y_pred, *, data_range=1.0):
    """Mean over images of the PSNR ``10 log10(data_range^2 / MSE)`` in dB.

    The same value as averaging :func:`skimage.metrics.peak_signal_noise_ratio`
    with ``data_range`` over the rows (one row = one flattened image).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_pixels)
        Reference and estimated images, one per row.
    data_range : float, default=1.0
        Dynamic range of the images.

    Returns
    -------
    psnr : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.imaging import peak_signal_noise_ratio
    >>> y = np.zeros((2, 4))
    >>> float(peak_signal_noise_ratio(y, y + 0.1))
    20.0
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"Shapes differ: y_true {y_true.shape}, y_pred {y_pred.shape}.")
    n = y_true.shape[0] if y_true.ndim > 1 else 1
    mse = ((y_true - y_pred) ** 2).reshape(n, -1).mean(axis=1)
    mse = np.maximum(mse, 1e-20)
    return float(np.mean(10 * np.log10(data_range**2 / mse)))


class DeblurRegressor(RegressorMixin, BaseImplicitEstimator):
    """Implicit plug-and-play deblurring: the fixed point of a learned PGD or HQS operator.

    With ``A`` the (known) blur, ``H`` a small learned residual CNN denoiser
    (:class:`ResidualDenoiser`) and ``x`` the blurred observation, the
    prediction is the fixed point ``y* = G(y*, x)`` of

    - ``scheme="pgd"``: ``G(y, x) = H(y - gamma A^T (A y - x))``,
    - ``scheme="hqs"``: ``G(y, x) = H((A^T A + beta I)^{-1} (A^T x + beta y))``,
      ``beta = 1 / gamma``,

    reached by iterating from ``y_0 = 0`` (or ``y_0 = x``, ``init="observation"``).
    The step ``gamma`` and the denoiser's noise level are trained with the
    CNN. ``scheme="explicit"`` is the explicit baseline: ``G(y, x) = H(x)``,
    the same denoiser (same parameters) applied once to the blurred input;
    it is trained and predicted with one application whatever ``n_iter``
    and ``backward`` say.

    **Shape convention.** ``X`` (blurred) and ``y`` (sharp) are flattened
    images of shape ``(n_samples, C * H * W)`` (row-major, as returned by
    :func:`~sklearn_implicit.datasets.make_blurred_images`), so that
    scikit-learn's validation, cross-validation and pipelines work
    unchanged; ``image_shape`` says how a row folds into an image.
    Predictions have the shape of ``y``.

    Parameters
    ----------
    scheme : {"pgd", "hqs", "explicit"}, default="hqs"
        The operator.
    kernel : {"motion", "gaussian"} or array-like of shape (k, k), default="motion"
        The blur kernel of ``A`` (see :func:`blur_kernel`); use the one the
        data were blurred with.
    kernel_size : int, default=9
        Side of a named kernel.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)``; None means square grayscale images
        (``H = W = sqrt(n_features)``).
    init : {"zeros", "observation"}, default="zeros"
        Starting state ``y_0`` of training and prediction; with ``"zeros"``
        ``predict(X, n_iter=t)`` is ``t`` applications of ``G`` from 0.
    width : int, default=32
        Feature maps of the denoiser.
    depth : int, default=4
        Convolutions of the denoiser.
    step : float or None, default=None
        Initial step ``gamma``; None uses the paper's 1.0 (PGD) / 4.0 (HQS).
    noise_level : float, default=0.03
        Initial noise level fed to the denoiser.
    n_iter : int, default=20
        Budget of operator applications (training and default prediction).
    tol : float, default=1e-3
        Per-sample relative residual at which the solve stops.
    solver : {"picard", "anderson"} or callable, default="picard"
        Forward solver (options via ``solver__*``).
    backward : {"implicit", "jacobian_free", "phantom", "unroll"}, default="implicit"
        Gradient through the solve (options via ``backward__*``); the first
        three use memory independent of ``n_iter``.
    max_epochs : int, default=10
        Training epochs.
    lr : float, default=1e-3
        Learning rate.
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
    image_shape_ : tuple of int
        ``(C, H, W)`` of the images.
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_.operator`` is the :class:`PnPOperator`.
    n_features_in_ : int
        ``C * H * W``.
    loss_curve_ : list of float
        Training loss per epoch.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_blurred_images
    >>> from sklearn_implicit.imaging import DeblurRegressor
    >>> X, y = make_blurred_images(8, size=16, kernel_size=5, random_state=0)
    >>> est = DeblurRegressor(kernel_size=5, width=8, depth=3, n_iter=5, max_epochs=2,
    ...                       random_state=0).fit(X, y)
    >>> est.predict(X[:2], n_iter=3).shape
    (2, 256)
    >>> y_hat = est.predict(X, n_iter=5)
    >>> bool(peak_signal_noise_ratio(y, y_hat) > 10)  # mean PSNR in dB; est.score(X, y) too
    True
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in BaseImplicitEstimator._parameter_constraints.items()
            if k not in ("operator", "encoder", "decoder")
        },
        "scheme": [StrOptions({"pgd", "hqs", "explicit"})],
        "kernel": [StrOptions({"motion", "gaussian"}), "array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [None, tuple, list],
        "init": [StrOptions({"zeros", "observation"})],
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 2, None, closed="left")],
        "step": [None, Interval(Real, 0, None, closed="neither")],
        "noise_level": [Interval(Real, 0, None, closed="neither")],
    }

    _predict_chunk_size = 256

    def __init__(
        self,
        scheme="hqs",
        *,
        kernel="motion",
        kernel_size=9,
        image_shape=None,
        init="zeros",
        width=32,
        depth=4,
        step=None,
        noise_level=0.03,
        n_iter=20,
        tol=1e-3,
        solver="picard",
        backward="implicit",
        max_epochs=10,
        lr=1e-3,
        batch_size=16,
        optimizer="adam",
        device="auto",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        self.scheme = scheme
        self.kernel = kernel
        self.kernel_size = kernel_size
        self.image_shape = image_shape
        self.init = init
        self.width = width
        self.depth = depth
        self.step = step
        self.noise_level = noise_level
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
    def _resolve_image_shape(self, n_features):
        if self.image_shape is None:
            side = math.isqrt(n_features)
            if side * side != n_features:
                raise ValueError(
                    f"X has {n_features} features, not a square number: pass image_shape=(H, W) "
                    "or (C, H, W)."
                )
            return (1, side, side)
        shape = tuple(int(s) for s in self.image_shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={self.image_shape!r} does not match the {n_features} features of "
                "X (expected (H, W) or (C, H, W) with C * H * W == n_features)."
            )
        return shape

    def _validate_Xy(self, X, y):
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=[np.float32, np.float64]
        )
        if y.ndim != 2 or y.shape != X.shape:
            raise ValueError(
                f"y must hold one sharp image per row, shaped like X {X.shape}; got {y.shape}."
            )
        self.image_shape_ = self._resolve_image_shape(X.shape[1])
        return X, y

    # ------------------------------------------------------------------ module
    def _build_module(self, X, y):
        C, H, W = self.image_shape_
        physics = BlurFFT(blur_kernel(self.kernel, self.kernel_size), (H, W))
        denoiser = ResidualDenoiser(C, self.width, self.depth)
        step = _DEFAULT_STEP[self.scheme] if self.step is None else float(self.step)
        operator = PnPOperator(
            physics,
            denoiser,
            scheme=self.scheme,
            step=step,
            noise_level=float(self.noise_level),
            init=self.init,
            channels=C,
        )
        module = self._assemble(
            operator, nn.Unflatten(1, (C, H, W)), nn.Flatten(), operator.state_shape
        )
        if self.scheme == "explicit":  # G ignores y: one application is the fixed point
            module.n_iter = 1
            module.backward = get_backward("unroll")
        return module

    # ------------------------------------------------------------------ scoring
    def score(self, X, y, sample_weight=None):
        """Mean PSNR (dB, data range 1) of the predictions against the sharp images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Blurred images.
        y : array-like of shape (n_samples, n_features)
            Sharp images.
        sample_weight : None
            Not supported (must be None).

        Returns
        -------
        psnr : float
            Higher is better.
        """
        if sample_weight is not None:
            raise ValueError("DeblurRegressor.score does not support sample_weight.")
        return peak_signal_noise_ratio(y, self.predict(X))

    @property
    def n_parameters_(self):
        """Number of trainable parameters (denoiser, step and noise level)."""
        check_is_fitted(self)
        return sum(p.numel() for p in self.net_.module_.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ lipschitz
    def _perturb(self, X, eps, n_directions, rng):
        if getattr(self, "_directions", "frequency") == "random":
            return super()._perturb(X, eps, n_directions, rng)
        C, H, W = self.image_shape_
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        m = n_directions * n
        # Single Fourier modes (eigenvectors of the circular blur), excluding the constant.
        ky = rng.randint(0, H, size=m)
        kx = rng.randint(0, W // 2 + 1, size=m)
        zero = (ky == 0) & (kx == 0)
        kx[zero] = 1
        phase = rng.uniform(0, 2 * np.pi, size=m)
        hh = np.arange(H)[None, :, None] / H
        ww = np.arange(W)[None, None, :] / W
        d = np.cos(
            2 * np.pi * (ky[:, None, None] * hh + kx[:, None, None] * ww) + phase[:, None, None]
        )
        d = np.broadcast_to(d[:, None], (m, C, H, W)).reshape(m, -1)
        d = d / np.linalg.norm(d, axis=1, keepdims=True) * eps
        Xp = np.tile(X, (n_directions, 1)) + d
        return Xp.astype(np.float32), np.full(m, float(eps))

    def lipschitz_curve(
        self,
        X,
        n_iter=None,
        *,
        eps=1e-2,
        n_directions=4,
        reduce="max",
        directions="frequency",
        random_state=None,
    ):
        """Empirical Lipschitz constant ``L_t`` of ``x -> y_t(x)`` for ``t = 1..n_iter``.

        As :meth:`BaseImplicitEstimator.lipschitz_curve`, with imaging
        perturbations: by default each direction is one Fourier mode
        ``cos(2 pi (k . p) / N + phi)`` (an eigenvector of the blur, random
        frequency ``k`` and phase ``phi``), scaled to norm ``eps``, as in the
        paper; ``directions="random"`` uses Gaussian directions instead.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Blurred images at which to measure.
        n_iter : int, optional
            Largest budget ``T``; default the estimator's ``n_iter``.
        eps : float, default=1e-2
            Norm of the perturbations.
        n_directions : int, default=4
            Directions per image.
        reduce : {"max", "mean"}, default="max"
            Aggregation over images and directions (the paper: max).
        directions : {"frequency", "random"}, default="frequency"
            Kind of perturbation.
        random_state : int, RandomState instance or None
            Seed of the directions.

        Returns
        -------
        curve : LipschitzCurve
        """
        if directions not in ("frequency", "random"):
            raise ValueError(f"directions must be 'frequency' or 'random', got {directions!r}.")
        self._directions = directions
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
            del self._directions
