"""The learned denoiser and the plug-and-play operators built on it."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ObservationDenoiser", "PnPOperator", "ResidualDenoiser"]


class ResidualDenoiser(nn.Module):
    """A small DnCNN-style residual CNN conditioned on a noise level.

    ``H_sigma(v) = v - R([v, sigma * 1])``: the noise level enters as an extra
    constant input channel (as in DRUNet); ``R`` is ``depth`` 3x3 convolutions
    (circular padding, matching the circular blur) with ReLUs in between. The
    last convolution starts at zero, so ``H`` starts as the identity.

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
        self.net = nn.Sequential(*layers)

    def forward(self, v, sigma):
        """Denoise ``v`` (shape (n, C, H, W)) at noise level ``sigma`` (a scalar tensor)."""
        level = sigma.to(v.dtype).expand(v.shape[0], 1, *v.shape[2:])
        return v - self.net(torch.cat([v, level], dim=1))


class PnPOperator(nn.Module):
    """Plug-and-play operator ``G(y, x)`` for deblurring with a learned denoiser ``H``.

    - ``scheme="pgd"``: ``G(y, x) = H(y - gamma A^T (A y - x))``;
    - ``scheme="hqs"``: ``G(y, x) = H((A^T A + beta I)^{-1} (A^T x + beta y))``
      with ``beta = 1 / gamma``.

    The step ``gamma`` and the denoiser's noise level ``sigma`` are trainable
    (stored as logarithms, so they stay positive).

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
        ``(channels, H, W)``.
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
        """``G(y, x)`` for states ``y`` and observations ``x`` of shape (n, C, H, W)."""
        return self.denoiser(self.data_step(y, x), self.noise_level)


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

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.imaging import ObservationDenoiser, ResidualDenoiser
    >>> layer = ObservationDenoiser(ResidualDenoiser(width=8, depth=3))
    >>> x = torch.rand(2, 1, 8, 8)
    >>> bool(torch.equal(layer(torch.zeros_like(x), x), x))  # H starts as the identity
    True
    """

    def __init__(self, denoiser, noise_level=0.03):
        super().__init__()
        self.denoiser = denoiser
        self.log_sigma = nn.Parameter(torch.tensor(math.log(noise_level), dtype=torch.float32))

    @property
    def noise_level(self):
        """Current ``sigma``."""
        return self.log_sigma.exp()

    def forward(self, y, x):
        """``H_sigma(x)`` for observations ``x`` of shape (n, C, H, W); ``y`` is unused."""
        return self.denoiser(x, self.noise_level)
