"""Torch modules of the looped transformer: prelude -> recurrent core (t loops) -> coda."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..solvers import SolverInfo, picard

__all__ = [
    "Block",
    "Coda",
    "LoopedTransformer",
    "Prelude",
    "RecurrentCore",
    "UntiedTransformer",
    "sample_recurrence",
]

#: Logit given to the padding class at padded positions (and to real classes there).
_BIG = 1e4


class Block(nn.Module):
    """Pre-norm transformer block: self-attention and a GELU MLP, both residual.

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

        a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=attn_mask)
        h = h + self.proj(a.transpose(1, 2).reshape(B, L, d))
        return h + self.mlp(self.norm2(h))


class Prelude(nn.Module):
    """Token + position embeddings and one block: the injected input ``e``."""

    def __init__(self, n_tokens, max_len, d_model, n_heads, d_ff):
        super().__init__()
        self.pad_index = int(n_tokens)
        self.tokens = nn.Embedding(n_tokens + 1, d_model)
        self.positions = nn.Embedding(max_len, d_model)
        self.block = Block(d_model, n_heads, d_ff)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x):
        """``x``: (B, L) long tokens, negative = padding. Returns ``(e, pad, attn_mask)``."""
        pad = x < 0
        tok = torch.where(pad, torch.full_like(x, self.pad_index), x)
        pos = torch.arange(x.shape[1], device=x.device)
        h = self.tokens(tok) + self.positions(pos)[None]
        attn_mask = (~pad)[:, None, None, :]
        return self.norm(self.block(h, attn_mask)), pad, attn_mask


class RecurrentCore(nn.Module):
    """One shared step ``h <- norm(block(W [h, e]))``: input injection of the prelude output ``e``."""

    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.adapter = nn.Linear(2 * d_model, d_model)
        self.block = Block(d_model, n_heads, d_ff)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, h, e, attn_mask):
        return self.norm(self.block(self.adapter(torch.cat([h, e], dim=-1)), attn_mask))


class Coda(nn.Module):
    """One block and the unembedding; padded positions get the extra padding class."""

    def __init__(self, n_classes, d_model, n_heads, d_ff):
        super().__init__()
        self.block = Block(d_model, n_heads, d_ff)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, h, pad, attn_mask):
        logits = self.head(self.norm(self.block(h, attn_mask)))
        logits = logits.masked_fill(pad[..., None], -_BIG)
        pad_col = torch.where(pad, _BIG, -_BIG).to(logits.dtype)[..., None]
        return torch.cat([logits, pad_col], dim=-1)


def sample_recurrence(mean_recurrence, sigma=0.5, generator=None):
    """Loop count ``r = Poisson(LogNormal(log(mean) - sigma^2 / 2, sigma)) + 1`` (heavy tailed).

    The recurrent-depth recipe (Huginn's ``poisson-lognormal-filling``): the
    rate has mean ``mean_recurrence``, so ``E[r] = mean_recurrence + 1``,
    with a long right tail.
    """
    mu = math.log(mean_recurrence) - sigma**2 / 2
    rate = torch.exp(mu + sigma * torch.randn((), generator=generator))
    return int(torch.poisson(rate.reshape(1), generator=generator).item()) + 1


