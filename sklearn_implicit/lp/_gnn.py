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

from .._module import ImplicitModule
from ..solvers import SolverInfo
from ._container import _HEADER

__all__ = [
    "BipartiteConv",
    "ExplicitLPGNN",
    "LPBatch",
    "LPEncoder",
    "LPImplicitModule",
    "LPReadout",
    "ImplicitLPGNNLayer",
    "unflatten_lp",
]


class LPBatch(NamedTuple):
    """A padded batch of LPs (tensors); ``cons``/``var`` hold raw or embedded features."""

    cons: torch.Tensor  # (B, M, d_c)
    var: torch.Tensor  # (B, N, d_v)
    A: torch.Tensor  # (B, M, N)
    cons_mask: torch.Tensor  # (B, M) bool
    var_mask: torch.Tensor  # (B, N) bool


def unflatten_lp(x):
    """Decode the flat encoding of :meth:`LinearPrograms.to_flat` into an :class:`LPBatch`."""
    if x.dim() != 2 or x.shape[1] < _HEADER:
        raise ValueError("Expected a 2-D tensor in the flat LinearPrograms encoding.")
    B = x.shape[0]
    M, N = int(x[0, 2].item()), int(x[0, 3].item())
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


class LPEncoder(nn.Module):
    """Flat LP rows -> :class:`LPBatch` with embedded node features (``Linear + ReLU``).

    The raw features are divided by fixed scales first (buffers, not trained;
    ones unless set with :meth:`set_scales`): ``(b, o)`` by ``cons_scale``,
    ``(c, l, u)`` by ``var_scale`` and ``A`` by ``edge_scale``.
    """

    def __init__(self, emb_size):
        super().__init__()
        self.cons_embedding = nn.Sequential(nn.Linear(2, emb_size), nn.ReLU())
        self.var_embedding = nn.Sequential(nn.Linear(3, emb_size), nn.ReLU())
        self.register_buffer("cons_scale", torch.ones(2))
        self.register_buffer("var_scale", torch.ones(3))
        self.register_buffer("edge_scale", torch.ones(()))

    def set_scales(self, cons, var, edge):
        """Set the fixed feature scales (e.g. training standard deviations)."""
        with torch.no_grad():
            self.cons_scale.copy_(torch.as_tensor(cons, dtype=torch.float32))
            self.var_scale.copy_(torch.as_tensor(var, dtype=torch.float32))
            self.edge_scale.copy_(torch.as_tensor(edge, dtype=torch.float32))
        return self

    def forward(self, x):
        batch = unflatten_lp(x)
        return batch._replace(
            cons=self.cons_embedding(batch.cons / self.cons_scale),
            var=self.var_embedding(batch.var / self.var_scale),
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


class LPReadout(nn.Module):
    """``y_hat_j = scale * MLP([emb(var_j), y_j])``; NaN on padded variable slots.

    ``scale`` is a fixed buffer (one unless set, e.g. to the target's standard
    deviation).
    """

    def __init__(self, in_dim, emb_size):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, emb_size), nn.ReLU(), nn.Linear(emb_size, 1, bias=False)
        )
        self.register_buffer("scale", torch.ones(()))

    def forward(self, h_var, var_mask):
        out = self.mlp(h_var).squeeze(-1) * self.scale
        return torch.where(var_mask, out, torch.full_like(out, float("nan")))


class LPImplicitModule(ImplicitModule):
    """:class:`ImplicitModule` whose read-out also sees the variable embeddings."""

    def forward(self, x):
        u = self.encoder(x)
        z0 = self.init_state(u)
        z = self.backward(
            lambda z: self.operator(z, u),
            z0,
            solver=self.solver,
            max_iter=self.n_iter,
            tol=self.tol,
        )
        return self._read(z, u)

    def _read(self, z, u):
        return self.decoder(torch.cat([u.var, z.unsqueeze(-1)], dim=-1), u.var_mask)

    @torch.no_grad()
    def solve(self, x, *, max_iter, tol, track=False, callback=None):
        u = self.encoder(x)
        z0 = self.init_state(u)
        cb = None
        if callback is not None:

            def cb(k, z):
                callback(k, self._read(z, u))

        z, info = self.solver(
            lambda z: self.operator(z, u), z0, max_iter=max_iter, tol=tol, track=track, callback=cb
        )
        return self._read(z, u), z, info


class ExplicitLPGNN(nn.Module):
    """The explicit counterpart: embeddings, ``2 * n_rounds`` untied half-layers, read-out.

    Its output does not depend on a budget: :meth:`solve` returns it for any
    ``max_iter`` (and reports the same output at every step to callbacks).
    """

    def __init__(self, emb_size, n_rounds=2):
        super().__init__()
        self.encoder = LPEncoder(emb_size)
        convs = []
        for _ in range(n_rounds):
            convs.append(BipartiteConv(emb_size, emb_size, to_variables=False))
            convs.append(BipartiteConv(emb_size, emb_size, to_variables=True))
        self.convs = nn.ModuleList(convs)
        self.decoder = LPReadout(emb_size, emb_size)
        orthogonal_init(self)

    def forward(self, x):
        u = self.encoder(x)
        h_cons, h_var = u.cons, u.var
        for conv in self.convs:
            if conv.to_variables:
                h_var = torch.relu(conv(h_cons, h_var, u.A))
            else:
                h_cons = torch.relu(conv(h_cons, h_var, u.A))
        return self.decoder(h_var, u.var_mask)

    @torch.no_grad()
    def solve(self, x, *, max_iter, tol, track=False, callback=None):
        y = self.forward(x)
        if callback is not None:
            for k in range(1, max_iter + 1):
                callback(k, y)
        info = SolverInfo.fixed_depth(
            y.shape[0], len(self.convs), max_iter=max_iter, tol=tol, solver="explicit"
        )
        return y, y, info
