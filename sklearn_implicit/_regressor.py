"""``ImplicitRegressor``: a learned operator G (and encoder/decoder) for tabular data."""

from __future__ import annotations

import copy
import inspect
import math

import torch
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import StrOptions
from torch import nn

from ._base import BaseImplicitEstimator
from ._params import doc_fragments
from ._training import LOSSES
from .operators import OPERATORS
from .utils import check_options

__all__ = ["ImplicitRegressor", "build_component"]

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


class ImplicitRegressor(RegressorMixin, BaseImplicitEstimator):
    """Implicit (deep-equilibrium) regressor: predict with the fixed point of a learned G.

    The model is ``y = Q_psi(z*)`` with ``z* = G(z*, Q_phi(x))``. Training
    solves for ``z*`` and differentiates through the solve with the chosen
    backward mode; prediction iterates ``z_t = G(z_{{t-1}}, Q_phi(x))`` from
    ``z_0 = 0``, so the budget ``t`` is a knob of :meth:`predict`.

    Parameters
    ----------
    operator : str, torch.nn.Module class or instance, or callable, default="mlp"
        The operator G with ``forward(z, u)``. A registry name
        (:data:`sklearn_implicit.operators.OPERATORS`), a module instance
        (deep-copied at fit) or a class/factory called with the
        ``operator__*`` parameters plus, when its signature accepts them,
        ``in_features`` (size of the encoded input) and ``n_outputs``. The
        state shape is the operator's ``state_shape`` attribute, else the
        shape returned by its ``init_state(u)``, else ``(n_outputs,)``.
    encoder : None, "linear", module or class, default=None
        ``Q_phi``; identity when None. Classes get ``in_features`` and
        ``out_features`` (default: n_features) when they accept them.
    decoder : None, "linear", module or class, default=None
        ``Q_psi``; when None it is the identity if the state has shape
        ``(n_outputs,)`` and a linear read-out otherwise.
    loss : {{"squared_error", "absolute_error", "huber"}} or torch loss class, default="squared_error"
        Training loss; a class is instantiated with no argument (and with
        ``reduction="none"`` when ``sample_weight`` is given).
    {budget}
    {solver}
    {training}
    {controls}
    {runtime}
    compile : bool, default=False
        Compile the module with ``torch.compile`` for training (skorch's
        ``compile``; needs a C++ compiler on the CPU).
    {equilibrium}
    **kwargs
        Routed parameters ``operator__*``, ``encoder__*`` (only with an
        encoder), ``decoder__*`` (only with a decoder), ``optimizer__*``,
        ``solver__*`` and ``backward__*``; ``fit`` refuses anything else, and
        routed parameters that this configuration does not use.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained skorch net; ``net_.module_`` is the :class:`ImplicitModule`.
    n_features_in_ : int
        Number of features seen in fit.
    n_outputs_ : int
        Number of targets.
    device_ : str
        Device the model lives on.
    loss_curve_ : list of float
        Training loss per epoch (accumulated over ``warm_start`` fits and
        ``partial_fit`` calls).
    n_epochs_ : int
        Epochs trained.
    validation_scores_ : list of float or None
        The held-out score after every epoch (``early_stopping=True``).
    best_validation_score_ : float or None
        Their maximum; the model holds the weights of that epoch.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : An explicit network.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit import ImplicitRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(200, 1))
    >>> y = np.sin(2 * X[:, 0])
    >>> est = ImplicitRegressor(max_epochs=60, random_state=0).fit(X, y)
    >>> est.score(X, y) > 0.9
    True
    >>> est.predict(X[:3], n_iter=5).shape
    (3,)
    >>> y_hat, info = est.solve(X[:3])
    >>> info.status
    'converged'
    """

    _parameter_constraints: dict = {
        **BaseImplicitEstimator._parameter_constraints,
        "operator": [str, type, callable, nn.Module],
        "encoder": [None, str, type, callable, nn.Module],
        "decoder": [None, str, type, callable, nn.Module],
        "loss": [StrOptions(set(LOSSES)), type],
    }

    _supports_sample_weight = True

    _routing_prefixes = ("operator", "encoder", "decoder", *BaseImplicitEstimator._routing_prefixes)

    def __init__(
        self,
        operator="mlp",
        *,
        encoder=None,
        decoder=None,
        loss="squared_error",
        n_iter=30,
        tol=1e-4,
        solver="picard",
        backward="implicit",
        max_epochs=200,
        lr=1e-2,
        batch_size=128,
        optimizer="adam",
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        warm_start=False,
        compile=False,
        jacobian_penalty=0.0,
        train_states=1,
        train_depth="fixed",
        **kwargs,
    ):
        self.operator = operator
        self.encoder = encoder
        self.decoder = decoder
        self.loss = loss
        super().__init__(
            n_iter=n_iter,
            tol=tol,
            solver=solver,
            backward=backward,
            max_epochs=max_epochs,
            lr=lr,
            batch_size=batch_size,
            optimizer=optimizer,
            device=device,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            warm_start=warm_start,
            compile=compile,
            jacobian_penalty=jacobian_penalty,
            train_states=train_states,
            train_depth=train_depth,
            **kwargs,
        )

    def _criterion(self):
        return LOSSES.get(self.loss, self.loss) if isinstance(self.loss, str) else self.loss

    def _build_module(self, X, y, routed):
        """Encoder (optional) -> operator -> decoder (when the state is not the output)."""
        n_outputs = y.shape[1]
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


ImplicitRegressor.__doc__ = ImplicitRegressor.__doc__.format(
    equilibrium=doc_fragments["equilibrium"],
    budget=doc_fragments["budget"].format(n_iter=30, tol=1e-4),
    solver=doc_fragments["solver"].format(solver="picard", backward="implicit"),
    training=doc_fragments["training"].format(
        max_epochs=200, lr=1e-2, batch_size=128, optimizer="adam"
    ),
    controls=doc_fragments["controls"],
    runtime=doc_fragments["runtime"],
)
