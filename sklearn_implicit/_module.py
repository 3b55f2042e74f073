"""The module protocol every estimator's torch module follows.

The data path of every estimator is the same handful of hops::

    x -> encode(x) = u -> solve z = G(z, u) from init_state(u) -> read(z, u) = y

:class:`ImplicitModule` is that path with a weight-tied operator ``G``
iterated by a solver (training differentiates through the solve with a
backward mode); :class:`FixedDepthModule` is the explicit counterpart, the
same parts applied once each, untied. Both expose the two calls the
estimators use:

``forward(x)``
    The training pass (gradients through the backward mode).
``solve(x, *, max_iter, tol, track=False, callback=None) -> (y, z, info)``
    Inference without gradients: the output ``y``, the final state ``z`` and
    a :class:`~sklearn_implicit.solvers.SolverInfo`; ``callback(k, y_k)``
    sees the *read-out* iterate after every step.

and the hooks :meth:`ImplicitModule.encode`, :meth:`ImplicitModule.init_state`
and :meth:`ImplicitModule.read` that the diagnostics (regularity report,
Lipschitz curves) use. ``u`` can be any object the operator understands (a
tensor, or a named tuple of tensors for graphs and sequences); the state
``z`` is a tensor whose first dimension is the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from ._equilibrium import TrainingOutput, jacobian_penalty, random_depth, spaced_depths
from .solvers import SolverInfo

__all__ = ["FixedDepthModule", "ImplicitModule"]


class ImplicitModule(nn.Module):
    """``y = read(z*, u)`` with ``z* = G(z*, u)`` and ``u = encoder(x)``.

    Parameters
    ----------
    operator : torch.nn.Module
        ``G`` with ``forward(z, u)``; its ``init_state(u)`` method, when it
        has one, gives the starting state.
    encoder : torch.nn.Module, optional
        ``Q_phi``: ``u = encoder(x)``; identity when None.
    decoder : torch.nn.Module, optional
        ``Q_psi``; identity when None. Called as ``decoder(z)``, or as
        ``decoder(z, u)`` when its ``reads_input`` attribute is True (a
        read-out that needs the encoded input, e.g. the variable embeddings of
        a linear program or the padding mask of a sequence).
    state_shape : tuple of int, optional
        Shape of one sample's state when the operator has no ``init_state``;
        the starting state is then zero.
    solver : callable
        Forward solver with the common signature (see
        :mod:`sklearn_implicit.solvers`).
    backward : callable
        A backward mode (see :mod:`sklearn_implicit.backward`).
    n_iter : int
        Training budget of operator applications.
    tol : float
        Training tolerance.
    train_states : int, default=1
        States of the training trajectory the loss averages over (see
        :mod:`sklearn_implicit._equilibrium`).
    train_depth : {"fixed", "random"}, default="fixed"
        Training depth: ``n_iter``, or drawn per mini-batch with mean ``n_iter``.
    jacobian_penalty : float, default=0.0
        Weight of the Jacobian penalty at the training state.
    """

    def __init__(
        self,
        operator,
        encoder=None,
        decoder=None,
        *,
        state_shape=None,
        solver,
        backward,
        n_iter,
        tol,
        train_states=1,
        train_depth="fixed",
        jacobian_penalty=0.0,
    ):
        super().__init__()
        self.operator = operator
        self.encoder = encoder if encoder is not None else nn.Identity()
        self.decoder = decoder if decoder is not None else nn.Identity()
        self.state_shape = None if state_shape is None else tuple(state_shape)
        self.solver = solver
        self.backward = backward
        self.n_iter = int(n_iter)
        self.tol = float(tol)
        self.train_states = int(train_states)
        self.train_depth = train_depth
        self.jacobian_penalty = float(jacobian_penalty)

    # ------------------------------------------------------------------ hooks
    def encode(self, x):
        """The injected input ``u = Q_phi(x)``."""
        return self.encoder(x)

    def init_state(self, u):
        """Starting state ``z_0`` for injected inputs ``u`` (zeros by default)."""
        first = self._first_operator()
        if hasattr(first, "init_state"):
            return first.init_state(u)
        if self.state_shape is None or not isinstance(u, torch.Tensor):
            raise ValueError(
                "The starting state is unknown: give the module a state_shape or the "
                "operator an init_state(u) method."
            )
        return u.new_zeros((u.shape[0],) + self.state_shape)

    def read(self, z, u):
        """The output ``y = Q_psi(z)`` (or ``Q_psi(z, u)``, see ``decoder``)."""
        if getattr(self.decoder, "reads_input", False):
            return self.decoder(z, u)
        return self.decoder(z)

    def step(self, z, u):
        """One application of the operator, ``G(z, u)``."""
        return self.operator(z, u)

    def _first_operator(self):
        return self.operator

    # ------------------------------------------------------------------ calls
    def forward(self, x):
        """Training forward pass: solve, with the backward mode's gradient.

        With an equilibrium recipe active (``train_states > 1``,
        ``train_depth="random"`` or ``jacobian_penalty > 0``) and gradients
        enabled, returns a :class:`~sklearn_implicit._equilibrium.TrainingOutput`
        that the estimator's skorch net turns into the loss.
        """
        u = self.encode(x)

        def f(z):
            return self.step(z, u)

        z0 = self.init_state(u)
        recipes = self.train_states > 1 or self.train_depth == "random" or self.jacobian_penalty > 0
        if not (recipes and torch.is_grad_enabled()):
            z = self.backward(f, z0, solver=self.solver, max_iter=self.n_iter, tol=self.tol)
            return self.read(z, u)
        depth = self.n_iter if self.train_depth == "fixed" else random_depth(self.n_iter)
        if self.train_states > 1:
            states = self.backward.trajectory(
                f,
                z0,
                solver=self.solver,
                max_iter=depth,
                tol=self.tol,
                depths=spaced_depths(depth, self.train_states),
            )
        else:
            states = [self.backward(f, z0, solver=self.solver, max_iter=depth, tol=self.tol)]
        penalty = None
        if self.jacobian_penalty > 0:
            penalty = self.jacobian_penalty * jacobian_penalty(f, states[-1])
        return TrainingOutput([self.read(z, u) for z in states], penalty)

    @torch.no_grad()
    def solve(self, x, *, max_iter, tol, track=False, callback=None):
        """Solve without gradients; return ``(y, z, info)``.

        ``callback(k, y_k)`` receives the *read-out* iterate after every step
        when given.
        """
        u = self.encode(x)
        cb = None
        if callback is not None:

            def cb(k, z):
                callback(k, self.read(z, u))

        z, info = self.solver(
            lambda z: self.step(z, u),
            self.init_state(u),
            max_iter=max_iter,
            tol=tol,
            track=track,
            callback=cb,
        )
        return self.read(z, u), z, info


class FixedDepthModule(ImplicitModule):
    """The explicit counterpart: ``layers`` applied once each, untied, then ``read``.

    ``z_0 = init_state(u)``, ``z_l = layers[l](z_{l-1}, u)``, ``y = read(z_L, u)``.
    Each layer has the operator's signature; the answer does not depend on a
    budget, so :meth:`solve` returns it for every ``max_iter`` (and reports it
    to the callback at every step ``k = 1..max_iter``, so that budget curves
    of an explicit model are flat). Training differentiates through the
    layers directly.

    Parameters
    ----------
    layers : sequence of torch.nn.Module
        The untied layers, each with ``forward(z, u)``; the first one's
        ``init_state(u)``, when it has one, gives the starting state.
    encoder, decoder, state_shape
        As in :class:`ImplicitModule`.
    """

    def __init__(self, layers, encoder=None, decoder=None, *, state_shape=None):
        nn.Module.__init__(self)
        self.layers = nn.ModuleList(layers)
        if len(self.layers) == 0:
            raise ValueError("A fixed-depth module needs at least one layer.")
        self.encoder = encoder if encoder is not None else nn.Identity()
        self.decoder = decoder if decoder is not None else nn.Identity()
        self.state_shape = None if state_shape is None else tuple(state_shape)
        self.n_iter = len(self.layers)
        self.tol = 0.0

    def _first_operator(self):
        return self.layers[0]

    def step(self, z, u):  # pragma: no cover - an explicit model has no single step
        raise TypeError("A fixed-depth module has no single operator to iterate.")

    def _depth(self, x):
        u = self.encode(x)
        z = self.init_state(u)
        for layer in self.layers:
            z = layer(z, u)
        return z, u

    def forward(self, x):
        """Training forward pass through every layer."""
        z, u = self._depth(x)
        return self.read(z, u)

    @torch.no_grad()
    def solve(self, x, *, max_iter, tol, track=False, callback=None):
        """One pass through the layers, for any budget; return ``(y, z, info)``."""
        z, u = self._depth(x)
        y = self.read(z, u)
        if callback is not None:
            for k in range(1, int(max_iter) + 1):
                callback(k, y)
        info = SolverInfo.fixed_depth(
            z.shape[0], len(self.layers), max_iter=max_iter, tol=tol, solver="explicit"
        )
        return y, z, info
