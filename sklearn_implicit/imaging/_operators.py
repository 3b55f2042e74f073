"""The learned denoiser and the plug-and-play operators built on it."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._layout import batch_image_shape

__all__ = ["ObservationDenoiser", "PnPOperator", "ResidualDenoiser"]


class ResidualDenoiser(nn.Module):
    """A small DnCNN-style residual CNN conditioned on a noise level.

    ``H_sigma(v) = v - R([v, sigma * 1])``: the noise level enters as an extra
    constant input channel (as in DRUNet); ``R`` is ``depth`` 3x3 convolutions
    (circular padding, matching the circular blur) with ReLUs in between. The
    last convolution starts at zero, so ``H`` starts as the identity. Being
    convolutional, it denoises images of any size; a single-channel
    denoiser denoises each channel of a multi-channel image separately.

    Parameters
    ----------
    channels : int, default=1
        Image channels.
    width : int, default=32
        Feature maps of the hidden layers.
    depth : int, default=4
        Number of convolutions (>= 2).

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.imaging import ResidualDenoiser
    >>> H = ResidualDenoiser(width=8, depth=3)
    >>> v = torch.rand(2, 1, 8, 8)
    >>> bool(torch.equal(H(v, torch.tensor(0.1)), v))  # identity at initialisation
    True
    >>> H(torch.rand(2, 3, 20, 12), torch.tensor(0.1)).shape  # channel by channel
    torch.Size([2, 3, 20, 12])
    """

    def __init__(self, channels=1, width=32, depth=4):
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth!r}.")
        layers = [nn.Conv2d(channels + 1, width, 3, padding=1, padding_mode="circular")]
        for _ in range(depth - 2):
            layers += [nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, padding_mode="circular")]
        layers += [nn.ReLU(), nn.Conv2d(width, channels, 3, padding=1, padding_mode="circular")]
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        self.channels = int(channels)
        self.net = nn.Sequential(*layers)

    def forward(self, v, sigma):
        """Denoise ``v`` (shape (n, C, H, W)) at noise level ``sigma`` (a scalar tensor)."""
        n, c = v.shape[:2]
        if c != self.channels:
            if self.channels != 1:
                raise ValueError(
                    f"The denoiser takes images of {self.channels} channels, got {c} channels."
                )
            # One channel at a time, all channels as one batch.
            return self.forward(v.reshape(n * c, 1, *v.shape[2:]), sigma).reshape(v.shape)
        level = sigma.to(v.dtype).expand(v.shape[0], 1, *v.shape[2:])
        return v - self.net(torch.cat([v, level], dim=1))


class PnPOperator(nn.Module):
    """Plug-and-play operator ``G(y, x)`` for deblurring with a learned denoiser ``H``.

    - ``scheme="pgd"``: ``G(y, x) = H(y - gamma A^T (A y - x))``;
    - ``scheme="hqs"``: ``G(y, x) = H((A^T A + beta I)^{-1} (A^T x + beta y))``
      with ``beta = 1 / gamma``.

    The step ``gamma`` and the denoiser's noise level ``sigma`` are trainable
    (stored as logarithms, so they stay positive). States and observations
    are images in any layout: ``(n, C, H, W)``, ``(n, H, W)`` or flat rows
    (folded by the rule of :mod:`sklearn_implicit.imaging`: rows of
    ``C * H * W`` values have ``state_shape``, other rows are square), of any
    size at least the kernel's; ``G`` returns the layout it is given.

    Parameters
    ----------
    physics : BlurFFT
        The blur operator ``A``.
    denoiser : torch.nn.Module
        ``H`` with ``forward(v, sigma)``.
    scheme : {"pgd", "hqs"}, default="pgd"
        The splitting scheme.
    step : float, default=1.0
        Initial ``gamma`` (the paper: 1.0 for PGD, 4.0 for HQS).
    noise_level : float, default=0.03
        Initial ``sigma``.
    init : {"zeros", "observation"}, default="zeros"
        Starting state ``y_0``: zero or the blurred observation ``x``.
    channels : int, default=1
        Image channels.

    Attributes
    ----------
    state_shape : tuple of int
        ``(channels, H, W)`` of ``physics.image_shape`` (the training images).
    """

    def __init__(
        self, physics, denoiser, scheme="pgd", step=1.0, noise_level=0.03, init="zeros", channels=1
    ):
        super().__init__()
        if scheme not in ("pgd", "hqs"):
            raise ValueError(f"scheme must be 'pgd' or 'hqs', got {scheme!r}.")
        if init not in ("zeros", "observation"):
            raise ValueError(f"init must be 'zeros' or 'observation', got {init!r}.")
        self.physics = physics
        self.denoiser = denoiser
        self.scheme = scheme
        self.init = init
        self.log_step = nn.Parameter(torch.tensor(math.log(step), dtype=torch.float32))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(noise_level), dtype=torch.float32))
        self.state_shape = (channels, *physics.image_shape)

    @property
    def step(self):
        """Current ``gamma``."""
        return self.log_step.exp()

    @property
    def noise_level(self):
        """Current ``sigma``."""
        return self.log_sigma.exp()

    def init_state(self, x):
        """``y_0``: zeros, or the observation."""
        if self.init == "observation":
            return x.clone()
        return torch.zeros_like(x)

    def data_step(self, y, x):
        """The physics half-step before the denoiser."""
        A = self.physics
        if self.scheme == "pgd":
            return y - self.step.to(y.dtype) * A.adjoint(A(y) - x)
        beta = 1.0 / self.step.to(y.dtype)
        return A.normal_inverse(A.adjoint(x) + beta * y, beta)

    def forward(self, y, x):
        """``G(y, x)`` for states ``y`` and observations ``x`` of the same shape (any layout)."""
        shape = batch_image_shape(x.shape, self.state_shape)
        v = self.data_step(y.reshape(shape), x.reshape(shape))
        return self.denoiser(v, self.noise_level).reshape(y.shape)


class ObservationDenoiser(nn.Module):
    """The explicit layer ``G(y, x) = H(x)``: the denoiser applied to the blurred input.

    The layer of the explicit baseline (a
    :class:`~sklearn_implicit.FixedDepthModule` of one such layer): the same
    denoiser ``H`` and trainable noise level ``sigma`` as :class:`PnPOperator`,
    without the physics and the step ``gamma``; the state ``y`` is ignored.

    Parameters
    ----------
    denoiser : torch.nn.Module
        ``H`` with ``forward(v, sigma)``.
    noise_level : float, default=0.03
        Initial ``sigma``.
    image_shape : tuple of int, optional
        ``(C, H, W)`` that flat rows fold into (as in :class:`PnPOperator`);
        None: observations are ``(n, H, W)`` or ``(n, C, H, W)`` arrays.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.imaging import ObservationDenoiser, ResidualDenoiser
    >>> layer = ObservationDenoiser(ResidualDenoiser(width=8, depth=3))
    >>> x = torch.rand(2, 1, 8, 8)
    >>> bool(torch.equal(layer(torch.zeros_like(x), x), x))  # H starts as the identity
    True
    """

    def __init__(self, denoiser, noise_level=0.03, image_shape=None):
        super().__init__()
        self.denoiser = denoiser
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.log_sigma = nn.Parameter(torch.tensor(math.log(noise_level), dtype=torch.float32))

    @property
    def noise_level(self):
        """Current ``sigma``."""
        return self.log_sigma.exp()

    def init_state(self, x):
        """``y_0 = 0``, shaped like the observation."""
        return torch.zeros_like(x)

    def forward(self, y, x):
        """``H_sigma(x)`` for observations ``x`` in any layout; ``y`` is unused."""
        v = x.reshape(batch_image_shape(x.shape, self.image_shape))
        return self.denoiser(v, self.noise_level).reshape(x.shape)
