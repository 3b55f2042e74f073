"""Regular operators from the theory of implicit models.

An operator ``G(y, x)`` is *regular* when ``x -> G(y, x)`` is globally
Lipschitz with a constant growing at most linearly in ``||y||`` and
``y -> G(y, x)`` is a ``mu(x)``-contraction with ``mu(x) < 1`` continuous
(Liu, Ding, Osher, Yin, ICLR 2026). Regular operators have fixed points
``y*(x)`` that are exactly the *locally* Lipschitz maps: the fixed point may be
steep where ``mu(x) -> 1`` although ``G`` itself is not. This module gives
the two constructions of the paper as :class:`torch.nn.Module` operators with
``forward(y, x)``:

- :class:`ReciprocalOperator`, ``G(y, x) = y - eta (x y - 1)``, whose fixed
  point is ``1/x``;
- :class:`SufficiencyOperator`, ``G(y, x) = F(x) + (1 - eps(x)) (y - F(x))``,
  a regular operator whose fixed point is any given locally Lipschitz ``F``;

plus :class:`NaiveOperator` (the non-regular ``(1 - eta) y + eta F(x)``, for
comparison) and :func:`iterate` (the Picard trajectory ``y_t``). Measurement
helpers (empirical Lipschitz constants, contraction moduli, the necessity
bound) live in :mod:`sklearn_implicit.lipschitz`.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, validate_params
from torch import nn

from .operators._mlp import SpectralCap

__all__ = [
    "GatedLinearOperator",
    "NaiveOperator",
    "ReciprocalOperator",
    "SufficiencyOperator",
    "iterate",
    "steepness",
]


def _as_column(v, like):
    """Broadcast a per-sample quantity ``v`` of shape (n,) against ``like`` (n, ...)."""
    v = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    if v.dim() == 0:
        return v
    return v.reshape((v.shape[0],) + (1,) * (like.dim() - 1))


def _row_norm(v):
    """Per-sample Euclidean norm of a batch (shape (n,)); absolute value for 1-D input."""
    if v.dim() <= 1:
        return v.abs()
    return torch.linalg.vector_norm(v.reshape(v.shape[0], -1), dim=1)


class ReciprocalOperator(nn.Module):
    """The paper's motivating example ``G(y, x) = y - eta (x y - 1)``.

    Its fixed point is ``y* = 1/x``; the error obeys
    ``y_t - 1/x = (1 - eta x)^t (y_0 - 1/x)``. For ``0 < eta < 1`` and
    ``x`` in ``(0, 1]`` it is a contraction in ``y`` with modulus
    ``mu(x) = |1 - eta x| < 1`` and ``mu(x) -> 1`` as ``x -> 0``; in ``x`` it
    is globally Lipschitz with constant ``eta |y|`` (linear in ``|y|``). So a
    regular operator with no singularity represents the singular map ``1/x``:
    the steepness of ``y*`` comes from ``mu(x) -> 1``, and the iterate map
    ``x -> y_t(x)`` becomes steeper (``L_t`` grows) as the budget ``t`` grows.
    For ``x < 0`` the iteration diverges (``|1 - eta x| > 1``).

    Parameters
    ----------
    eta : float, default=0.5
        Step size, finite and ``> 0``; ``eta x < 2`` is needed for convergence.
    trainable : bool, default=False
        Whether ``eta`` (a :class:`torch.nn.Parameter`) receives gradients.

    Attributes
    ----------
    state_shape : tuple of int
        ``(1,)``: one scalar per sample, so the operator can also be passed
        to :class:`~sklearn_implicit.ImplicitRegressor` (as an instance with
        ``max_epochs=0``, or with ``operator__trainable=True`` to learn ``eta``).

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.theory import ReciprocalOperator, iterate
    >>> G = ReciprocalOperator(eta=0.9)
    >>> x = torch.tensor([[0.5], [1.0]])
    >>> iterate(G, x, n_iter=60).squeeze(1)
    tensor([2.0000, 1.0000])
    >>> G.contraction_modulus(x).squeeze(1)
    tensor([0.5500, 0.1000])
    """

    state_shape = (1,)

    @validate_params(
        {"eta": [Interval(Real, 0, np.inf, closed="neither")], "trainable": ["boolean"]},
        prefer_skip_nested_validation=True,
    )
    def __init__(self, eta=0.5, trainable=False):
        super().__init__()
        self.eta = nn.Parameter(
            torch.tensor(float(eta), dtype=torch.float64), requires_grad=bool(trainable)
        )

    def forward(self, y, x):
        """Apply ``G(y, x) = y - eta (x y - 1)`` elementwise."""
        return y - self.eta * (x * y - 1.0)

    def fixed_point(self, x):
        """The fixed point ``1 / x``."""
        return 1.0 / x

    def contraction_modulus(self, x):
        """``mu(x) = |1 - eta x|``, the Lipschitz constant of ``y -> G(y, x)``."""
        return (1.0 - self.eta * x).abs()

    def lipschitz_x(self, y):
        """Lipschitz constant of ``x -> G(y, x)``: ``eta |y|``."""
        return self.eta * torch.as_tensor(y).abs()

    def extra_repr(self):
        return f"eta={float(self.eta):g}"


@validate_params(
    {"F": [callable], "local_lipschitz": [callable], "x": [torch.Tensor]},
    prefer_skip_nested_validation=True,
)
def steepness(F, local_lipschitz, x):
    """``s(x) = max(1, ||F(x)||, L(x))``, the per-sample steepness used by the construction.

    Parameters
    ----------
    F : callable
        Target map on tensors, batch-first.
    local_lipschitz : callable
        ``L(x)``: an upper bound of the local Lipschitz constant of ``F``
        near each sample (shape (n,) or broadcastable).
    x : torch.Tensor
        Points, shape (n, ...).

    Returns
    -------
    s : torch.Tensor of shape (n,)
    """
    fx = F(x)
    L = torch.as_tensor(local_lipschitz(x), dtype=fx.dtype, device=fx.device)
    L = L.reshape(L.shape[0], -1).amax(dim=1) if L.dim() > 1 else L
    s = torch.maximum(_row_norm(fx), L.abs())
    return torch.clamp(s, min=1.0)


class SufficiencyOperator(nn.Module):
    r"""A regular operator whose fixed point is a given locally Lipschitz ``F``.

    ``G(y, x) = F(x) + (1 - eps(x)) (y - F(x)) = y + eps(x) (F(x) - y)``, with

    .. math::

        \varepsilon(x) = s(x)^{-p}, \qquad
        s(x) = \max\big(1, \|F(x)\|, L(x)\big),

    where ``L(x)`` (``local_lipschitz``) bounds the local Lipschitz constant of
    ``F`` near ``x`` and ``p = order >= 1`` (default 1, the lowest valid
    order). ``eps`` is small where ``F`` is steep or large, and ``eps = 1``
    (``G = F``, one step) where ``F`` is tame. For ``F = 1/x``,
    ``L = 1/x^2``: ``s = 1/x^2`` and ``eps = x^2`` on ``(0, 1]``, ``eps = 1``
    on ``[1, oo)``.

    Proof. Let ``X`` be a convex domain on which ``F`` is locally
    Lipschitz, and assume ``s`` is locally Lipschitz with, almost everywhere,

    .. math::

        (H_p)\qquad \|\nabla s(x)\|\,\big(1 + \|F(x)\|\big) \le c\, s(x)^{p+1}.

    - *Fixed point.* ``G(F(x), x) = F(x)`` for every ``x``: the fixed point
      is exactly ``F``, with no approximation, for any ``eps`` in ``(0, 1]``.
    - *Contraction in y.* ``G(y, x) - G(y', x) = (1 - eps(x)) (y - y')``, so
      ``mu(x) = 1 - eps(x) < 1``, continuous when ``F`` and ``L`` are.
    - *Globally Lipschitz in x, linearly in ||y||.* From
      ``G(y, x) = y + eps(x) F(x) - eps(x) y``,
      ``Lip_x G(y, .) <= Lip(eps F) + Lip(eps) ||y||``. Almost everywhere
      (``eps`` and ``eps F`` are locally Lipschitz, so these bounds on their
      gradients bound their Lipschitz constants along every segment of ``X``),
      using ``||grad F|| <= L <= s``, ``s >= 1``, ``p >= 1`` and ``(H_p)``:
      ``||grad eps|| = p s^{-p-1} ||grad s|| <= p c`` and
      ``||grad(eps F)|| <= p s^{-p-1} ||grad s|| ||F|| + s^{-p} L
      <= p c + s^{1-p} <= p c + 1``. Hence
      ``||G(y, x) - G(y, x')|| <= (p c + 1 + p c ||y||) ||x - x'||``.

    Which orders are valid. ``p >= 1`` is necessary: where ``F`` is steep,
    ``L ~ s`` and the term ``eps ||grad F|| ~ s^{1-p}`` is unbounded for
    ``p < 1`` (for ``F = 1/x``, ``eps F = x^{2p-1}`` is not Lipschitz at 0),
    so orders below 1 are refused. Near a singularity where
    ``s ~ d^{-a}`` and ``||F|| ~ d^{-b}`` (``d`` the distance to it),
    ``(H_p)`` holds iff ``p a >= 1 + b``. Poles ``F = x^{-k}`` (``a = k + 1``,
    ``b = k``) need only ``p = 1``: for ``1/x``, ``(H_1)`` holds with
    ``c = 4`` (``|s'| (1 + 1/x) = 2 x^{-3} (1 + 1/x) <= 4 s^2`` on ``(0, 1]``,
    ``s' = 0`` beyond), so ``Lip_x G <= 5 + 4 |y|``; the exact slope is
    ``|1 - 2 x y| <= 1 + 2 |y|``. Bounded steep maps need more:
    ``sqrt(x)`` (``a = 1/2``, ``b = 0``) needs ``p >= 2`` (``c = 3``),
    ``x^beta`` (``0 < beta < 1``) ``p >= 1 / (1 - beta)``, ``log(x)``
    ``p > 1`` (``p = 2``, ``c = 1``). A larger order is valid whenever a
    smaller one is (``s >= 1``), but costs iterations.

    The price of regularity is speed. From ``y_0 = 0`` (the default start of
    :func:`iterate`), ``y_t = (1 - (1 - eps)^t) F(x)`` exactly, so the
    relative error ``(1 - eps)^t`` reaches 1 % after
    ``t = ceil(log(0.01) / log(1 - eps)) ~ 4.6 / eps`` steps
    (:meth:`iterations_to_rtol`). For ``F = 1/x`` at ``x = 0.1, 0.01,
    0.001`` (``eps = 1e-2, 1e-4, 1e-6``) that is 459, 46,050 and 4,605,168
    steps, and iterating in float64 takes exactly as many (the tests check
    it). The former default, ``eps = s^{-4}`` (``eps = x^8``), needed about
    ``4.6e8, 4.6e16, 4.6e24`` steps there: the theory's trade between
    expressivity and test-time compute, at its cheapest with ``p = 1``.

    Floating point. ``forward`` computes ``y + eps (F - y)`` and never forms
    ``1 - eps``, so it keeps contracting where ``1 - eps`` rounds to 1.
    :meth:`contraction_modulus` returns the rounded ``1 - eps``, which is
    below 1 while ``eps > 2^{-54} ~ 5.6e-17`` in float64 and
    ``eps > 2^{-25} ~ 3.0e-8`` in float32. For ``F = 1/x`` with ``p = 1``
    that holds for ``x > 2^{-27} ~ 7.5e-9`` (float64) and
    ``x > 2^{-12.5} ~ 1.7e-4`` (float32), so on the whole of
    ``[1e-3, 1e3]`` in both; with the former ``eps = x^8`` it failed below
    ``x ~ 9.3e-3`` (float64) and ``x ~ 0.11`` (float32).

    Parameters
    ----------
    F : callable
        Target map on tensors: ``F(x)`` for a batch ``x`` of shape
        (n, ...) returns shape (n,) or (n, k), matching the state ``y``.
    local_lipschitz : callable
        ``L(x)``, shape (n,): an upper bound of the local Lipschitz constant
        of ``F`` in a neighbourhood of each sample (e.g. ``|F'(x)|`` for a
        monotone-derivative scalar ``F``).
    order : float, default=1
        The exponent ``p`` in ``eps = s^{-p}``: finite and ``>= 1``. The
        default 1 is the lowest valid order and suffices for poles such as
        ``1/x``; steep bounded maps (``sqrt``, ``log``) need a larger one
        (``order=2`` covers both), see above. (Before, ``eps`` was
        ``s^{-2 order}`` with default ``order=2``; ``order=4`` now gives that
        ``eps``.)

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.theory import SufficiencyOperator
    >>> G = SufficiencyOperator(lambda x: 1 / x, lambda x: 1 / x[:, 0] ** 2)
    >>> x = torch.tensor([[0.1], [2.0]], dtype=torch.float64)
    >>> G(1 / x, x).squeeze(1)  # the fixed point is exactly F
    tensor([10.0000,  0.5000], dtype=torch.float64)
    >>> G.contraction_modulus(x)
    tensor([0.9900, 0.0000], dtype=torch.float64)
    >>> G.iterations_to_rtol(torch.tensor([[0.1], [0.01], [0.001]], dtype=torch.float64)).tolist()
    [459.0, 46050.0, 4605168.0]
    """

    @validate_params(
        {
            "F": [callable],
            "local_lipschitz": [callable],
            "order": [Interval(Real, 1, np.inf, closed="left")],
        },
        prefer_skip_nested_validation=True,
    )
    def __init__(self, F, local_lipschitz, order=1):
        super().__init__()
        self.F = F
        self.local_lipschitz = local_lipschitz
        self.order = float(order)

    def eps(self, x):
        """``eps(x) = s(x)^{-order}``, shape (n,)."""
        return steepness(self.F, self.local_lipschitz, x) ** (-self.order)

    def contraction_modulus(self, x):
        """``mu(x) = 1 - eps(x)``, shape (n,) (rounded in ``x``'s dtype)."""
        return 1.0 - self.eps(x)

    @validate_params(
        {"x": [torch.Tensor], "rtol": [Interval(Real, 0, 1, closed="neither")]},
        prefer_skip_nested_validation=True,
    )
    def iterations_to_rtol(self, x, rtol=0.01):
        """Picard steps from ``y_0 = 0`` until ``||y_t - F(x)|| <= rtol ||F(x)||``.

        ``t = ceil(log(rtol) / log(1 - eps(x)))`` (at least 1), exact for
        ``F(x) != 0`` since ``y_t - F(x) = -(1 - eps)^t F(x)``; computed with
        ``log1p`` so it stays finite where ``1 - eps`` rounds to 1.

        Parameters
        ----------
        x : torch.Tensor
            Points, shape (n, ...).
        rtol : float, default=0.01
            Relative tolerance in ``(0, 1)``.

        Returns
        -------
        t : torch.Tensor of shape (n,)
            Step counts (floating point: they may exceed the integer range).
        """
        t = torch.ceil(np.log(rtol) / torch.log1p(-self.eps(x)))
        return torch.clamp(t, min=1.0)

    def fixed_point(self, x):
        """The fixed point ``F(x)``."""
        return self.F(x)

    def forward(self, y, x):
        """Apply ``G(y, x) = y + eps(x) (F(x) - y)``, i.e. ``F + (1 - eps) (y - F)``."""
        fx = self.F(x)
        e = _as_column(self.eps(x), fx)
        return y + e * (fx - y)

    def extra_repr(self):
        return f"order={self.order:g}"


class NaiveOperator(nn.Module):
    """The non-regular averaging operator ``G(y, x) = (1 - eta) y + eta F(x)``.

    It has fixed point ``F`` and is an ``(1 - eta)``-contraction in ``y``,
    but ``x -> G(y, x)`` is exactly as steep as ``eta F``: near a
    singularity of ``F`` it is not globally Lipschitz in ``x``. It is the
    contrast to :class:`SufficiencyOperator`.

    Parameters
    ----------
    F : callable
        Target map on tensors.
    eta : float, default=0.5
        Averaging weight in ``(0, 1]``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.theory import NaiveOperator
    >>> G = NaiveOperator(lambda x: 1 / x, eta=0.5)
    >>> G(torch.zeros(1, 1), torch.tensor([[0.25]]))
    tensor([[2.]])
    """

    @validate_params(
        {"F": [callable], "eta": [Interval(Real, 0, 1, closed="right")]},
        prefer_skip_nested_validation=True,
    )
    def __init__(self, F, eta=0.5):
        super().__init__()
        self.F = F
        self.eta = float(eta)

    def forward(self, y, x):
        """Apply ``(1 - eta) y + eta F(x)``."""
        return (1.0 - self.eta) * y + self.eta * self.F(x)

    def contraction_modulus(self, x):
        """``mu = 1 - eta`` (constant), shape (n,)."""
        return torch.full((x.shape[0],), 1.0 - self.eta, dtype=x.dtype, device=x.device)


class GatedLinearOperator(nn.Module):
    """A learnable regular operator: ``G(z, x) = A(x) z + U x + (1 - g(x)) b``.

    ``A(x) = (1 - g(x)) W_0 + g(x) W_1`` interpolates two recurrent matrices
    with the gate ``g(x) = clip(mean(x), 0, 1)``; ``||W_0||_2 <= 1`` and
    ``||W_1||_2 <= max_contraction < 1`` are enforced by spectral caps. So,
    for inputs scaled to ``[0, 1]``, ``y -> G(y, x)`` is a contraction with
    modulus ``mu(x) <= 1 - (1 - max_contraction) g(x)`` that may approach 1
    as ``g(x) -> 0``, while ``x -> G(z, x)`` is globally Lipschitz with a
    constant linear in ``||z||`` (``||W_1 - W_0|| ||z|| / d + ||U|| + ||b|| / d``):
    exactly the regular class of the theory, with the multiplicative
    interaction between ``x`` and the state that lets the fixed point
    (a rational function of ``x``) be steep. ``ReciprocalOperator`` is the
    one-dimensional special case ``W_0 = 1``, ``W_1 = 1 - eta``, ``U = 0``,
    ``b = eta``.

    Parameters
    ----------
    in_features : int
        Size of the input ``x`` (expected in ``[0, 1]``), ``>= 1``.
    width : int, default=4
        Size of the state, ``>= 1``.
    max_contraction : float, default=0.99
        Cap on ``||W_1||_2``, in ``(0, 1)``.
    init_contraction : float, default=0.5
        Spectral norm of ``W_0`` and ``W_1`` at initialisation, in ``[0, 1]``
        (the caps clip larger norms anyway).

    Attributes
    ----------
    state_shape : tuple of int
        ``(width,)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.theory import GatedLinearOperator
    >>> G = GatedLinearOperator(in_features=1, width=3)
    >>> G(torch.zeros(2, 3), torch.rand(2, 1)).shape
    torch.Size([2, 3])
    """

    @validate_params(
        {
            "in_features": [Interval(Integral, 1, None, closed="left")],
            "width": [Interval(Integral, 1, None, closed="left")],
            "max_contraction": [Interval(Real, 0, 1, closed="neither")],
            "init_contraction": [Interval(Real, 0, 1, closed="both")],
        },
        prefer_skip_nested_validation=True,
    )
    def __init__(self, in_features, width=4, max_contraction=0.99, init_contraction=0.5):
        super().__init__()
        width = int(width)
        self.state_shape = (width,)
        self.W0 = nn.Parameter(torch.empty(width, width))
        self.W1 = nn.Parameter(torch.empty(width, width))
        self.inject = nn.Linear(int(in_features), width)
        self.b = nn.Parameter(torch.zeros(width))
        with torch.no_grad():
            for W in (self.W0, self.W1):
                nn.init.orthogonal_(W)
                W.mul_(float(init_contraction))
        self.cap0 = SpectralCap(width, 1.0)
        self.cap1 = SpectralCap(width, float(max_contraction))

    def gate(self, x):
        """``g(x) = clip(mean(x), 0, 1)``, shape (n, 1)."""
        return x.reshape(x.shape[0], -1).mean(dim=1, keepdim=True).clamp(0.0, 1.0)

    def forward(self, z, x):
        g = self.gate(x)
        W0 = self.cap0(self.W0)
        W1 = self.cap1(self.W1)
        rec = (1.0 - g) * nn.functional.linear(z, W0) + g * nn.functional.linear(z, W1)
        return rec + self.inject(x) + (1.0 - g) * self.b


@validate_params(
    {
        "G": [callable],
        "x": [torch.Tensor],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "y0": [None, torch.Tensor],
        "return_trajectory": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
@torch.no_grad()
def iterate(G, x, n_iter, y0=None, *, return_trajectory=False):
    """Picard iterates ``y_t = G(y_{t-1}, x)`` from ``y_0`` (zeros by default).

    Parameters
    ----------
    G : callable
        Operator ``G(y, x)``.
    x : torch.Tensor
        Inputs, batch-first.
    n_iter : int
        Number of applications ``t >= 0``.
    y0 : torch.Tensor, optional
        Starting state; zeros shaped like ``G``'s ``state_shape`` when it has
        one, else like ``x``.
    return_trajectory : bool, default=False
        Return the stacked iterates ``[y_1, ..., y_T]`` (shape (T, n, ...))
        instead of the last one.

    Returns
    -------
    y : torch.Tensor
        ``y_T`` (or the trajectory).

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.theory import ReciprocalOperator, iterate
    >>> iterate(ReciprocalOperator(0.5), torch.tensor([[1.0]]), n_iter=3)
    tensor([[0.8750]])
    """
    if y0 is None:
        shape = getattr(G, "state_shape", None)
        if shape is not None:
            y0 = x.new_zeros((x.shape[0],) + tuple(shape))
        else:
            y0 = torch.zeros_like(x)
    y = y0
    traj = []
    for _ in range(int(n_iter)):
        y = G(y, x)
        if return_trajectory:
            traj.append(y)
    if return_trajectory:
        return torch.stack(traj) if traj else y0.new_zeros((0,) + tuple(y0.shape))
    return y
