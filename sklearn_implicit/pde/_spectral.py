"""Spectral convolution: a learned linear map on the lowest Fourier modes of a 2-D field."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SpectralConv2d"]


def _bases(H, W, m1, m2, dtype, device):
    """Truncated real DFT matrices for the kept modes (``ky`` in ``[0, m1) + [H - m1, H)``).

    Returns ``(fy, fx, iy, ix)``: forward ``fy = [cos; sin](k_y y)`` of shape
    ``(4 m1, H)`` and ``fx = [cos | sin](k_x x)`` of shape ``(W, 2 m2)``;
    inverse ``iy = [[cos^T, -sin^T], [sin^T, cos^T]]`` of shape ``(2 H, 4 m1)``
    and ``ix = [w cos^T; -w sin^T]`` of shape ``(2 m2, W)`` with the Hermitian
    weights ``w`` (1 for ``k_x = 0`` and the Nyquist column, else 2). All are
    scaled by ``(H W)^{-1/4}`` so that each direction is the ``norm="ortho"``
    transform restricted to the kept modes.
    """
    f64 = torch.float64
    ky = torch.cat([torch.arange(m1), torch.arange(H - m1, H)]).to(f64)
    kx = torch.arange(m2, dtype=f64)
    ty = 2 * math.pi * ky[:, None] * torch.arange(H, dtype=f64)[None] / H  # (2 m1, H)
    tx = 2 * math.pi * torch.arange(W, dtype=f64)[:, None] * kx[None] / W  # (W, m2)
    s = (H * W) ** -0.25
    w = torch.full((m2,), 2.0, dtype=f64)
    w[0] = 1.0
    if W % 2 == 0 and m2 == W // 2 + 1:
        w[-1] = 1.0
    cy, sy, cx, sx = torch.cos(ty), torch.sin(ty), torch.cos(tx), torch.sin(tx)
    fy = torch.cat([cy, sy]) * s
    fx = torch.cat([cx, sx], dim=1) * s
    iy = torch.cat([torch.cat([cy.T, -sy.T], dim=1), torch.cat([sy.T, cy.T], dim=1)]) * s
    ix = torch.cat([(cx * w).T, -(sx * w).T]) * s
    return tuple(m.to(dtype=dtype, device=device).contiguous() for m in (fy, fx, iy, ix))


class SpectralConv2d(nn.Module):
    """Convolution parametrised in Fourier space, truncated to the lowest modes.

    ``out = irfft2(W . rfft2(x))`` (orthonormal transforms) where ``W``
    multiplies the coefficients of the ``modes`` lowest frequencies along each
    axis (positive and negative along the first axis, non-negative along the
    second, as the real FFT keeps them) by a learned complex
    ``in_channels x out_channels`` matrix per frequency and zeroes the others
    (Li et al., Fourier neural operator). On a periodic grid no padding is
    needed.

    Only the kept coefficients are ever computed: the forward and inverse
    transforms are truncated real DFTs done as matrix products (the same
    numbers as ``torch.fft.rfft2`` / ``irfft2`` restricted to those modes),
    which on small grids is several times faster than full FFTs followed by
    slicing, on CPUs and GPUs alike.

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
        # Complex weights: weight[0] real and weight[1] imaginary parts; along the next
        # axis, the non-negative (0) and negative (1) first-axis frequencies.
        self.weight = nn.Parameter(scale * torch.rand(2, 2, m1, m2, in_channels, out_channels))
        self._cache = {}

    def _get_bases(self, H, W, m1, m2, dtype, device):
        # Built once per grid, dtype and device (in float64, then moved), never per call;
        # a few entries so that alternating grids or devices do not rebuild them.
        key = (H, W, m1, m2, dtype, device)
        if key not in self._cache:
            if len(self._cache) >= 4:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = _bases(H, W, m1, m2, dtype, device)
        return self._cache[key]

    def __getstate__(self):
        # The bases are a cache (possibly on a GPU): rebuilt on first use after loading.
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def forward(self, x):
        H, W = x.shape[-2:]
        m1 = min(self.modes[0], H // 2)
        m2 = min(self.modes[1], W // 2 + 1)
        fy, fx, iy, ix = self._get_bases(H, W, m1, m2, x.dtype, x.device)
        b, c = x.shape[:2]
        o = self.out_channels
        # Forward transform (e^{-i theta}), one GEMM per axis. Along x: (b c H, W) @ (W, 2 m2)
        # gives [sum cos, sum sin]; along y: (4 m1, H) @ (H, 2 m2 b c) gives the four products.
        t = (x.reshape(-1, W) @ fx).reshape(b * c, H, 2 * m2).permute(1, 2, 0)
        t = (fy @ t.reshape(H, -1)).reshape(2, 2 * m1, 2, m2, b * c)
        (cc, cs), (sc, ss) = t.unbind(0)[0].unbind(1), t.unbind(0)[1].unbind(1)
        re, im = cc - ss, -(sc + cs)  # (2 m1, m2, b c)
        # Per-mode complex channel mixing as one real batched product over the modes.
        P = 2 * m1 * m2
        re, im = re.reshape(P, b, c), im.reshape(P, b, c)
        w = self.weight[:, :, :m1, :m2].reshape(2, P, c, self.out_channels)
        wr, wi = w[0], w[1]
        out = torch.stack(
            [torch.bmm(re, wr) - torch.bmm(im, wi), torch.bmm(re, wi) + torch.bmm(im, wr)]
        )
        # Inverse (Hermitian) transform: along y (2 H, 4 m1) @ (4 m1, m2 b o) ...
        out = out.reshape(4 * m1, -1)  # rows: Re over ky, then Im over ky
        t = (iy @ out).reshape(2, H, m2, b, o)  # A = sum re cos - im sin, B = sum re sin + im cos
        # ... then along x: (b o H, 2 m2) @ (2 m2, W) = sum_kx w (A cos - B sin).
        u = t.permute(3, 4, 1, 0, 2).reshape(-1, 2 * m2)
        return (u @ ix).reshape(b, o, H, W)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"
