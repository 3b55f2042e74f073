"""Bipartite graph neural networks on linear programs, in plain torch.

Message passing is written as batched, masked dense products rather than with
torch-geometric or an edge-list scatter. The solvers need the state's first
dimension to be the LP instance, so every batch is padded per instance to
``(M, N)`` anyway; the only edge feature is the scalar ``A_ij``, which
multiplies the message, so the sum aggregation ``sum_{j: A_ij != 0} A_ij
h_j`` is exactly the product ``A @ H`` (absent edges are zeros and add
nothing, padded nodes have no edges). At the paper's sizes (m = 10, n = 50)
one ``bmm`` is faster on a CPU than ``index_add_`` over the edge list, and no
extra dependency is needed. For very large, very sparse LPs an edge-list
scatter would use less memory; the layers would be unchanged.

The parts follow the module protocol (:mod:`sklearn_implicit._module`):
:class:`LPEncoder` turns the flat rows into an :class:`LPBatch` ``u``; the
implicit operator :class:`ImplicitLPGNNLayer` iterates a per-variable scalar
state ``G(y, u)``; the explicit model stacks :class:`ExplicitLPGNNRound` s
(untied) on the packed node embeddings; :class:`LPReadout` reads either state
together with ``u``.

The layer layout follows the paper's code description (paper notes, section
4): embeddings ``Linear + ReLU`` of the constraint features ``(b_i, o_i)``
and variable features ``(c_j, l_j, u_j)``; half-layer convolutions
``target <- MLP_out([sum_s A_ts MLP_src(h_s), MLP_tgt(h_t)])`` with two-layer
ReLU MLPs (the variable-side feature MLP has no first bias), orthogonal
initialisation. The parameter counts match the paper's Table 1.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ._container import _HEADER

__all__ = [
    "BipartiteConv",
    "ExplicitLPGNNRound",
    "ImplicitLPGNNLayer",
    "LPBatch",
    "LPEncoder",
    "LPReadout",
    "orthogonal_init",
    "pack_nodes",
    "unflatten_lp",
    "unpack_nodes",
]


class LPBatch(NamedTuple):
    """A padded batch of LPs (tensors); ``cons``/``var`` hold raw or embedded features."""

    cons: torch.Tensor  # (B, M, d_c)
    var: torch.Tensor  # (B, N, d_v)
    A: torch.Tensor  # (B, M, N)
    cons_mask: torch.Tensor  # (B, M) bool
    var_mask: torch.Tensor  # (B, N) bool


def unflatten_lp(x, sizes=None):
    """Decode the flat encoding of :meth:`LinearPrograms.to_flat` into an :class:`LPBatch`.

    The padded sizes ``(M, N)`` are read from the header, i.e. from the
    input's values, unless ``sizes`` gives them: graph exporters
    (``torch.export``, ONNX) need them static.
    """
    if x.dim() != 2 or x.shape[1] < _HEADER:
        raise ValueError("Expected a 2-D tensor in the flat LinearPrograms encoding.")
    B = x.shape[0]
    if sizes is None:
        M, N = int(x[0, 2].item()), int(x[0, 3].item())
    else:
        M, N = (int(v) for v in sizes)
        if x.shape[1] != _HEADER + 2 * M + 3 * N + M * N:
            raise ValueError(
                f"The flat encoding has {x.shape[1]} columns; LPs padded to {M} constraints "
                f"and {N} variables have {_HEADER + 2 * M + 3 * N + M * N}."
            )
    o = _HEADER
    b = x[:, o : o + M]
    eq = x[:, o + M : o + 2 * M]
    o += 2 * M
    c = x[:, o : o + N]
    lower = x[:, o + N : o + 2 * N]
    upper = x[:, o + 2 * N : o + 3 * N]
    o += 3 * N
    A = x[:, o : o + M * N].reshape(B, M, N)
    cons_mask = torch.arange(M, device=x.device)[None, :] < x[:, :1]
    var_mask = torch.arange(N, device=x.device)[None, :] < x[:, 1:2]
    return LPBatch(
        cons=torch.stack([b, eq], dim=-1),
        var=torch.stack([c, lower, upper], dim=-1),
        A=A,
        cons_mask=cons_mask,
        var_mask=var_mask,
    )


def _mlp(dim, first_bias=True):
    return nn.Sequential(nn.Linear(dim, dim, bias=first_bias), nn.ReLU(), nn.Linear(dim, dim))


def orthogonal_init(module):
    """Orthogonal weights and zero biases for every ``nn.Linear`` (as in the paper's code)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class BipartiteConv(nn.Module):
    """One half-layer of message passing, constraints -> variables or back.

    ``h_t' = MLP_out([sum_s W_ts MLP_src(h_s), MLP_tgt(h_t)])`` with ``W = A``
    (variables -> constraints) or ``W = A^T`` (constraints -> variables).

    Parameters
    ----------
    cons_dim, var_dim : int
        Feature sizes of constraint and variable nodes.
    to_variables : bool
        Direction of the messages.
    """

    def __init__(self, cons_dim, var_dim, *, to_variables):
        super().__init__()
        self.to_variables = to_variables
        self.cons_mlp = _mlp(cons_dim)
        self.var_mlp = _mlp(var_dim, first_bias=False)
        src, tgt = (cons_dim, var_dim) if to_variables else (var_dim, cons_dim)
        self.out = nn.Sequential(nn.Linear(src + tgt, tgt), nn.ReLU(), nn.Linear(tgt, tgt))

    def forward(self, h_cons, h_var, A):
        if self.to_variables:
            agg = torch.bmm(A.transpose(1, 2), self.cons_mlp(h_cons))
            prev = self.var_mlp(h_var)
        else:
            agg = torch.bmm(A, self.var_mlp(h_var))
            prev = self.cons_mlp(h_cons)
        return self.out(torch.cat([agg, prev], dim=-1))


#: Bound limit of an :class:`LPEncoder` until one is set (in its scaled units).
_DEFAULT_BOUND_LIMIT = 1e4


class LPEncoder(nn.Module):
    """Flat LP rows -> :class:`LPBatch` with embedded node features (``Linear + ReLU``).

    The raw features are divided by fixed scales first (buffers, not trained;
    ones unless set with :meth:`set_scales`): ``(b, o)`` by ``cons_scale``,
    ``(c, l, u)`` by ``var_scale`` and ``A`` by ``edge_scale``.

    Infinite bounds are encoded inside the bound features themselves, with
    no extra channel nor parameter: the scaled bounds ``(l, u)`` are clipped
    to ``[-bound_limit, bound_limit]`` (a buffer, set with
    :meth:`set_bound_limit`; ``1e4`` until set), so ``-inf`` / ``inf`` read
    as a bound at ``-bound_limit`` / ``bound_limit``, and so does any finite
    bound beyond it. Finite bounds within the limit are left bit for bit as
    they were. :class:`~sklearn_implicit.lp.LPGNNRegressor` sets the limit at
    fit time to ten standard deviations of the training bounds beyond the
    largest finite training bound, i.e. "farther than any bound seen, by a
    margin", on the scale of the data.
    """

    def __init__(self, emb_size):
        super().__init__()
        self.cons_embedding = nn.Sequential(nn.Linear(2, emb_size), nn.ReLU())
        self.var_embedding = nn.Sequential(nn.Linear(3, emb_size), nn.ReLU())
        self.register_buffer("cons_scale", torch.ones(2))
        self.register_buffer("var_scale", torch.ones(3))
        self.register_buffer("edge_scale", torch.ones(()))
        self.register_buffer("bound_limit", torch.tensor(_DEFAULT_BOUND_LIMIT))

    def set_scales(self, cons, var, edge):
        """Set the fixed feature scales (e.g. training standard deviations)."""
        with torch.no_grad():
            self.cons_scale.copy_(torch.as_tensor(cons, dtype=torch.float32))
            self.var_scale.copy_(torch.as_tensor(var, dtype=torch.float32))
            self.edge_scale.copy_(torch.as_tensor(edge, dtype=torch.float32))
        return self

    def set_bound_limit(self, limit):
        """Set where scaled bounds are clipped (infinite ones included); a positive number.

        Limits beyond the float32 range are stored as its largest value.
        """
        limit = float(limit)
        if not limit > 0:
            raise ValueError(f"bound_limit must be positive, got {limit}.")
        with torch.no_grad():
            self.bound_limit.fill_(min(limit, float(torch.finfo(torch.float32).max)))
        return self

    #: Static padded sizes ``(M, N)`` of the inputs, or None to read them from
    #: each input's header (set on exported copies, see ``LPGNNRegressor.export``).
    sizes = None

    def forward(self, x):
        batch = unflatten_lp(x, self.sizes)
        var = batch.var / self.var_scale
        bounds = var[..., 1:].clamp(-self.bound_limit, self.bound_limit)
        return batch._replace(
            cons=self.cons_embedding(batch.cons / self.cons_scale),
            var=self.var_embedding(torch.cat([var[..., :1], bounds], dim=-1)),
            A=batch.A / self.edge_scale,
        )


class ImplicitLPGNNLayer(nn.Module):
    """The operator ``G(y, x)``: four half-layers on ``[emb(var), y]``, then ``Linear -> y``.

    The state ``y`` has shape (n_instances, N): one scalar per variable node,
    zero on padded slots.
    """

    def __init__(self, emb_size):
        super().__init__()
        var_dim = emb_size + 1
        self.convs = nn.ModuleList(
            [
                BipartiteConv(emb_size, var_dim, to_variables=False),
                BipartiteConv(emb_size, var_dim, to_variables=True),
                BipartiteConv(emb_size, var_dim, to_variables=False),
                BipartiteConv(emb_size, var_dim, to_variables=True),
            ]
        )
        self.to_y = nn.Linear(var_dim, 1)

    def init_state(self, u):
        return u.var.new_zeros(u.var.shape[:2])

    def forward(self, y, u):
        h_var = torch.cat([u.var, y.unsqueeze(-1)], dim=-1)
        h_cons = u.cons
        for conv in self.convs:
            if conv.to_variables:
                h_var = torch.relu(conv(h_cons, h_var, u.A))
            else:
                h_cons = torch.relu(conv(h_cons, h_var, u.A))
        return self.to_y(h_var).squeeze(-1) * u.var_mask


class ExplicitLPGNNRound(nn.Module):
    """One untied round of the explicit GNN: variables -> constraints -> variables.

    The state packs the node embeddings into one tensor, constraints first:
    ``z = [h_cons, h_var]`` of shape (n_instances, M + N, emb_size), zero on
    padded nodes (see :func:`pack_nodes`). A
    :class:`~sklearn_implicit.FixedDepthModule` applies ``n_rounds`` of these,
    each with its own weights, from the embedded input.
    """

    def __init__(self, emb_size):
        super().__init__()
        self.to_constraints = BipartiteConv(emb_size, emb_size, to_variables=False)
        self.to_variables = BipartiteConv(emb_size, emb_size, to_variables=True)

    def init_state(self, u):
        return pack_nodes(u.cons, u.var, u)

    def forward(self, z, u):
        h_cons, h_var = unpack_nodes(z, u)
        h_cons = torch.relu(self.to_constraints(h_cons, h_var, u.A))
        h_var = torch.relu(self.to_variables(h_cons, h_var, u.A))
        return pack_nodes(h_cons, h_var, u)


def pack_nodes(h_cons, h_var, u):
    """Constraint and variable embeddings as one state ``(B, M + N, d)``, padded nodes zeroed."""
    return torch.cat([h_cons * u.cons_mask[..., None], h_var * u.var_mask[..., None]], dim=1)


def unpack_nodes(z, u):
    """Inverse of :func:`pack_nodes`: ``(h_cons, h_var)``."""
    M = u.cons.shape[1]
    return z[:, :M], z[:, M:]


#: Largest magnitude of a scalar state the read-out reads (see :class:`LPReadout`).
_STATE_LIMIT = 1e18


class LPReadout(nn.Module):
    """``y_hat_j = scale * MLP(h_j)`` from variable ``j``'s features; NaN on padded slots.

    A decoder that reads the encoded input (``reads_input = True``: the
    module calls it as ``decoder(z, u)``). The features ``h_j`` depend on
    the state:

    - ``state="scalar"`` (the implicit GNN, one scalar ``y_j`` per variable):
      ``h_j = [emb(var_j), y_j]`` (``emb_size + 1`` features);
    - ``state="nodes"`` (the explicit GNN, packed node embeddings, see
      :class:`ExplicitLPGNNRound`): ``h_j`` is variable ``j``'s embedding.

    ``scale`` is a fixed buffer (one unless set, e.g. to the target's standard
    deviation). A scalar state is saturated at ``+-1e18`` before it is read:
    a diverged solve stops at its last finite state, which can be close to
    the float32 maximum, and its read-out must stay finite (the estimator
    warns about the divergence); real solution estimates are far smaller.

    Parameters
    ----------
    emb_size : int
        Width of the embeddings and of the MLP.
    state : {"scalar", "nodes"}, default="scalar"
        What the state holds.
    """

    reads_input = True

    def __init__(self, emb_size, *, state="scalar"):
        super().__init__()
        if state not in ("scalar", "nodes"):
            raise ValueError(f"state must be 'scalar' or 'nodes', got {state!r}.")
        self.state = state
        in_dim = emb_size + 1 if state == "scalar" else emb_size
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, emb_size), nn.ReLU(), nn.Linear(emb_size, 1, bias=False)
        )
        self.register_buffer("scale", torch.ones(()))

    def forward(self, z, u):
        if self.state == "scalar":
            z = z.clamp(-_STATE_LIMIT, _STATE_LIMIT)
            h_var = torch.cat([u.var, z.unsqueeze(-1)], dim=-1)
        else:
            h_var = unpack_nodes(z, u)[1]
        out = self.mlp(h_var).squeeze(-1) * self.scale
        return torch.where(u.var_mask, out, torch.full_like(out, float("nan")))
