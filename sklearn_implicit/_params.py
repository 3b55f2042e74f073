"""Routed parameters (``operator__width=64``) and the shared parameter docs.

Estimators take, beside their own parameters, keyword parameters routed to a
sub-object by a prefix, as skorch does: ``operator__width=64`` reaches the
operator's constructor, ``solver__m=6`` the solver, ``optimizer__weight_decay``
the optimizer. Each estimator declares the prefixes it understands
(``_routing_prefixes``); a fit then records which prefixes it actually read
(:class:`Routed`) and refuses, naming them, the routed parameters nothing
used, so a typo or a parameter for a part the estimator does not have never
passes silently.
"""

from __future__ import annotations

__all__ = ["Routed", "RoutedParamsMixin", "doc_fragments"]


class Routed:
    """The routed parameters of one fit, with a record of the prefixes read.

    Parameters
    ----------
    params : dict
        ``{"operator__width": 64, ...}``.
    owner : str
        Name of the estimator, for messages.
    """

    def __init__(self, params, owner):
        self.params = dict(params)
        self.owner = owner
        self.used = set()

    def __call__(self, prefix):
        """The options under ``prefix`` (``{"width": 64}``), marked as used."""
        self.used.add(prefix)
        start = prefix + "__"
        return {k[len(start) :]: v for k, v in self.params.items() if k.startswith(start)}

    def check_all_used(self):
        """Raise ``ValueError`` naming every routed parameter that nothing read."""
        unused = sorted(k for k in self.params if k.partition("__")[0] not in self.used)
        if unused:
            raise ValueError(
                f"{self.owner} does not use the parameter(s) {unused}: this configuration "
                f"has no part they could be routed to (it reads "
                f"{', '.join(sorted(p + '__' for p in self.used)) or 'no routed parameters'})."
            )


class RoutedParamsMixin:
    """``get_params``/``set_params`` that also carry the routed ``prefix__key`` parameters.

    Subclasses list the prefixes they understand in ``_routing_prefixes``.
    Keyword parameters are stored as plain attributes (so ``clone`` and
    ``GridSearchCV`` see them); ``__init__`` never raises (scikit-learn's
    rule), and ``fit`` refuses every keyword that is not a routed parameter
    (:meth:`_check_unknown`). ``set_params`` refuses them at once.
    """

    _routing_prefixes: tuple = ()

    @classmethod
    def _is_routed(cls, name):
        head, sep, tail = name.partition("__")
        return bool(sep) and bool(tail) and head in cls._routing_prefixes

    def _unknown_message(self, keys):
        allowed = ", ".join(p + "__" for p in self._routing_prefixes) or "none"
        return (
            f"{type(self).__name__} got unknown parameter(s) {sorted(keys)}; routed "
            f"parameters must start with one of: {allowed}."
        )

    def _set_routed(self, params, error=None):
        """Store keyword parameters; with ``error``, refuse non-routed ones at once."""
        unknown = [k for k in params if not self._is_routed(k)]
        if unknown and error is not None:
            raise error(self._unknown_message(unknown))
        for key, value in params.items():
            setattr(self, key, value)

    def _extra_names(self):
        """Keyword parameters beyond the signature (routed ones, or unknown ones to refuse)."""
        named = set(self._get_param_names())
        return [
            k
            for k in vars(self)
            if k not in named and not k.startswith("_") and not k.endswith("_")
        ]

    def _check_unknown(self):
        unknown = [k for k in self._extra_names() if not self._is_routed(k)]
        if unknown:
            raise ValueError(self._unknown_message(unknown))

    def _routed_params(self):
        return {k: getattr(self, k) for k in self._extra_names() if self._is_routed(k)}

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._extra_names()})
        return params

    def set_params(self, **params):
        routed = {k: v for k, v in params.items() if self._is_routed(k)}
        self._set_routed(routed, error=ValueError)
        rest = {k: v for k, v in params.items() if k not in routed}
        if rest:
            super().set_params(**rest)
        return self


#: Parameter docs shared by every estimator, formatted into each docstring.
doc_fragments = {
    "budget": """n_iter : int, default={n_iter}
        Budget of operator applications in training and the default
        prediction budget; ``predict(X, n_iter=t)`` overrides it.
    tol : float, default={tol}
        Per-sample relative residual ``||G(z) - z|| / (||G(z)|| + 1e-6)`` at
        which the solve stops; 0 always runs ``n_iter`` steps.""",
    "solver": """solver : str or callable, default="{solver}"
        Forward solver: ``"picard"``, ``"anderson"``, any name registered with
        :func:`~sklearn_implicit.solvers.register_solver` (checked at fit), or
        a callable with the common solver signature; options via
        ``solver__*`` (e.g. ``solver__m=6``, ``solver__damping=0.5``).
    backward : str, BackwardMode class or instance, or callable, default="{backward}"
        Gradient through the solve: ``"implicit"``, ``"jacobian_free"``,
        ``"phantom"``, ``"unroll"`` or ``"random_depth"`` (see
        :mod:`sklearn_implicit.backward`); options via ``backward__*``.""",
    "training": """max_epochs : int, default={max_epochs}
        Training epochs.
    lr : float, default={lr}
        Learning rate.
    batch_size : int, default={batch_size}
        Mini-batch size.
    optimizer : {{"adam", "adamw", "sgd", "rmsprop"}} or torch optimizer class, default="{optimizer}"
        Options via ``optimizer__*`` (e.g. ``optimizer__weight_decay=1e-4``).""",
    "controls": """callbacks : list or None, default=None
        skorch callbacks, or ``(name, callback)`` pairs, added to training
        (beside the progress bar); their parameters are routed as
        ``callbacks__<name>__<param>``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, score it with the
        estimator's own ``score`` after every epoch, stop once the score has
        not improved by more than 1e-4 for ``n_iter_no_change`` epochs, and
        restore the best weights.
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    warm_start : bool, default=False
        Continue training the fitted model on the next ``fit``: the weights
        and the optimizer state stay; the current ``n_iter``, ``tol``,
        ``lr``, ``batch_size``, ``solver``, ``backward`` and training recipes
        apply.""",
    "equilibrium": """jacobian_penalty : float, default=0.0
        Weight of a Hutchinson estimate of ``||dG/dz||_F^2 / dim`` at the
        training state, added to the loss (Bai, Koltun, Kolter 2021): keeps
        ``G`` contractive around its equilibria, so that more iterations
        than the training budget keep the answer where it is.
    train_states : int, default=1
        The loss averages over this many states of the training trajectory,
        evenly spaced and ending at the last one (deep supervision, the
        fixed-point correction of Bai et al. 2022); 1 is the last state only.
    train_depth : {"fixed", "random"}, default="fixed"
        Training depth: ``n_iter`` for every mini-batch, or (``"random"``)
        drawn per mini-batch from a Poisson log-normal with mean ``n_iter``
        (Huginn), so that the model does not specialise to one budget.
        See :doc:`/user_guide` (equilibrium training).""",
    "runtime": """device : str, default="auto"
        Torch device; ``"auto"`` uses CUDA when present.
    random_state : int, RandomState instance or None, default=None
        Seed of initialisation and shuffling; an int makes ``fit``
        reproducible.
    verbose : int, default=0
        Show a progress bar over epochs when positive.""",
}
