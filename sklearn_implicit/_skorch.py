"""The skorch glue: net classes, the mini-batch loader, the progress callback."""

from __future__ import annotations

import math

import numpy as np
import torch
from skorch import NeuralNet, NeuralNetRegressor

from ._equilibrium import EquilibriumLossMixin

__all__ = [
    "ArrayBatchLoader",
    "CloudpickleStateMixin",
    "EpochProgress",
    "ImplicitNet",
    "ImplicitNetRegressor",
]


class CloudpickleStateMixin:
    """Mixin for skorch nets: pickle the device-dependent attributes with cloudpickle.

    skorch pickles the module, criterion and optimizer with the standard
    ``pickle``, which stores classes by reference and so fails for operators
    defined interactively (in ``__main__`` of a Dask client, in a notebook, or
    inside a function). cloudpickle (a declared dependency) stores such classes by value and writes a
    stream the standard unpickler reads, so skorch's loading code (and its
    CPU mapping of CUDA tensors) is unchanged.
    """

    def __getstate__(self):
        import tempfile

        import cloudpickle

        state = self.__dict__.copy()
        cuda_attrs = {}
        for prefix in self.cuda_dependent_attributes_:
            for key in state:
                if isinstance(key, str) and key.startswith(prefix):
                    cuda_attrs[key] = state[key]
        # The constructor arguments (the module instance or class, the loss) may
        # be defined in a function too: they travel with the fitted objects,
        # which also keeps ``module`` and ``module_`` one object after loading.
        for key in ("module", "criterion"):
            if key in state:
                cuda_attrs[key] = state[key]
        for key in cuda_attrs:
            state.pop(key)
        with tempfile.SpooledTemporaryFile() as f:
            cloudpickle.dump(cuda_attrs, f)
            f.seek(0)
            state["__cuda_dependent_attributes__"] = f.read()
        return state


class _OptionalOptimizerMixin:
    """A net whose module may have no trainable parameter (e.g. a fixed analytic G).

    torch optimizers refuse an empty parameter list; such a module needs no
    optimizer, and is only valid with ``max_epochs=0`` (the estimator checks).
    """

    def initialize_optimizer(self, *args, **kwargs):
        if not any(p.requires_grad for p in self.module_.parameters()):
            self.optimizer_ = None
            return self
        return super().initialize_optimizer(*args, **kwargs)


class ImplicitNetRegressor(
    EquilibriumLossMixin, _OptionalOptimizerMixin, CloudpickleStateMixin, NeuralNetRegressor
):
    """The skorch regressor behind implicit estimators (cloudpickle-friendly state)."""


class ImplicitNet(EquilibriumLossMixin, _OptionalOptimizerMixin, CloudpickleStateMixin, NeuralNet):
    """A plain skorch net for estimators with their own loss (cloudpickle-friendly state)."""


class ArrayBatchLoader:
    """Mini-batches by slicing whole arrays, for skorch's ``iterator_train``.

    skorch's default ``DataLoader`` indexes and collates one sample at a time,
    which costs more than the solve itself for small tabular models. When the
    dataset holds plain arrays this loader slices shuffled index blocks
    instead (same batches, same ``torch`` RNG); anything else falls back to
    :class:`torch.utils.data.DataLoader`.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, **kwargs):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.kwargs = kwargs
        X = getattr(dataset, "X", None)
        y = getattr(dataset, "y", None)
        self.fast = isinstance(X, np.ndarray) and isinstance(y, np.ndarray) and not kwargs

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        if not self.fast:
            loader = torch.utils.data.DataLoader(
                self.dataset, batch_size=self.batch_size, shuffle=self.shuffle, **self.kwargs
            )
            yield from loader
            return
        # torch cannot wrap read-only arrays (e.g. joblib memmaps) without a
        # warning; those are copied once, writable arrays are shared.
        X = torch.from_numpy(np.require(self.dataset.X, requirements="W"))
        y = torch.from_numpy(np.require(self.dataset.y, requirements="W"))
        n = X.shape[0]
        order = torch.randperm(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                yield X[start : start + self.batch_size], y[start : start + self.batch_size]
            else:
                idx = order[start : start + self.batch_size]
                yield X[idx], y[idx]


class EpochProgress:
    """A tqdm progress bar over epochs, showing the training loss (skorch callback)."""

    def __init__(self, total):
        self.total = total

    def initialize(self):
        return self

    def get_params(self, deep=True):  # skorch inspects callbacks like estimators
        return {"total": self.total}

    def set_params(self, **params):
        self.total = params.get("total", self.total)
        return self

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=self.total, desc="fit", unit="epoch", leave=False)

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "train_loss"]
        self._bar.set_postfix(loss=f"{loss:.4g}")
        self._bar.update(1)

    def on_train_end(self, net, **kwargs):
        self._bar.close()

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)
