"""Fourier-layer operators of the implicit and explicit FNO, with their lifting and projection."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._spectral import SpectralConv2d

__all__ = ["FourierOperator", "GridLifting", "PointwiseProjection"]


class FourierOperator(nn.Module):
    """``G(z, u)``: a stack of Fourier layers, with or without input injection.

    Each layer maps ``z <- GELU(K z + W z + V u)``: ``K`` a
    :class:`SpectralConv2d` on the lowest ``modes`` frequencies, ``W`` and the
    injection ``V`` pointwise (1 x 1) convolutions, ``u`` the lifted input.
    With ``injection=True`` this is the implicit FNO's operator, iterated to
    its fixed point ``z* = G(z*, u)``. With ``injection=False`` the layers are
    the explicit FNO: ``G`` ignores ``z`` and maps ``u`` through the untied
    stack once (``z = layers(u)``), so one application is the answer.

    Parameters
    ----------
    width : int
        Channels of the state.
    modes : int
        Fourier modes per axis kept by each spectral convolution.
    n_layers : int, default=2
        Fourier layers in one application of ``G``.
    injection : bool, default=True
        Implicit (iterate ``z`` with ``u`` injected) or explicit (map ``u``).
    grid_shape : tuple of int, optional
        ``(H, W)``; sets ``state_shape = (width, H, W)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.pde import FourierOperator
    >>> G = FourierOperator(8, 4, grid_shape=(16, 16))
    >>> z, u = torch.zeros(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
    >>> G(z, u).shape, G.state_shape
    (torch.Size([2, 8, 16, 16]), (8, 16, 16))
    """

    def __init__(self, width, modes, n_layers=2, *, injection=True, grid_shape=None):
        super().__init__()
        self.width = int(width)
        self.injection = bool(injection)
        self.spectral = nn.ModuleList(SpectralConv2d(width, width, modes) for _ in range(n_layers))
        self.pointwise = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(n_layers))
        self.inject = (
            nn.ModuleList(nn.Conv2d(width, width, 1, bias=False) for _ in range(n_layers))
            if injection
            else None
        )
        if grid_shape is not None:
            self.state_shape = (self.width, *(int(s) for s in grid_shape))

    def forward(self, z, u):
        h = z if self.injection else u
        for i, (spec, pw) in enumerate(zip(self.spectral, self.pointwise)):
            v = spec(h) + pw(h)
            if self.injection:
                v = v + self.inject[i](u)
            h = F.gelu(v)
        return h


class GridLifting(nn.Module):
    """``Q_phi``: flattened input fields -> normalised channels + grid coordinates -> ``width``.

    Rows of ``x`` hold ``C`` fields of shape ``(H, W)`` flattened row-major;
    they are standardised with the training statistics, the coordinates
    ``(y, x)`` in ``[0, 1)`` are appended as two channels, and a pointwise
    linear map lifts the ``C + 2`` channels to ``width``.
    """

    def __init__(self, in_channels, width, grid_shape, shift=0.0, scale=1.0):
        super().__init__()
        H, W = (int(s) for s in grid_shape)
        self.in_channels = int(in_channels)
        self.grid_shape = (H, W)
        gy, gx = torch.meshgrid(torch.arange(H) / H, torch.arange(W) / W, indexing="ij")
        self.register_buffer("grid", torch.stack([gy, gx]).float(), persistent=True)
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.lift = nn.Conv2d(in_channels + 2, width, 1)

    def forward(self, x):
        x = x.reshape(x.shape[0], self.in_channels, *self.grid_shape)
        x = (x - self.shift) / self.scale
        grid = self.grid.to(x.dtype).expand(x.shape[0], -1, -1, -1)
        return self.lift(torch.cat([x, grid], dim=1))


class PointwiseProjection(nn.Module):
    """``Q_psi``: ``width`` channels -> pointwise MLP -> one field, flattened, in data units."""

    def __init__(self, width, hidden=128, shift=0.0, scale=1.0):
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(width, hidden, 1), nn.GELU(), nn.Conv2d(hidden, 1, 1))
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, z):
        return self.mlp(z).flatten(1) * self.scale + self.shift
