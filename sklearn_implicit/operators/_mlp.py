"""The default operator for tabular data."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLPOperator"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "softplus": nn.Softplus}


class SpectralCap(nn.Module):
    """``V -> V * min(1, cap / sigma(V))`` with ``sigma`` the largest singular value.

    ``sigma`` is tracked by power iteration: two steps per call in training
    mode with gradients enabled (the vectors persist as buffers, as in
    :func:`torch.nn.utils.parametrizations.spectral_norm`), none otherwise:
    inference never writes a buffer, whatever the module's mode, so
    concurrent predictions cannot change a fitted model.
    Applied explicitly in ``forward`` (not as a torch parametrization) so that
    modules stay picklable.
    """

    def __init__(self, n, cap):
        super().__init__()
        self.cap = cap
        g = torch.Generator().manual_seed(0)
        u = torch.randn(n, generator=g)
        self.register_buffer("_u", u / u.norm())
        self.register_buffer("_v", u / u.norm())

    def forward(self, V):
        if self.training and torch.is_grad_enabled():
            with torch.no_grad():
                u = self._u
                for _ in range(2):
                    v = V.t().mv(u)
                    v = v / v.norm().clamp_min(1e-12)
                    u = V.mv(v)
                    u = u / u.norm().clamp_min(1e-12)
                # New buffers, not in-place updates: a graph that saved the old ones
                # (the implicit backward re-applies G) stays valid.
                self._u, self._v = u, v
        sigma = torch.dot(self._u, V.mv(self._v))
        return V * (self.cap / torch.clamp(sigma, min=self.cap))


class MLPOperator(nn.Module):
    """``G(z, x) = act(W z + U x + b)``, optionally followed by hidden layers.

    The classic single-layer equilibrium model (El Ghaoui et al., Bai et al.):
    with ``n_hidden=0`` the state ``z`` has ``width`` units and
    ``z* = tanh(W z* + U x + b)``. ``W`` is initialised orthogonal and scaled to
    spectral norm ``init_contraction`` so training starts from a contraction
    (tanh is 1-Lipschitz). By default ``||W||_2`` stays at most
    ``max_contraction`` during training, so every solve converges; set
    ``max_contraction=None`` to leave ``W`` free, as the paper recommends when
    expressivity matters more than guaranteed convergence.

    Parameters
    ----------
    in_features : int
        Size of the injected input ``x`` (after the encoder).
    width : int, default=64
        Size of the state ``z``.
    n_hidden : int, default=0
        Extra ``Linear + act`` layers applied after the injection layer; the
        last layer maps back to ``width``.
    activation : {"tanh", "relu", "gelu", "softplus"}, default="tanh"
        Nonlinearity.
    init_contraction : float, default=0.5
        Spectral norm of ``W`` at initialisation.
    max_contraction : float or None, default=0.9
        When set, ``W`` is reparametrised as ``V * min(1, c / ||V||_2)`` (the
        spectral norm tracked by power iteration), so G is a
        ``c``-contraction in ``z`` for every ``x``: the regular operators of
        the theory, with guaranteed convergence. None leaves ``W`` free (the
        paper's advice for expressivity; convergence is then not guaranteed).

    Attributes
    ----------
    state_shape : tuple of int
        ``(width,)``: the shape of one sample's state.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.operators import MLPOperator
    >>> G = MLPOperator(in_features=3, width=8)
    >>> G(torch.zeros(5, 8), torch.randn(5, 3)).shape
    torch.Size([5, 8])
    """

    def __init__(
        self,
        in_features,
        width=64,
        n_hidden=0,
        activation="tanh",
        init_contraction=0.5,
        max_contraction=0.9,
    ):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}; expected one of {sorted(_ACTIVATIONS)}."
            )
        if int(width) < 1 or int(n_hidden) < 0:
            raise ValueError(f"width must be >= 1 and n_hidden >= 0, got {width!r}, {n_hidden!r}.")
        self.state_shape = (int(width),)
        self.inject = nn.Linear(int(in_features), int(width))
        self.recur = nn.Linear(int(width), int(width), bias=False)
        self.act = _ACTIVATIONS[activation]()
        layers = []
        for _ in range(int(n_hidden)):
            layers += [nn.Linear(int(width), int(width)), _ACTIVATIONS[activation]()]
        self.hidden = nn.Sequential(*layers)
        with torch.no_grad():
            nn.init.orthogonal_(self.recur.weight)
            self.recur.weight.mul_(float(init_contraction))
        if max_contraction is not None:
            if not 0 < float(max_contraction) < 1:
                raise ValueError(f"max_contraction must be in (0, 1), got {max_contraction!r}.")
            self.cap = SpectralCap(int(width), float(max_contraction))
        else:
            self.cap = None

    def recurrent_weight(self):
        """The effective ``W`` (capped when ``max_contraction`` is set)."""
        W = self.recur.weight
        return W if self.cap is None else self.cap(W)

    def forward(self, z, x):
        return self.hidden(
            self.act(nn.functional.linear(z, self.recurrent_weight()) + self.inject(x))
        )
