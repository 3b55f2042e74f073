"""Parts of the looped transformer: prelude (encoder), recurrent core (operator), coda (read-out).

They follow the module protocol of :mod:`sklearn_implicit._module`: the
prelude encodes tokens into the injected input ``u = (e, pad, mask)``, the
core is the operator ``h <- G(h, u)`` (with its starting state
``init_state(u)``) and the coda reads tokens out of the state and ``u``.
:func:`transformer_parts` builds them; the estimator wraps them in an
:class:`~sklearn_implicit.ImplicitModule` (one core, iterated) or a
:class:`~sklearn_implicit.FixedDepthModule` (untied cores, once each).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Block",
    "Coda",
    "Encoded",
    "PointerCoda",
    "PointerPrelude",
    "Prelude",
    "RecurrentCore",
    "node_codes",
    "transformer_parts",
]

#: Logit given to the padding class at padded positions (and to real classes there).
_BIG = 1e4


class Encoded(NamedTuple):
    """The injected input of the recurrent core."""

    #: Prelude output, (B, L, d).
    e: torch.Tensor
    #: Padded positions, (B, L) bool.
    pad: torch.Tensor
    #: Attention mask, (B, 1, 1, L) bool, True where a key may be seen.
    mask: torch.Tensor
    #: Node codes of the positions, (B, L, d), with ``positions="pointer"``; else None.
    codes: torch.Tensor | None = None


def _attention(q, k, v, attn_mask):
    """Plain softmax attention, differentiable twice (unlike the fused kernels)."""
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~attn_mask, float("-inf")).softmax(dim=-1) @ v


class Block(nn.Module):
    """Pre-norm transformer block: self-attention and a GELU MLP, both residual.

    Attention uses torch's fused kernel, except when an evaluation-mode block
    is differentiated (diagnostics such as the regularity report take
    Jacobian-vector products, which need a second derivative the fused
    kernels lack): then the same attention is computed step by step.

    Parameters
    ----------
    d_model : int
        Width.
    n_heads : int
        Attention heads (must divide ``d_model``).
    d_ff : int
        Hidden width of the MLP.
    """

    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.n_heads = int(n_heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, h, attn_mask):
        """``h``: (B, L, d); ``attn_mask``: (B, 1, 1, L) bool, True where a key may be seen."""
        B, L, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)

        def heads(t):
            return t.reshape(B, L, self.n_heads, d // self.n_heads).transpose(1, 2)

        if torch.is_grad_enabled() and not self.training:
            a = _attention(heads(q), heads(k), heads(v), attn_mask)
        else:
            a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=attn_mask)
        h = h + self.proj(a.transpose(1, 2).reshape(B, L, d))
        return h + self.mlp(self.norm2(h))


class Prelude(nn.Module):
    """The encoder: token + position embeddings and one block, giving :class:`Encoded`."""

    def __init__(self, n_tokens, max_len, d_model, n_heads, d_ff):
        super().__init__()
        self.pad_index = int(n_tokens)
        self.tokens = nn.Embedding(n_tokens + 1, d_model)
        self.positions = nn.Embedding(max_len, d_model)
        self.block = Block(d_model, n_heads, d_ff)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x):
        """``x``: (B, L) long tokens, negative = padding."""
        pad = x < 0
        tok = torch.where(pad, torch.full_like(x, self.pad_index), x)
        pos = torch.arange(x.shape[1], device=x.device)
        h = self.tokens(tok) + self.positions(pos)[None]
        attn_mask = (~pad)[:, None, None, :]
        return Encoded(self.norm(self.block(h, attn_mask)), pad, attn_mask)


class RecurrentCore(nn.Module):
    """The operator: one step ``h <- norm(block(W [h, e]))``, input injection of ``u.e``.

    Parameters
    ----------
    d_model, n_heads, d_ff : int
        As in :class:`Block`.
    init_state : {"zero", "random"}, default="zero"
        Starting state. "random" draws a standard normal state (times
        ``init_scale``): from torch's global generator when gradients are
        enabled (training), from a fixed-seed generator otherwise, so that
        inference is deterministic.
    init_scale : float, default=1.0
        Standard deviation of the random starting state.
    """

    def __init__(self, d_model, n_heads, d_ff, *, init_state="zero", init_scale=1.0):
        super().__init__()
        self.adapter = nn.Linear(2 * d_model, d_model)
        self.block = Block(d_model, n_heads, d_ff)
        self.norm = nn.LayerNorm(d_model)
        self.start = init_state
        self.init_scale = float(init_scale)

    def init_state(self, u):
        """Zero, or random (fixed seed without gradients), state shaped like ``u.e``."""
        e = u.e
        if self.start != "random":
            return torch.zeros_like(e)
        generator = None if torch.is_grad_enabled() else torch.Generator().manual_seed(0)
        noise = torch.randn(e.shape, generator=generator, dtype=e.dtype, device="cpu")
        return noise.to(e.device) * self.init_scale

    def forward(self, h, u):
        return self.norm(self.block(self.adapter(torch.cat([h, u.e], dim=-1)), u.mask))


class Coda(nn.Module):
    """The read-out: one block and the unembedding; padded positions get the extra padding class.

    Reads the padding mask of the encoded input (``reads_input``).
    """

    reads_input = True

    def __init__(self, n_classes, d_model, n_heads, d_ff):
        super().__init__()
        self.block = Block(d_model, n_heads, d_ff)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, h, u):
        logits = self.head(self.norm(self.block(h, u.mask)))
        logits = logits.masked_fill(u.pad[..., None], -_BIG)
        pad_col = torch.where(u.pad, _BIG, -_BIG).to(logits.dtype)[..., None]
        return torch.cat([logits, pad_col], dim=-1)


def node_codes(n, length, dim, *, fresh, device=None, dtype=torch.float32):
    """Random node codes, one per position: ``(n, length, dim)``, each of norm ``sqrt(dim)``.

    Up to ``dim`` positions the codes are orthogonal (rows of a random
    orthogonal matrix); beyond, independent Gaussian directions (nearly
    orthogonal). ``fresh=True`` draws new codes for every sequence from
    torch's global generator (training: the model cannot memorise an
    identity); ``fresh=False`` gives every sequence the same codes from a
    fixed seed (inference: deterministic and independent of the batch), and
    the code of position ``j`` then does not depend on ``length`` while
    ``length <= dim``.

    Examples
    --------
    >>> from sklearn_implicit.looped import node_codes
    >>> c = node_codes(2, 5, 8, fresh=False)
    >>> c.shape
    torch.Size([2, 5, 8])
    >>> bool(torch.allclose(c[0] @ c[0].T, 8 * torch.eye(5), atol=1e-4))
    True
    """
    generator = None if fresh else torch.Generator().manual_seed(0)
    draws = n if fresh else 1
    if length <= dim:
        g = torch.randn((draws, dim, dim), generator=generator, dtype=torch.float64)
        codes = torch.linalg.qr(g).Q[:, :length, :]
    else:
        codes = torch.randn((draws, length, dim), generator=generator, dtype=torch.float64)
        codes = codes / codes.norm(dim=-1, keepdim=True)
    codes = (codes * math.sqrt(dim)).to(device=device, dtype=dtype)
    return codes.expand(n, length, dim)


class PointerPrelude(nn.Module):
    """The encoder of pointer sequences: every token is a reference to a position.

    Position ``j`` gets a random node code ``c_j`` (:func:`node_codes`,
    fresh per sequence in training, fixed at inference) and token ``x_j``
    the code of the position it points to, ``c_{x_j}``; the input of the
    block is ``A c_j + B c_{x_j}``. No embedding table depends on the
    sequence length or the token values, so any length and any pointer
    ``0 <= x_j < L`` can be encoded. The codes travel in
    :attr:`Encoded.codes` to the read-out (:class:`PointerCoda`).
    """

    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.here = nn.Linear(d_model, d_model)
        self.there = nn.Linear(d_model, d_model, bias=False)
        self.pad = nn.Parameter(torch.zeros(d_model))
        self.block = Block(d_model, n_heads, d_ff)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x):
        """``x``: (B, L) long pointers into the sequence, negative = padding."""
        pad = x < 0
        B, L = x.shape
        d = self.pad.shape[0]
        codes = node_codes(B, L, d, fresh=self.training, device=x.device, dtype=self.pad.dtype)
        target = x.clamp(min=0)[..., None].expand(B, L, d)
        h = self.here(codes) + self.there(torch.gather(codes, 1, target))
        h = torch.where(pad[..., None], self.pad.expand_as(h), h)
        attn_mask = (~pad)[:, None, None, :]
        return Encoded(self.norm(self.block(h, attn_mask)), pad, attn_mask, codes)


class PointerCoda(nn.Module):
    """The read-out of pointer targets: position ``j`` scores every position ``k`` of its sequence.

    Logit ``(j, k) = <W_q block(h)_j, W_k c_k> / sqrt(d)``: the answer is
    found by similarity to the node codes, not by a softmax over a fixed
    set of classes, so a longer sequence has more possible answers. Padded
    positions ``k`` are never answers; padded positions ``j`` get the extra
    padding class (last), as in :class:`Coda`.
    """

    reads_input = True

    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.block = Block(d_model, n_heads, d_ff)
        self.norm = nn.LayerNorm(d_model)
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model, bias=False)

    def forward(self, h, u):
        q = self.query(self.norm(self.block(h, u.mask)))
        k = self.key(u.codes)
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        logits = logits.masked_fill(u.pad[:, None, :] | u.pad[..., None], -_BIG)
        pad_col = torch.where(u.pad, _BIG, -_BIG).to(logits.dtype)[..., None]
        return torch.cat([logits, pad_col], dim=-1)


def transformer_parts(
    n_tokens,
    n_classes,
    max_len,
    *,
    d_model=64,
    n_heads=4,
    d_ff=128,
    n_cores=1,
    init_state="zero",
    init_scale=1.0,
    positions="learned",
):
    """Build ``(prelude, cores, coda)`` (in this order, so a seed fixes the same weights).

    Parameters
    ----------
    n_tokens : int
        Input vocabulary size (padding is extra).
    n_classes : int
        Output classes (the padding class is extra, last).
    max_len : int
        Longest sequence (learned positions).
    d_model, n_heads, d_ff : int
        Width, heads and MLP width of every block.
    n_cores : int, default=1
        Recurrent cores: one to iterate, or several untied layers.
    init_state, init_scale
        Starting state of the cores (see :class:`RecurrentCore`).
    positions : {"learned", "pointer"}, default="learned"
        "learned": :class:`Prelude` and :class:`Coda` (vocabulary
        embeddings, learned positions up to ``max_len``, a softmax over
        ``n_classes``). "pointer": :class:`PointerPrelude` and
        :class:`PointerCoda` (tokens and answers are positions; any length;
        ``n_tokens``, ``n_classes`` and ``max_len`` are unused).

    Returns
    -------
    prelude : Prelude
    cores : list of RecurrentCore
    coda : Coda

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.looped import transformer_parts
    >>> prelude, (core,), coda = transformer_parts(5, 3, 6, d_model=8, n_heads=2, d_ff=16)
    >>> u = prelude(torch.tensor([[0, 1, 4, -1]]))
    >>> h = core(core.init_state(u), u)
    >>> coda(h, u).shape  # 3 classes + the padding class
    torch.Size([1, 4, 4])
    """
    dims = {"d_model": d_model, "n_heads": n_heads, "d_ff": d_ff}
    pointer = positions == "pointer"
    prelude = PointerPrelude(**dims) if pointer else Prelude(n_tokens, max_len, **dims)
    cores = [
        RecurrentCore(**dims, init_state=init_state, init_scale=init_scale)
        for _ in range(int(n_cores))
    ]
    coda = PointerCoda(**dims) if pointer else Coda(n_classes, **dims)
    return prelude, cores, coda
