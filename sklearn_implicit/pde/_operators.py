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

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.pde import FourierOperator
    >>> G = FourierOperator(8, 4)
    >>> u = torch.randn(2, 16, 16, 16)  # 2 layers x 8 channels, on a 16 x 16 grid
    >>> G(G.init_state(u), u).shape
    torch.Size([2, 8, 16, 16])
    >>> G(G.init_state(u[..., ::2, ::2]), u[..., ::2, ::2]).shape  # any resolution
    torch.Size([2, 8, 8, 8])
    """

    def __init__(self, width, modes, n_layers=2):
        super().__init__()
        self.width = int(width)
        self.layers = nn.ModuleList(fourier_layers(width, modes, n_layers, inject=True))

    def init_state(self, u):
        """``z_0 = 0`` on the grid of the injected input ``u`` (any resolution)."""
        return u.new_zeros((u.shape[0], self.width) + tuple(u.shape[-2:]))

    def forward(self, z, u):
        for layer, u_l in zip(self.layers, u.split(self.width, dim=1)):
            z = layer(z, u_l)
        return z


class GridLifting(nn.Module):
    """``Q_phi``: input fields -> normalised channels + grid coordinates -> ``width``.

    ``x`` of shape ``(n, C, H, W)`` holds ``C`` fields on an ``H x W``
    periodic grid of any size; they are standardised with the training
    statistics, the coordinates ``(y, x)`` in ``[0, 1)`` of that grid are
    appended as two channels (built for the input's size, device and dtype,
    so one lifting serves every resolution), and a pointwise linear map lifts
    the ``C + 2`` channels to ``width`` channels (the implicit FNO asks for
    ``n_layers * width``: one injected field per layer).

    Parameters
    ----------
    in_channels : int
        ``C``.
    width : int
        Output channels.
    shift, scale : float or tensor broadcastable to ``(C, 1, 1)``, default=0.0, 1.0
        Training statistics of the input fields.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.pde import GridLifting
    >>> lift = GridLifting(1, 8)
    >>> lift(torch.randn(2, 1, 16, 16)).shape, lift(torch.randn(2, 1, 32, 32)).shape
    (torch.Size([2, 8, 16, 16]), torch.Size([2, 8, 32, 32]))
    """

    def __init__(self, in_channels, width, shift=0.0, scale=1.0):
        super().__init__()
        self.in_channels = int(in_channels)
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.lift = Pointwise(in_channels + 2, width)

    @staticmethod
    def coordinates(H, W, *, dtype=None, device=None):
        """The ``(2, H, W)`` grid coordinates ``(i / H, j / W)``."""
        gy = torch.arange(H, dtype=dtype, device=device) / H
        gx = torch.arange(W, dtype=dtype, device=device) / W
        return torch.stack(torch.meshgrid(gy, gx, indexing="ij"))

    def forward(self, x):
        n, _, H, W = x.shape
        x = (x - self.shift) / self.scale
        grid = self.coordinates(H, W, dtype=x.dtype, device=x.device).expand(n, -1, -1, -1)
        return self.lift(torch.cat([x, grid], dim=1))


class PointwiseProjection(nn.Module):
    """``Q_psi``: ``width`` channels -> pointwise MLP -> ``out_channels`` fields in data units.

    Returns ``(n, out_channels, H, W)`` on the grid of its input.
    """

    def __init__(self, width, hidden=128, shift=0.0, scale=1.0, *, out_channels=1):
        super().__init__()
        self.mlp = nn.Sequential(
            Pointwise(width, hidden), nn.GELU(), Pointwise(hidden, out_channels)
        )
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, z):
        return self.mlp(z) * self.scale + self.shift
