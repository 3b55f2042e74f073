"""The torch module behind every implicit estimator: encoder -> fixed point -> decoder."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ImplicitModule"]


class ImplicitModule(nn.Module):
    """``y = decoder(z*)`` with ``z* = G(z*, encoder(x))``.

    Parameters
    ----------
    operator : torch.nn.Module
        ``G`` with ``forward(z, u)``.
    encoder, decoder : torch.nn.Module, optional
        ``Q_phi`` and ``Q_psi``; identity when None.
    state_shape : tuple of int
        Shape of one sample's state, used when the operator has no
        ``init_state(u)`` method; the starting state is zero.
    solver : callable
        Forward solver with the common signature.
    backward : callable
        A backward mode (see :mod:`sklearn_implicit.backward`).
    n_iter : int
        Training budget of operator applications.
    tol : float
        Training tolerance.
    """

    def __init__(
        self, operator, encoder=None, decoder=None, *, state_shape, solver, backward, n_iter, tol
    ):
        super().__init__()
        self.operator = operator
        self.encoder = encoder if encoder is not None else nn.Identity()
        self.decoder = decoder if decoder is not None else nn.Identity()
        self.state_shape = tuple(state_shape)
        self.solver = solver
        self.backward = backward
        self.n_iter = int(n_iter)
        self.tol = float(tol)

    def init_state(self, u):
        """Starting state ``z_0`` for injected inputs ``u`` (zeros by default)."""
        if hasattr(self.operator, "init_state"):
            return self.operator.init_state(u)
        return u.new_zeros((u.shape[0],) + self.state_shape)

    def forward(self, x):
        """Training forward pass: solve with the backward mode's gradient."""
        u = self.encoder(x)
        z0 = self.init_state(u)
        z = self.backward(
            lambda z: self.operator(z, u),
            z0,
            solver=self.solver,
            max_iter=self.n_iter,
            tol=self.tol,
        )
        return self.decoder(z)

    @torch.no_grad()
    def solve(self, x, *, max_iter, tol, track=False, callback=None):
        """Solve without gradients; return ``(y, z, info)``.

        ``callback(k, y_k)`` receives the *decoded* iterate after every step
        when given.
        """
        u = self.encoder(x)
        z0 = self.init_state(u)
        cb = None
        if callback is not None:

            def cb(k, z):
                callback(k, self.decoder(z))

        z, info = self.solver(
            lambda z: self.operator(z, u), z0, max_iter=max_iter, tol=tol, track=track, callback=cb
        )
        return self.decoder(z), z, info
