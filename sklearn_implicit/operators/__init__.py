"""Built-in operators G(z, x) and their registry.

An operator is a :class:`torch.nn.Module` with ``forward(z, x)`` returning a
tensor shaped like ``z``. Optional attribute ``state_shape`` (the shape of one
sample's state) or method ``init_state(x)`` (the batch's starting state);
without either the state has the shape of the target, ``(n_outputs,)``.
"""

from __future__ import annotations

from ._mlp import MLPOperator

__all__ = ["MLPOperator", "OPERATORS", "register_operator"]

OPERATORS = {"mlp": MLPOperator}


def register_operator(name, operator_cls):
    """Register an operator class so estimators accept ``operator=name``.

    Parameters
    ----------
    name : str
        Registry key.
    operator_cls : type
        A :class:`torch.nn.Module` subclass with ``forward(z, x)``.
    """
    OPERATORS[name] = operator_cls
