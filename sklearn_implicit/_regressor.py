"""``ImplicitRegressor``: a learned operator G (and encoder/decoder) for tabular data."""

from __future__ import annotations

from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import StrOptions

from ._params import doc_fragments
from ._tabular import BaseTabularImplicit, build_component
from ._training import LOSSES

__all__ = ["ImplicitRegressor", "build_component"]


class ImplicitRegressor(RegressorMixin, BaseTabularImplicit):
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
        **BaseTabularImplicit._parameter_constraints,
        "loss": [StrOptions(set(LOSSES)), type],
    }

    _supports_sample_weight = True

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
        self.loss = loss
        super().__init__(
            operator,
            encoder=encoder,
            decoder=decoder,
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
