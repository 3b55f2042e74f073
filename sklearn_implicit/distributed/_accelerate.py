"""Data-parallel training of implicit estimators through Hugging Face Accelerate."""

from __future__ import annotations

import torch
from sklearn.utils._param_validation import HasMethods
from skorch import NeuralNetRegressor
from skorch.hf import AccelerateMixin

from .._equilibrium import EquilibriumLossMixin
from .._regressor import ImplicitRegressor
from .._skorch import CloudpickleStateMixin

__all__ = ["AcceleratedImplicitRegressor", "AcceleratedNeuralNetRegressor"]


class AcceleratedNeuralNetRegressor(
    EquilibriumLossMixin, CloudpickleStateMixin, AccelerateMixin, NeuralNetRegressor
):
    """skorch's regressor with Accelerate's device placement, DDP wrapping and sharding.

    Unlike skorch's mixin, a criterion without trainable parameters (such as
    ``MSELoss``) is only moved to the accelerator's device, not wrapped: DDP
    refuses modules that have nothing to synchronise.
    """

    def _initialize_accelerator(self):
        if self._wrapped_with_accelerator:
            return self
        criteria = {}
        for name in self._criteria:
            criterion = getattr(self, name + "_")
            if isinstance(criterion, torch.nn.Module) and not any(
                p.requires_grad for p in criterion.parameters()
            ):
                criteria[name] = criterion.to(self.accelerator.device)
                # Hide it from the mixin, which would wrap it in DDP.
                setattr(self, name + "_", None)
        try:
            super()._initialize_accelerator()
        finally:
            for name, criterion in criteria.items():
                setattr(self, name + "_", criterion)
        return self


class AcceleratedImplicitRegressor(ImplicitRegressor):
    """:class:`~sklearn_implicit.ImplicitRegressor` trained data-parallel with Accelerate.

    Run the same script on every process (``accelerate launch script.py`` or
    ``torchrun --nproc_per_node N script.py``). The module is wrapped in
    ``DistributedDataParallel``; every process trains on its shard of each
    mini-batch and gradients are averaged, so ``batch_size`` is the batch *per
    process* and the effective batch is ``batch_size * num_processes``. All
    backward modes work under DDP: the implicit mode's adjoint solve only
    differentiates with respect to the state, so the parameter gradients are
    reduced once, as usual. After training the module is unwrapped and the
    estimator predicts, scores and pickles like the plain one (on the process
    that holds it; every process holds the same weights).

    Parameters
    ----------
    operator, encoder, decoder, n_iter, tol, solver, backward, max_epochs, lr, batch_size, optimizer, random_state, verbose, compile, **kwargs
        As in :class:`~sklearn_implicit.ImplicitRegressor`.
    accelerator : accelerate.Accelerator or None, default=None
        The accelerator; None builds one at fit, which reads the launch
        environment (number of processes, backend, device): on GPUs with NCCL,
        and on the CPU with gloo when ``device="cpu"`` or no GPU is present.
    shuffle : bool, default=True
        Shuffle the training data each epoch (the shuffling is identical on
        every process and sharded by Accelerate).
    device : str, default="auto"
        ``"cpu"`` forces CPU processes; otherwise the accelerator places the
        module on its device (recorded in ``device_``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.distributed import AcceleratedImplicitRegressor
    >>> X = np.linspace(-1, 1, 64)[:, None]
    >>> est = AcceleratedImplicitRegressor(max_epochs=2, random_state=0).fit(X, X[:, 0] ** 2)
    >>> est.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **ImplicitRegressor._parameter_constraints,
        "accelerator": [None, HasMethods(["prepare", "backward", "gather_for_metrics"])],
        "shuffle": ["boolean"],
    }

    def __init__(
        self,
        operator="mlp",
        *,
        accelerator=None,
        shuffle=True,
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
            loss=loss,
            compile=compile,
            jacobian_penalty=jacobian_penalty,
            train_states=train_states,
            train_depth=train_depth,
            **kwargs,
        )
        self.accelerator = accelerator
        self.shuffle = shuffle

    def _accelerator(self):
        if self.accelerator is not None:
            return self.accelerator
        try:
            from accelerate import Accelerator
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "AcceleratedImplicitRegressor needs accelerate: "
                "pip install 'sklearn-implicit[distributed]'."
            ) from exc
        # Without an accelerator device Accelerate only detects multi-process
        # launches (gloo) when told to run on the CPU.
        cpu = str(self.device) == "cpu" or not torch.cuda.is_available()
        return Accelerator(cpu=cpu)

    def _net_class(self):
        return AcceleratedNeuralNetRegressor

    def _net_kwargs(self):
        accelerator = self._accelerator()
        return {
            "accelerator": accelerator,
            # The accelerator places the module; skorch must not.
            "device": None,
            # A real DataLoader, so Accelerate can shard it across processes.
            "iterator_train": torch.utils.data.DataLoader,
            "iterator_train__shuffle": self.shuffle,
            # skorch prints through a custom sink even at verbose=0; plain print obeys verbose.
            "callbacks__print_log__sink": print,
        }

    def fit(self, X, y):
        """Train data-parallel on every launched process; see :meth:`ImplicitRegressor.fit`."""
        super().fit(X, y)
        self.device_ = str(self.net_.accelerator.device)
        # Accelerate keeps a reference to every prepared object; the fitted
        # estimator must not hold the accelerator (it is not picklable).
        self.net_.accelerator = None
        return self
