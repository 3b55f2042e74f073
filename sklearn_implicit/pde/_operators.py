"""Parts of the implicit and explicit FNO: Fourier layers, the operator, lifting and projection."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._spectral import SpectralConv2d

__all__ = [
    "FourierLayer",
    "FourierOperator",
    "GridLifting",
    "Pointwise",
    "PointwiseProjection",
    "fourier_layers",
]


class Pointwise(nn.Module):
    """A 1 x 1 convolution written as one matrix product over the channels.

    Same parameters and result as ``nn.Conv2d(in_channels, out_channels, 1)``;
    on CPUs it is several times faster for the small channel counts used here.
    """

    def __init__(self, in_channels, out_channels, bias=True):
        super().__init__()
        conv = nn.Conv2d(in_channels, out_channels, 1, bias=bias)  # PyTorch's initialisation
        self.weight = nn.Parameter(conv.weight.detach()[:, :, 0, 0].clone())
        self.bias = nn.Parameter(conv.bias.detach().clone()) if bias else None

    def forward(self, x):
        b, c, H, W = x.shape
        out = torch.matmul(self.weight, x.reshape(b, c, H * W))
        if self.bias is not None:
            out = out + self.bias[:, None]
        return out.reshape(b, -1, H, W)


class FourierLayer(nn.Module):
    """One Fourier layer ``z <- GELU(K z + W z [+ u])``, with the operator signature ``(z, u)``.

    ``K`` is a :class:`SpectralConv2d` on the lowest frequencies and ``W`` a
    pointwise (1 x 1) linear map. With ``inject=True`` the input ``u`` (one
    lifted field of ``width`` channels) is added before the activation, as
    in the implicit FNO's operator; with ``inject=False`` the layer ignores
    ``u``, as a layer of the explicit FNO, whose stack starts from the lifted
    input (:meth:`init_state` returns ``u``).

    Parameters
    ----------
    spectral : SpectralConv2d
        ``K``.
    pointwise : Pointwise
        ``W``.
    inject : bool, default=False
        Add ``u`` before the activation.
    """

    def __init__(self, spectral, pointwise, *, inject=False):
        super().__init__()
        self.spectral = spectral
        self.pointwise = pointwise
        self.inject = bool(inject)

    def init_state(self, u):
        """Starting state of an explicit stack: the lifted input itself."""
        return u

    def forward(self, z, u):
        v = self.spectral(z) + self.pointwise(z)
        if self.inject:
            v = v + u
        return F.gelu(v)


def fourier_layers(width, modes, n_layers, *, inject=False):
    """``n_layers`` independent :class:`FourierLayer` of ``width`` channels.

    The spectral convolutions are initialised first, then the pointwise
    maps, so that a seed gives the implicit and the explicit FNO the same
    layers.
    """
    spectral = [SpectralConv2d(width, width, modes) for _ in range(n_layers)]
    pointwise = [Pointwise(width, width) for _ in range(n_layers)]
    return [FourierLayer(k, w, inject=inject) for k, w in zip(spectral, pointwise)]


class FourierOperator(nn.Module):
    """``G(z, u)``: the implicit FNO's operator, a stack of Fourier layers with input injection.

    Each layer maps ``z <- GELU(K z + W z + u_l)`` (:class:`FourierLayer`):
    ``K`` a :class:`SpectralConv2d` on the lowest ``modes`` frequencies,
    ``W`` a pointwise (1 x 1) linear map, ``u_l`` the input injected into
    layer ``l``. ``u`` has ``n_layers * width`` channels, one injected field
    per layer (the injection ``V_l Q(f)`` of a pointwise-linear lifting ``Q``
    is itself a pointwise-linear lifting, so :class:`GridLifting` produces the
    ``u_l`` directly and the iteration does not recompute them). The
    estimator iterates ``G`` to its fixed point ``z* = G(z*, u)``; the
    explicit FNO is the same layers untied and without injection
    (:func:`fourier_layers` in a :class:`~sklearn_implicit.FixedDepthModule`).

    Parameters
    ----------
    width : int
        Channels of the state.
    modes : int
        Fourier modes per axis kept by each spectral convolution.
    n_layers : int, default=2
        Fourier layers in one application of ``G``.
    grid_shape : tuple of int, optional
        ``(H, W)``; sets ``state_shape = (width, H, W)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.pde import FourierOperator
    >>> G = FourierOperator(8, 4, grid_shape=(16, 16))
    >>> z, u = torch.zeros(2, 8, 16, 16), torch.randn(2, 16, 16, 16)  # u: 2 layers x 8
    >>> G(z, u).shape, G.state_shape
    (torch.Size([2, 8, 16, 16]), (8, 16, 16))
    """

    def __init__(self, width, modes, n_layers=2, *, grid_shape=None):
        super().__init__()
        self.width = int(width)
        self.layers = nn.ModuleList(fourier_layers(width, modes, n_layers, inject=True))
        if grid_shape is not None:
            self.state_shape = (self.width, *(int(s) for s in grid_shape))

    def forward(self, z, u):
        for layer, u_l in zip(self.layers, u.split(self.width, dim=1)):
            z = layer(z, u_l)
        return z


class GridLifting(nn.Module):
    """``Q_phi``: flattened input fields -> normalised channels + grid coordinates -> ``width``.

    Rows of ``x`` hold ``C`` fields of shape ``(H, W)`` flattened row-major;
    they are standardised with the training statistics, the coordinates
    ``(y, x)`` in ``[0, 1)`` are appended as two channels, and a pointwise
    linear map lifts the ``C + 2`` channels to ``width`` channels (the
    implicit FNO asks for ``n_layers * width``: one injected field per layer).
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
        self.lift = Pointwise(in_channels + 2, width)

    def forward(self, x):
        x = x.reshape(x.shape[0], self.in_channels, *self.grid_shape)
        x = (x - self.shift) / self.scale
        grid = self.grid.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1, -1, -1)
        return self.lift(torch.cat([x, grid], dim=1))


class PointwiseProjection(nn.Module):
    """``Q_psi``: ``width`` channels -> pointwise MLP -> one field, flattened, in data units."""

    def __init__(self, width, hidden=128, shift=0.0, scale=1.0):
        super().__init__()
        self.mlp = nn.Sequential(Pointwise(width, hidden), nn.GELU(), Pointwise(hidden, 1))
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, z):
        return self.mlp(z).flatten(1) * self.scale + self.shift
