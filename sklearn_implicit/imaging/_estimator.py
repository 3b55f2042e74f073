"""``DeblurRegressor``: plug-and-play deblurring as an implicit (equilibrium) model."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .. import BaseImplicitEstimator, FixedDepthModule
from .._base import check_float32_range
from .._params import doc_fragments
from ..backward import ImplicitDifferentiation
from ..lipschitz import FourierModes
from ._layout import batch_image_shape, looks_channels_last, square_side
from ._metrics import peak_signal_noise_ratio
from ._operators import ObservationDenoiser, PnPOperator, ResidualDenoiser
from ._physics import BlurFFT, blur_kernel

__all__ = ["DeblurRegressor"]

_DEFAULT_STEP = {"pgd": 1.0, "hqs": 4.0}


class DeblurRegressor(RegressorMixin, BaseImplicitEstimator):
    """Implicit plug-and-play deblurring: the fixed point of a learned PGD or HQS operator.

    With ``A`` the (known) blur, ``H`` a small learned residual CNN denoiser
    (:class:`ResidualDenoiser`) and ``x`` the blurred observation, the
    prediction is the fixed point ``y* = G(y*, x)`` of

    - ``scheme="pgd"``: ``G(y, x) = H(y - gamma A^T (A y - x))``,
    - ``scheme="hqs"``: ``G(y, x) = H((A^T A + beta I)^{{-1}} (A^T x + beta y))``,
      ``beta = 1 / gamma``,

    reached by iterating from ``y_0 = 0`` (or ``y_0 = x``, ``init="observation"``).
    The step ``gamma`` and the denoiser's noise level are trained with the
    CNN. ``architecture="explicit"`` is the explicit baseline: the same
    denoiser applied once to the blurred input, ``y = H(x)``
    (:class:`ObservationDenoiser` in a :class:`~sklearn_implicit.FixedDepthModule`);
    its answer does not depend on the budget, and ``scheme``, ``step``,
    ``init``, ``solver`` and ``backward`` are unused (routed ``solver__*`` or
    ``backward__*`` parameters are refused at fit).

    **Training to the equilibrium.** By default the model trains at its
    fixed point, as in the paper: the forward pass solves ``y = G(y, x)``
    by Anderson acceleration to ``tol=1e-4`` (at most ``n_iter=30``
    applications of ``G``) and ``backward="implicit"`` differentiates there,
    with the adjoint equation ``w = J^T w + g`` run for 10 Picard steps
    (``backward__solver="picard"``, ``backward__max_iter=10``, the defaults
    of this estimator; route ``backward__*`` to change them). On
    ``benchmarks/deblurring.py`` the operator trained so has a stable
    equilibrium: the PSNR of ``predict(X, n_iter=t)`` rises, then stays flat
    to five times ``n_iter`` and beyond, and every test image converges
    (:meth:`budget_curve` shows it). A model trained through a truncated
    solve (``solver="picard", n_iter=15, tol=1e-3``) peaks at its training
    budget and degrades beyond it, since nothing asks it to contract there.

    **Inputs.** ``X`` (blurred) and ``y`` (sharp, the same shape) are
    images in one of three layouts:

    - flat rows ``(n_samples, C * H * W)`` (row-major, channel-major:
      ``X.reshape(n, C, H, W)``, as returned by
      :func:`~sklearn_implicit.datasets.make_blurred_images`), so that
      scikit-learn's validation, cross-validation and pipelines work
      unchanged; ``image_shape`` says how a row folds into an image
      (default: square single-channel images);
    - ``(n_samples, H, W)`` arrays of single-channel images;
    - ``(n_samples, C, H, W)`` arrays (channels first).

    ``image_shape`` and arrays are **channels first**: ``image_shape=(H, W,
    C)`` is refused (a trailing 1, 3 or 4 after a side larger than 4 reads
    as channels last) with a message suggesting ``(C, H, W)``; so are
    ``(n, H, W, C)`` arrays (use ``np.moveaxis(X, -1, 1)``).

    **Train small, predict big.** The denoiser is convolutional and the
    blur acts through the FFT of the kernel padded to each input's size, so
    the fitted model deblurs images of any size at least the kernel's, in
    the layout it is given: ``(n, H, W)`` and ``(n, C, H, W)`` arrays of
    any ``H, W``, and flat rows of the fitted length ``n_features_in_``.
    Rows of another length are read as square images with the fitted
    number of channels (``C * s * s`` values) when the training images
    were square, and are refused otherwise (pass an array). Predictions
    have the input's layout and size. A single-channel model applied to
    ``(n, C, H, W)`` images deblurs each channel separately (for instance
    colour photographs with a model trained on grayscale crops: ``G`` acts
    channel by channel; Anderson, the default solver, mixes the iterates of
    one image with shared weights, so with ``solver="picard"`` a fixed budget
    is exactly channel by channel too); a model fitted on ``C > 1`` channels
    needs inputs of ``C`` channels.

    **Scores and Lipschitz curves.** :meth:`score` is the mean PSNR in dB
    (:func:`peak_signal_noise_ratio`) with peak value ``data_range``, not
    ``R^2``; ``fit`` and ``score`` warn when ``y`` exceeds that range. :meth:`lipschitz_curve`
    perturbs the blurred images along single Fourier modes, the eigenvectors
    of the blur (:class:`~sklearn_implicit.lipschitz.FourierModes`); for
    images in ``[0, 1]``, ``eps=1e-2`` (the paper's size) suits better than
    the generic default ``1e-3``. Pass
    ``directions=GaussianDirections()`` for Gaussian perturbations.

    Parameters
    ----------
    scheme : {{"pgd", "hqs"}}, default="hqs"
        The splitting scheme of the implicit operator.
    architecture : {{"implicit", "explicit"}}, default="implicit"
        ``"implicit"``: the fixed point of ``G``; ``"explicit"``: the
        denoiser applied once to the observation (the baseline).
    kernel : {{"motion", "gaussian"}} or array-like of shape (k, k), default="motion"
        The blur kernel of ``A`` (see :func:`blur_kernel`); use the one the
        data were blurred with.
    kernel_size : int, default=9
        Side of a named kernel.
    image_shape : tuple of int or None, default=None
        How a training row folds into an image: ``(H, W)`` or ``(C, H, W)``
        (integers >= 1, channels first); None means square grayscale images
        (``H = W = sqrt(n_features)``). Unused for ``(n, H, W)`` and
        ``(n, C, H, W)`` arrays (if given, it must match their images).
    init : {{"zeros", "observation"}}, default="zeros"
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
    data_range : float, default=1.0
        Peak value of the images (1 for images in [0, 1], 255 for 8-bit
        images): the ``MAX`` of the PSNR that :meth:`score` reports.
    {budget}
    {solver}
    {training}
    {runtime}
    compile : bool, default=False
        Compile the module with ``torch.compile`` for training (skorch's
        ``compile``; needs a C++ compiler on the CPU).
    {equilibrium}
    **kwargs
        Routed ``solver__*``, ``backward__*`` (implicit architecture only) and
        ``optimizer__*`` parameters; ``fit`` refuses anything else.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(C, H, W)`` of the training images.
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_`` is an
        :class:`~sklearn_implicit.ImplicitModule` whose ``operator`` is the
        :class:`PnPOperator` (implicit), or a
        :class:`~sklearn_implicit.FixedDepthModule` whose one layer is the
        :class:`ObservationDenoiser` (explicit).
    n_features_in_ : int
        ``C * H * W`` of the training images (the length of a training row).
    n_parameters_ : int
        Number of trainable parameters.
    loss_curve_ : list of float
        Training loss per epoch.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_blurred_images
    >>> from sklearn_implicit.imaging import DeblurRegressor, peak_signal_noise_ratio
    >>> X, y = make_blurred_images(8, size=16, kernel_size=5, random_state=0)
    >>> est = DeblurRegressor(kernel_size=5, width=8, depth=3, n_iter=5, max_epochs=2,
    ...                       random_state=0).fit(X, y)
    >>> est.predict(X[:2], n_iter=3).shape
    (2, 256)
    >>> y_hat = est.predict(X, n_iter=5)
    >>> bool(peak_signal_noise_ratio(y, y_hat) > 10)  # mean PSNR in dB; est.score(X, y) too
    True
    >>> X_big, _ = make_blurred_images(2, size=24, kernel_size=5, random_state=1)
    >>> est.predict(X_big.reshape(2, 24, 24), n_iter=3).shape  # any size, any layout
    (2, 24, 24)
    """

    _parameter_constraints: dict = {
        **BaseImplicitEstimator._parameter_constraints,
        "scheme": [StrOptions({"pgd", "hqs"})],
        "architecture": [StrOptions({"implicit", "explicit"})],
        "kernel": [StrOptions({"motion", "gaussian"}), "array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [None, tuple, list],
        "init": [StrOptions({"zeros", "observation"})],
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 2, None, closed="left")],
        "step": [None, Interval(Real, 0, None, closed="neither")],
        "noise_level": [Interval(Real, 0, None, closed="neither")],
        "data_range": [Interval(Real, 0, None, closed="neither")],
    }

    #: Label of :meth:`score` (used by the displays).
    score_name = "PSNR (dB)"

    _predict_chunk_size = 256

    def __init__(
        self,
        scheme="hqs",
        *,
        architecture="implicit",
        kernel="motion",
        kernel_size=9,
        image_shape=None,
        init="zeros",
        width=32,
        depth=4,
        step=None,
        noise_level=0.03,
        data_range=1.0,
        n_iter=30,
        tol=1e-4,
        solver="anderson",
        backward="implicit",
        max_epochs=10,
        lr=1e-3,
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
        self.scheme = scheme
        self.architecture = architecture
        self.kernel = kernel
        self.kernel_size = kernel_size
        self.image_shape = image_shape
        self.init = init
        self.width = width
        self.depth = depth
        self.step = step
        self.noise_level = noise_level
        self.data_range = data_range
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
    def _checked_image_shape(self):
        """``image_shape`` as ``(C, H, W)`` (checked), or None."""
        if self.image_shape is None:
            return None
        shape = tuple(self.image_shape)
        if len(shape) not in (2, 3) or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape
        ):
            raise ValueError(
                f"image_shape must be (H, W) or (C, H, W) with integers >= 1, got "
                f"{self.image_shape!r}."
            )
        shape = tuple(int(s) for s in shape)
        if looks_channels_last(shape):
            H, W, C = shape
            raise ValueError(
                f"image_shape={self.image_shape!r} reads as {H} channels of {W}x{C} images: "
                f"image_shape is channels first. For {C}-channel images pass "
                f"image_shape=({C}, {H}, {W}), with rows that unfold as X.reshape(n, {C}, {H}, "
                f"{W}) (for channels-last images: np.moveaxis(images, -1, 1).reshape(n, -1))."
            )
        return (1, *shape) if len(shape) == 2 else shape

    def _resolve_image_shape(self, n_features):
        """``(C, H, W)`` of training rows, from ``image_shape`` or a square ``n_features``."""
        shape = self._checked_image_shape()
        if shape is None:
            side = square_side(n_features, 1)
            if side is None:
                raise ValueError(
                    f"X has {n_features} features, not a square number: pass image_shape=(H, W) "
                    "or (C, H, W), or the images as an (n, H, W) or (n, C, H, W) array."
                )
            return (1, side, side)
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={self.image_shape!r} does not match the {n_features} features of "
                "X (expected (H, W) or (C, H, W) with C * H * W == n_features)."
            )
        return shape

    def _fit_image_shape(self, X):
        """``(C, H, W)`` of the validated training images ``X`` (any layout)."""
        if X.ndim == 2:
            return self._resolve_image_shape(X.shape[1])
        shape = tuple(batch_image_shape(X.shape, None)[1:])
        given = self._checked_image_shape()
        if given is not None and given != shape:
            raise ValueError(
                f"image_shape={self.image_shape!r} does not match the {shape} (C, H, W) images "
                f"of the {X.ndim}-D array X; leave image_shape=None for image arrays."
            )
        return shape

    def _check_images(self, shape, kernel_shape):
        """Refuse ``(C, H, W)`` images that look channels-last or are smaller than the kernel."""
        C, H, W = shape
        if looks_channels_last(shape):
            raise ValueError(
                f"The images of X have shape (C, H, W) = {shape}: {C} channels of {H}x{W} "
                f"pixels; they look channels-last (H, W, C). Image arrays are (n, C, H, W): "
                "pass np.moveaxis(X, -1, 1)."
            )
        if H < kernel_shape[0] or W < kernel_shape[1]:
            raise ValueError(
                f"The images of X are {H}x{W} pixels, smaller than the "
                f"{kernel_shape[0]}x{kernel_shape[1]} blur kernel; DeblurRegressor needs images "
                "at least the kernel's size."
            )

    def _warn_data_range(self, y, stacklevel):
        """Warn when the sharp images ``y`` exceed ``data_range``."""
        y = np.asarray(y)
        if y.size == 0:
            return
        low, high, peak = float(np.nanmin(y)), float(np.nanmax(y)), float(self.data_range)
        if high > 1.5 * peak or low < -0.5 * peak:
            warnings.warn(
                f"y holds values in [{low:.3g}, {high:.3g}], beyond data_range={peak:g}, the "
                "peak value of the PSNR that score() reports: set data_range to the images' "
                "range (e.g. data_range=255 for 8-bit images) or rescale the images.",
                UserWarning,
                stacklevel=stacklevel + 1,
            )

    def _validate_Xy(self, X, y):
        """Rows, ``(n, H, W)`` or ``(n, C, H, W)`` arrays; ``y`` shaped like ``X``.

        Image arrays are validated as rows (so ``n_features_in_`` is
        ``C * H * W``) and returned in their own layout.
        """
        shape = np.shape(X)
        if len(shape) in (3, 4):
            if np.shape(y) != shape:
                raise ValueError(
                    f"y must hold one sharp image per blurred image, shaped like X {shape}; "
                    f"got {np.shape(y)}."
                )
            rows = (shape[0], math.prod(shape[1:]))
            X, y = super()._validate_Xy(np.reshape(X, rows), np.reshape(y, rows))
            X, y = X.reshape(shape), y.reshape(shape)
        else:
            X, y = super()._validate_Xy(X, y)
            if y.ndim != 2 or y.shape != X.shape:
                raise ValueError(
                    f"y must hold one sharp image per row, shaped like X {X.shape}; got {y.shape}."
                )
        self._warn_data_range(y, stacklevel=5)
        return X, y

    def _validate_X(self, X):
        """Rows (of the fitted length, or square), or image arrays of any size.

        Returned in their own layout; the module folds every layout into
        ``(n, C, H, W)`` and back (the rule of ``imaging/_layout.py``).
        """
        C, H, W = self.image_shape_
        shape = np.shape(X)
        if len(shape) in (3, 4):
            X = check_array(X, allow_nd=True, dtype=[np.float32, np.float64], input_name="X")
            check_float32_range(X, "X")
            if X.ndim == 3 and C != 1:
                raise ValueError(
                    f"X is an (n, H, W) array of single-channel images, but the model was "
                    f"fitted on {C}-channel images: pass an (n, {C}, H, W) array."
                )
            if X.ndim == 4 and C != 1 and X.shape[1] != C:
                raise ValueError(
                    f"X holds {X.shape[1]}-channel images, but the model was fitted on "
                    f"{C}-channel images (a single-channel model alone deblurs each channel)."
                )
        elif len(shape) == 2 and shape[1] != self.n_features_in_:
            X = check_array(X, dtype=[np.float32, np.float64], input_name="X")
            check_float32_range(X, "X")
            try:
                batch_image_shape(X.shape, self.image_shape_)
            except ValueError as exc:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input ({C}x{H}x{W} images). Rows of "
                    f"another length are read as square images of {C} channel(s) "
                    f"({C} * s * s values) when the training images were square; pass other "
                    "images as an (n, H, W) or (n, C, H, W) array."
                ) from exc
        else:
            return super()._validate_X(X)
        sample = batch_image_shape(X.shape, self.image_shape_)[1:]
        self._check_images(sample, self._kernel_shape)
        return X

    # ------------------------------------------------------------------ module
    def _build_module(self, X, y, routed):
        """The PnP operator in an implicit module, or the denoiser once (explicit)."""
        self.image_shape_ = self._fit_image_shape(X)
        C, H, W = self.image_shape_
        kernel = blur_kernel(self.kernel, self.kernel_size)
        self._check_images(self.image_shape_, kernel.shape)
        self._kernel_shape = kernel.shape
        denoiser = ResidualDenoiser(C, self.width, self.depth)
        if self.architecture == "explicit":
            layer = ObservationDenoiser(
                denoiser, noise_level=float(self.noise_level), image_shape=self.image_shape_
            )
            return FixedDepthModule([layer])
        step = _DEFAULT_STEP[self.scheme] if self.step is None else float(self.step)
        operator = PnPOperator(
            BlurFFT(kernel, (H, W)),
            denoiser,
            scheme=self.scheme,
            step=step,
            noise_level=float(self.noise_level),
            init=self.init,
            channels=C,
        )
        return self._assemble(operator, None, None, routed)

    def _build_backward(self, routed, **defaults):
        """The implicit adjoint defaults to 10 Picard steps (a truncated Neumann series).

        Measured on ``benchmarks/deblurring.py --quick`` (PGD, 10 epochs,
        forward Anderson to 1e-5): a better gradient than more adjoint steps
        (lr 2e-3: 28.1 dB with 10 Picard steps, 27.3 dB with 20, 26.8 dB with
        20 Anderson steps; lr 5e-3: 28.9 dB with 10, 28.7 dB with 20), at
        about half the adjoint's cost of 20 steps.
        """
        if self.backward == "implicit" or self.backward is ImplicitDifferentiation:
            defaults = {"solver": "picard", "max_iter": 10, **defaults}
        return super()._build_backward(routed, **defaults)

    def _default_directions(self):
        """Single Fourier modes of each input's image shape (the paper's perturbations)."""
        return _BatchFourierModes(self.image_shape_)

    # ------------------------------------------------------------------ scoring
    def score(self, X, y, sample_weight=None):
        """Mean PSNR (dB, peak value ``data_range``) of the predictions against the sharp images.

        Parameters
        ----------
        X : array-like
            Blurred images (rows, ``(n, H, W)`` or ``(n, C, H, W)``).
        y : array-like
            Sharp images, in the layout of ``X`` (or as flat rows).
        sample_weight : None
            Not supported (must be None).

        Returns
        -------
        psnr : float
            Higher is better.
        """
        if sample_weight is not None:
            raise ValueError("DeblurRegressor.score does not support sample_weight.")
        y_pred = self.predict(X)
        y = check_array(y, allow_nd=True, ensure_2d=False, dtype=np.float64, input_name="y")
        n = y_pred.shape[0]
        if y.shape[0] != n or y.size != y_pred.size:
            raise ValueError(
                f"y has shape {y.shape}; expected the sharp images of X, shaped like the "
                f"predictions {y_pred.shape}."
            )
        self._warn_data_range(y, stacklevel=2)
        return peak_signal_noise_ratio(
            y.reshape(n, -1), y_pred.reshape(n, -1), data_range=float(self.data_range)
        )

    @property
    def n_parameters_(self):
        """Number of trainable parameters (denoiser, noise level and, if implicit, step)."""
        check_is_fitted(self)
        return sum(p.numel() for p in self.net_.module_.parameters() if p.requires_grad)


class _BatchFourierModes:
    """:class:`~sklearn_implicit.lipschitz.FourierModes` at the image shape of each input.

    Rows are folded by the fitted model's rule (fitted length, else square);
    ``(n, H, W)`` and ``(n, C, H, W)`` arrays carry their own shape.
    """

    def __init__(self, image_shape):
        self.image_shape = image_shape

    def __call__(self, X, eps, n_directions, rng):
        shape = batch_image_shape(np.shape(X), self.image_shape)[1:]
        return FourierModes(shape=shape)(X, eps, n_directions, rng)

    def __repr__(self):
        return f"_BatchFourierModes(image_shape={self.image_shape})"


DeblurRegressor.__doc__ = DeblurRegressor.__doc__.format(
    equilibrium=doc_fragments["equilibrium"],
    budget=doc_fragments["budget"].format(n_iter=30, tol=1e-4),
    solver=doc_fragments["solver"].format(solver="anderson", backward="implicit"),
    training=doc_fragments["training"].format(
        max_epochs=10, lr=1e-3, batch_size=16, optimizer="adam"
    ),
    runtime=doc_fragments["runtime"],
)