class LoopedTransformer(nn.Module):
    """Prelude -> recurrent core iterated ``t`` times from a zero or random state -> coda.

    Training (``module.train()``) draws the number of loops ``r`` of each
    batch with :func:`sample_recurrence`, runs ``max(r - k, 0)`` loops
    without gradient and the last ``min(r, k)`` with gradient (truncated
    backpropagation, ``k = backprop_depth``): memory is bounded by ``k``, not
    by ``r``. Evaluation (``module.eval()``) runs ``n_iter`` loops;
    :meth:`solve` runs a given budget with an optional early exit.

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
    mean_recurrence : float
        Mean of the loop-count distribution in training.
    backprop_depth : int
        Loops with gradient ``k``.
    n_iter : int
        Loops in evaluation-mode ``forward``.
    init_state : {"zero", "random"}
        Starting state of the recurrence.
    init_scale : float
        Standard deviation of the random starting state.
    """

    def __init__(
        self,
        n_tokens,
        n_classes,
        max_len,
        *,
        d_model=64,
        n_heads=4,
        d_ff=128,
        mean_recurrence=8.0,
        backprop_depth=4,
        n_iter=8,
        init_state="zero",
        init_scale=1.0,
    ):
        super().__init__()
        self.prelude = Prelude(n_tokens, max_len, d_model, n_heads, d_ff)
        self.core = RecurrentCore(d_model, n_heads, d_ff)
        self.coda = Coda(n_classes, d_model, n_heads, d_ff)
        self.mean_recurrence = float(mean_recurrence)
        self.backprop_depth = int(backprop_depth)
        self.n_iter = int(n_iter)
        self.init_state = init_state
        self.init_scale = float(init_scale)
        #: Fixed loop count for the next training forward passes (tests, ablations).
        self.train_loops = None
        #: ``(no_grad, with_grad)`` loops of the last training forward pass.
        self.last_loops = None

    def initial_state(self, e, generator=None):
        if self.init_state == "random":
            noise = torch.randn(e.shape, generator=generator, dtype=e.dtype, device="cpu")
            return noise.to(e.device) * self.init_scale
        return torch.zeros_like(e)

    def forward(self, x):
        e, pad, mask = self.prelude(x)
        if not self.training:
            h = self.initial_state(e, self._eval_generator())
            for _ in range(self.n_iter):
                h = self.core(h, e, mask)
            return self.coda(h, pad, mask)
        r = self.train_loops or sample_recurrence(self.mean_recurrence)
        k = min(r, self.backprop_depth)
        self.last_loops = (r - k, k)
        h = self.initial_state(e)
        if r > k:
            with torch.no_grad():
                e_ng = e.detach()
                for _ in range(r - k):
                    h = self.core(h, e_ng, mask)
        for _ in range(k):
            h = self.core(h, e, mask)
        return self.coda(h, pad, mask)

    def _eval_generator(self):
        if self.init_state != "random":
            return None
        g = torch.Generator()
        g.manual_seed(0)
        return g

    @torch.no_grad()
    def solve(self, x, *, max_iter, tol, track=False, callback=None):
        """Run ``max_iter`` loops (stop a sample early once its relative latent change <= ``tol``).

        Returns ``(logits, state, SolverInfo)``; ``callback(k, logits_k)`` sees
        the decoded output after every loop.
        """
        e, pad, mask = self.prelude(x)
        h0 = self.initial_state(e, self._eval_generator())
        cb = None
        if callback is not None:

            def cb(k, h):
                callback(k, self.coda(h, pad, mask))

        h, info = picard(
            lambda h: self.core(h, e, mask),
            h0,
            max_iter=max_iter,
            tol=tol,
            track=track,
            callback=cb,
        )
        return self.coda(h, pad, mask), h, info


class UntiedTransformer(nn.Module):
    """The explicit baseline: prelude -> ``n_layers`` distinct copies of the core -> coda.

    Each layer has the architecture of :class:`RecurrentCore` (input
    injection included) but its own weights, and runs once; with
    ``n_layers=1`` the parameter count equals the looped model's. The output
    does not depend on a budget: :meth:`solve` reports the same output for
    every ``k``.
    """

    def __init__(
        self, n_tokens, n_classes, max_len, *, d_model=64, n_heads=4, d_ff=128, n_layers=1
    ):
        super().__init__()
        self.prelude = Prelude(n_tokens, max_len, d_model, n_heads, d_ff)
        self.layers = nn.ModuleList(
            RecurrentCore(d_model, n_heads, d_ff) for _ in range(int(n_layers))
        )
        self.coda = Coda(n_classes, d_model, n_heads, d_ff)

    def _state(self, x):
        e, pad, mask = self.prelude(x)
        h = torch.zeros_like(e)
        for layer in self.layers:
            h = layer(h, e, mask)
        return h, pad, mask

    def forward(self, x):
        h, pad, mask = self._state(x)
        return self.coda(h, pad, mask)

    @torch.no_grad()
    def solve(self, x, *, max_iter, tol, track=False, callback=None):
        h, pad, mask = self._state(x)
        out = self.coda(h, pad, mask)
        if callback is not None:
            for k in range(1, max_iter + 1):
                callback(k, out)
        info = SolverInfo.fixed_depth(
            x.shape[0], len(self.layers), max_iter=max_iter, tol=tol, solver="untied"
        )
        return out, h, info
