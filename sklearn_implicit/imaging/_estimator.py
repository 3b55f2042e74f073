"""``DeblurRegressor``: plug-and-play deblurring as an implicit (equilibrium) model."""

from __future__ import annotations

import math
from numbers import Integral, Real

from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .. import BaseImplicitEstimator, FixedDepthModule
from .._params import doc_fragments
from ..lipschitz import FourierModes
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

    **Shape convention.** ``X`` (blurred) and ``y`` (sharp) are flattened
    images of shape ``(n_samples, C * H * W)`` (row-major, as returned by
    :func:`~sklearn_implicit.datasets.make_blurred_images`), so that
    scikit-learn's validation, cross-validation and pipelines work
    unchanged; ``image_shape`` says how a row folds into an image.
    Predictions have the shape of ``y``.

    **Scores and Lipschitz curves.** :meth:`score` is the mean PSNR in dB
    (:func:`peak_signal_noise_ratio`), not ``R^2``. :meth:`lipschitz_curve`
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
        ``(H, W)`` or ``(C, H, W)`` (integers >= 1); None means square
        grayscale images (``H = W = sqrt(n_features)``).
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
    {budget}
    {solver}
    {training}
    {runtime}
    compile : bool, default=False
        Compile the module with ``torch.compile`` for training (skorch's
        ``compile``; needs a C++ compiler on the CPU).
    **kwargs
        Routed ``solver__*``, ``backward__*`` (implicit architecture only) and
        ``optimizer__*`` parameters; ``fit`` refuses anything else.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(C, H, W)`` of the images.
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_`` is an
        :class:`~sklearn_implicit.ImplicitModule` whose ``operator`` is the
        :class:`PnPOperator` (implicit), or a
        :class:`~sklearn_implicit.FixedDepthModule` whose one layer is the
        :class:`ObservationDenoiser` (explicit).
    n_features_in_ : int
        ``C * H * W``.
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
        compile=False,
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
    def _resolve_image_shape(self, n_features):
        """``(C, H, W)`` from ``image_shape`` (checked) or a square ``n_features``."""
        if self.image_shape is None:
            side = math.isqrt(n_features)
            if side * side != n_features:
                raise ValueError(
                    f"X has {n_features} features, not a square number: pass image_shape=(H, W) "
                    "or (C, H, W)."
                )
            return (1, side, side)
        shape = tuple(self.image_shape)
        if len(shape) not in (2, 3) or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape
        ):
            raise ValueError(
                f"image_shape must be (H, W) or (C, H, W) with integers >= 1, got "
                f"{self.image_shape!r}."
            )
        shape = tuple(int(s) for s in shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={self.image_shape!r} does not match the {n_features} features of "
                "X (expected (H, W) or (C, H, W) with C * H * W == n_features)."
            )
        return shape

    def _validate_Xy(self, X, y):
        X, y = super()._validate_Xy(X, y)
        if y.ndim != 2 or y.shape != X.shape:
            raise ValueError(
                f"y must hold one sharp image per row, shaped like X {X.shape}; got {y.shape}."
            )
        return X, y

    # ------------------------------------------------------------------ module
    def _build_module(self, X, y, routed):
        """The PnP operator in an implicit module, or the denoiser once (explicit)."""
        self.image_shape_ = self._resolve_image_shape(X.shape[1])
        C, H, W = self.image_shape_
        kernel = blur_kernel(self.kernel, self.kernel_size)
        denoiser = ResidualDenoiser(C, self.width, self.depth)
        encoder, decoder = nn.Unflatten(1, (C, H, W)), nn.Flatten()
        if self.architecture == "explicit":
            layer = ObservationDenoiser(denoiser, noise_level=float(self.noise_level))
            return FixedDepthModule([layer], encoder, decoder, state_shape=(C, H, W))
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
        return self._assemble(operator, encoder, decoder, routed, state_shape=operator.state_shape)

    def _default_directions(self):
        """Single Fourier modes of the fitted image shape (the paper's perturbations)."""
        return FourierModes(shape=self.image_shape_)

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
        """Number of trainable parameters (denoiser, noise level and, if implicit, step)."""
        check_is_fitted(self)
        return sum(p.numel() for p in self.net_.module_.parameters() if p.requires_grad)


DeblurRegressor.__doc__ = DeblurRegressor.__doc__.format(
    budget=doc_fragments["budget"].format(n_iter=20, tol=1e-3),
    solver=doc_fragments["solver"].format(solver="picard", backward="implicit"),
    training=doc_fragments["training"].format(
        max_epochs=10, lr=1e-3, batch_size=16, optimizer="adam"
    ),
    runtime=doc_fragments["runtime"],
)
