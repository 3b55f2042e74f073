"""The tabular estimators' shared model: encoder -> operator G -> decoder.

:class:`~sklearn_implicit.ImplicitRegressor` and
:class:`~sklearn_implicit.ImplicitClassifier` differ only in what the
decoder's outputs mean (targets, or class logits) and in the loss; the parts,
their specifications (``operator``, ``encoder``, ``decoder``) and how they are
built from the data live here.
"""

from __future__ import annotations

import copy
import inspect
import math

import torch
from torch import nn

from ._base import BaseImplicitEstimator
from .operators import OPERATORS
from .utils import check_options

__all__ = ["BaseTabularImplicit", "build_component"]

_ENCODERS = {"linear": nn.Linear}
_DECODERS = {"linear": nn.Linear}


def _accepts(callable_, name):
    try:
        params = inspect.signature(callable_).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def build_component(spec, kind, registry, defaults, options):
    """Instantiate an operator/encoder/decoder from its specification.

    ``spec`` is a registry name, an ``nn.Module`` instance (deep-copied, so the
    estimator's parameter is never trained in place), or a class/factory,
    called with ``options`` plus every entry of ``defaults`` (the sizes
    inferred from the data) that its signature accepts and ``options`` does
    not set.
    """
    if isinstance(spec, nn.Module):
        if options:
            raise ValueError(
                f"{kind}__ parameters {sorted(options)} cannot be applied to an already "
                f"built {kind} instance; pass the {kind} class instead."
            )
        return copy.deepcopy(spec)
    if isinstance(spec, str):
        if spec not in registry:
            raise ValueError(f"Unknown {kind} {spec!r}; expected one of {sorted(registry)}.")
        factory = registry[spec]
    elif callable(spec):
        factory = spec
    else:
        raise ValueError(
            f"{kind} must be a registry name, a torch.nn.Module, or a class/callable; "
            f"got {type(spec).__name__}."
        )
    check_options(factory, options, f"the {kind} {getattr(factory, '__name__', factory)!r}")
    kwargs = {k: v for k, v in defaults.items() if _accepts(factory, k)}
    kwargs.update(options)
    obj = factory(**kwargs)
    if not isinstance(obj, nn.Module):
        raise ValueError(
            f"The {kind} factory must return a torch.nn.Module, got {type(obj).__name__}."
        )
    return obj


class BaseTabularImplicit(BaseImplicitEstimator):
    """Base of the tabular estimators: ``operator``, ``encoder`` and ``decoder`` (not for direct use).

    The model is ``out = Q_psi(z*)`` with ``z* = G(z*, Q_phi(x))``, where
    ``out`` has ``_n_module_outputs(y)`` entries per sample. Subclasses add
    their loss and read-out and may override, beside the base's hooks:

    ``_n_module_outputs(y)``
        Number of module outputs for the 2-D training targets ``y`` (the
        targets' width by default; the number of classes for a classifier).
    """

    _parameter_constraints: dict = {
        **BaseImplicitEstimator._parameter_constraints,
        "operator": [str, type, callable, nn.Module],
        "encoder": [None, str, type, callable, nn.Module],
        "decoder": [None, str, type, callable, nn.Module],
    }

    _routing_prefixes = ("operator", "encoder", "decoder", *BaseImplicitEstimator._routing_prefixes)

    def __init__(self, operator="mlp", *, encoder=None, decoder=None, compile=False, **kwargs):
        self.operator = operator
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(compile=compile, **kwargs)

    def _n_module_outputs(self, y):
        """Number of outputs of the module for the 2-D training targets ``y``."""
        return y.shape[1]

    def _build_module(self, X, y, routed):
        """Encoder (optional) -> operator -> decoder (when the state is not the output)."""
        n_outputs = self._n_module_outputs(y)
        x0 = self._to_tensor(self._slice(X, 0, 1), "cpu")
        encoder = None
        if self.encoder is not None:
            encoder = build_component(
                self.encoder,
                "encoder",
                _ENCODERS,
                {"in_features": x0.shape[-1], "out_features": x0.shape[-1]},
                routed("encoder"),
            )
        with torch.no_grad():
            u0 = encoder(x0) if encoder is not None else x0
        operator = build_component(
            self.operator,
            "operator",
            OPERATORS,
            {"in_features": u0.shape[-1], "n_outputs": n_outputs},
            routed("operator"),
        )
        with torch.no_grad():
            if hasattr(operator, "state_shape"):
                state_shape = tuple(operator.state_shape)
                z0 = u0.new_zeros((1,) + state_shape)
            elif hasattr(operator, "init_state"):
                z0 = operator.init_state(u0)
                state_shape = tuple(z0.shape[1:])
            else:
                state_shape = (n_outputs,)
                z0 = u0.new_zeros((1,) + state_shape)
            out = operator(z0, u0)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(z0.shape):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"The operator must return a state of the shape it is given: G(z, x) got a "
                f"state of shape {tuple(z0.shape)} and returned {got}. Set its state_shape "
                "or init_state(u) to the shape it works on."
            )
        decoder = None
        if self.decoder is not None or state_shape != (n_outputs,):
            spec = "linear" if self.decoder is None else self.decoder
            decoder = build_component(
                spec,
                "decoder",
                _DECODERS,
                {"in_features": math.prod(state_shape), "out_features": n_outputs},
                routed("decoder"),
            )
            if len(state_shape) > 1 and isinstance(decoder, nn.Linear):
                decoder = nn.Sequential(nn.Flatten(), decoder)
        return self._assemble(operator, encoder, decoder, routed, state_shape=state_shape)
