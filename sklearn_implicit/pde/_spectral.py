"""Spectral convolution: a learned linear map on the lowest Fourier modes of a 2-D field."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SpectralConv2d"]


class SpectralConv2d(nn.Module):
    """Convolution parametrised in Fourier space, truncated to the lowest modes.

    ``out = irfft2(W . rfft2(x))`` where ``W`` multiplies the coefficients of
    the ``modes`` lowest frequencies along each axis (positive and negative
    along the first axis, non-negative along the second, as the real FFT
    keeps them) by a learned complex ``in_channels x out_channels`` matrix per
    frequency, and zeroes the others (Li et al., Fourier neural operator). On a
    periodic grid no padding is needed.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output fields.
    modes : int or tuple of int
        Frequencies kept along each axis; clipped at run time to what the grid
        resolves (``H // 2`` and ``W // 2 + 1``).

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.pde import SpectralConv2d
    >>> conv = SpectralConv2d(3, 5, modes=4)
    >>> conv(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 5, 16, 16])
    """

    def __init__(self, in_channels, out_channels, modes):
        super().__init__()
        m1, m2 = (modes, modes) if isinstance(modes, int) else tuple(modes)
        if min(m1, m2) < 1:
            raise ValueError(f"modes must be positive, got {modes!r}.")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.modes = (int(m1), int(m2))
        scale = 1.0 / (in_channels * out_channels)
        # Real storage of complex weights (last axis: real, imaginary) for optimisers and
        # pickling; one block for non-negative and one for negative first-axis frequencies.
        self.weight = nn.Parameter(scale * torch.rand(2, in_channels, out_channels, m1, m2, 2))

    def forward(self, x):
        H, W = x.shape[-2:]
        m1 = min(self.modes[0], H // 2)
        m2 = min(self.modes[1], W // 2 + 1)
        x_ft = torch.fft.rfft2(x, norm="ortho")
        w = torch.view_as_complex(self.weight)
        out = x_ft.new_zeros(x.shape[0], self.out_channels, H, W // 2 + 1)
        out[:, :, :m1, :m2] = torch.einsum(
            "bixy,ioxy->boxy", x_ft[:, :, :m1, :m2], w[0, :, :, :m1, :m2]
        )
        out[:, :, H - m1 :, :m2] = torch.einsum(
            "bixy,ioxy->boxy", x_ft[:, :, H - m1 :, :m2], w[1, :, :, :m1, :m2]
        )
        return torch.fft.irfft2(out, s=(H, W), norm="ortho")

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"
