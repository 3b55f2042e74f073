"""Implicit estimators: scikit-learn API over a skorch-trained implicit module."""

from __future__ import annotations

import copy
import functools
import inspect
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetRegressor
from torch import nn

from ._module import ImplicitModule
from .backward import BACKWARD_MODES, BackwardMode, get_backward
from .lipschitz import LipschitzCurve, RatioCollector, reduce_ratios
from .operators import OPERATORS
from .solvers import SOLVERS, SolverInfo, get_solver

__all__ = ["BaseImplicitEstimator", "ImplicitRegressor"]

#: Prefixes of the routed keyword parameters (``operator__width=64``, ...).
PREFIXES = ("operator", "encoder", "decoder", "optimizer", "solver", "backward")

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
_ENCODERS = {"linear": nn.Linear}
_DECODERS = {"linear": nn.Linear}


def resolve_device(device):
    """Map ``"auto"`` to ``"cuda"`` when a CUDA device is present, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


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
    kwargs = {k: v for k, v in defaults.items() if _accepts(factory, k)}
    kwargs.update(options)
    try:
        obj = factory(**kwargs)
    except TypeError as exc:
        raise ValueError(
            f"Could not build the {kind} {getattr(factory, '__name__', factory)!r} "
            f"with arguments {sorted(kwargs)}: {exc}"
        ) from None
    if not isinstance(obj, nn.Module):
        raise ValueError(
            f"The {kind} factory must return a torch.nn.Module, got {type(obj).__name__}."
        )
    return obj


def _module_device(module, fallback):
    """Where the module's parameters live (skorch's ``device`` may be None under Accelerate)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device(fallback if fallback is not None else "cpu")


def _pad_rows(x, multiple=8):
    """Pad a batch tensor to a multiple of ``multiple`` rows by repeating its last row.

    Matrix kernels pick different code paths (and so round differently) for
    small or ragged batches; padding makes a sample's prediction bitwise
    independent of the batch it is predicted in (sklearn's subset-invariance
    check). Non-tensor inputs are returned unchanged.
    """
    if not isinstance(x, torch.Tensor) or x.dim() == 0:
        return x
    n = x.shape[0]
    pad = (-n) % multiple
    if pad == 0 or n == 0:
        return x
    return torch.cat([x, x[-1:].expand((pad,) + tuple(x.shape[1:]))])


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
        for key in cuda_attrs:
            state.pop(key)
        with tempfile.SpooledTemporaryFile() as f:
            cloudpickle.dump(cuda_attrs, f)
            f.seek(0)
            state["__cuda_dependent_attributes__"] = f.read()
        return state


class ImplicitNetRegressor(CloudpickleStateMixin, NeuralNetRegressor):
    """The skorch regressor behind implicit estimators (cloudpickle-friendly state)."""


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


class _EpochProgress:
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


class BaseImplicitEstimator(BaseEstimator):
    """Shared machinery of the implicit estimators (not for direct use).

    Subclasses customise four hooks: :meth:`_validate_X` / :meth:`_validate_Xy`
    (input formats), :meth:`_build_module` (the torch module), :meth:`_to_tensor`
    (how validated X becomes a tensor) and :meth:`_perturb` (the directions of
    :meth:`lipschitz_curve`).
    """

    _parameter_constraints: dict = {
        "operator": [str, type, callable, nn.Module],
        "encoder": [None, str, type, callable, nn.Module],
        "decoder": [None, str, type, callable, nn.Module],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS)), callable],
        "backward": [StrOptions(set(BACKWARD_MODES)), type, callable, BackwardMode],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: Rows per chunk at prediction time on the CPU (chunks that fit in cache
    #: are faster there); on CUDA devices chunks are 16 times larger.
    _predict_chunk_size = 4096

    def _chunk_rows(self):
        rows = self._predict_chunk_size
        device = getattr(self, "net_", None) and self.net_.device
        return rows * 16 if str(device).startswith("cuda") else rows

    def __init__(
        self,
        operator="mlp",
        *,
        encoder=None,
        decoder=None,
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
        **kwargs,
    ):
        self.operator = operator
        self.encoder = encoder
        self.decoder = decoder
        self.n_iter = n_iter
        self.tol = tol
        self.solver = solver
        self.backward = backward
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        for key, value in kwargs.items():
            setattr(self, key, value)

    # ------------------------------------------------------------------ params
    @staticmethod
    def _is_prefixed(name):
        head, sep, tail = name.partition("__")
        return bool(sep) and bool(tail) and head in PREFIXES

    def _set_prefixed(self, params, error):
        for key, value in params.items():
            if not self._is_prefixed(key):
                raise error(
                    f"{type(self).__name__} got an unexpected keyword argument {key!r}; "
                    f"routed parameters must start with one of "
                    f"{', '.join(p + '__' for p in PREFIXES)}."
                )
            setattr(self, key, value)

    def _extra_param_names(self):
        """Keyword parameters beyond the signature (routed ones, or unknown ones to reject)."""
        named = set(self._get_param_names())
        return [
            k
            for k in vars(self)
            if k not in named and not k.startswith("_") and not k.endswith("_")
        ]

    def _check_extra_params(self):
        unknown = [k for k in self._extra_param_names() if not self._is_prefixed(k)]
        if unknown:
            raise ValueError(
                f"{type(self).__name__} got unknown parameter(s) {sorted(unknown)}; routed "
                f"parameters must start with one of {', '.join(p + '__' for p in PREFIXES)}."
            )

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._extra_param_names()})
        return params

    def set_params(self, **params):
        routed = {k: v for k, v in params.items() if self._is_prefixed(k)}
        self._set_prefixed(routed, error=ValueError)
        rest = {k: v for k, v in params.items() if k not in routed}
        if rest:
            super().set_params(**rest)
        return self

    def _routed(self, prefix):
        start = prefix + "__"
        return {k[len(start) :]: v for k, v in vars(self).items() if k.startswith(start)}

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    # ------------------------------------------------------------------ hooks
    def _validate_Xy(self, X, y):
        """Validate training data; return ``(X, y)`` as float arrays."""
        return validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=[np.float32, np.float64]
        )

    def _validate_X(self, X):
        """Validate prediction inputs against the fitted data."""
        return validate_data(self, X, reset=False, dtype=[np.float32, np.float64])

    def _to_tensor(self, X, device):
        """Turn validated inputs into a float32 tensor on ``device``."""
        return torch.tensor(np.asarray(X), dtype=torch.float32, device=device)

    def _n_rows(self, X):
        return X.shape[0]

    def _slice(self, X, start, stop):
        return X[start:stop]

    def _build_module(self, X, y):
        """Build the :class:`ImplicitModule` for validated ``X`` and 2-D ``y``."""
        n_outputs = y.shape[1]
        x0 = self._to_tensor(self._slice(X, 0, 1), "cpu")
        encoder = None
        if self.encoder is not None:
            encoder = build_component(
                self.encoder,
                "encoder",
                _ENCODERS,
                {"in_features": x0.shape[-1], "out_features": x0.shape[-1]},
                self._routed("encoder"),
            )
        with torch.no_grad():
            u0 = encoder(x0) if encoder is not None else x0
        operator = build_component(
            self.operator,
            "operator",
            OPERATORS,
            {"in_features": u0.shape[-1], "n_outputs": n_outputs},
            self._routed("operator"),
        )
        if hasattr(operator, "state_shape"):
            state_shape = tuple(operator.state_shape)
        elif hasattr(operator, "init_state"):
            with torch.no_grad():
                state_shape = tuple(operator.init_state(u0).shape[1:])
        else:
            state_shape = (n_outputs,)
        state_size = math.prod(state_shape)
        decoder = None
        if self.decoder is not None or state_shape != (n_outputs,):
            spec = "linear" if self.decoder is None else self.decoder
            decoder = build_component(
                spec,
                "decoder",
                _DECODERS,
                {"in_features": state_size, "out_features": n_outputs},
                self._routed("decoder"),
            )
            if len(state_shape) > 1 and isinstance(decoder, nn.Linear):
                decoder = nn.Sequential(nn.Flatten(), decoder)
        return self._assemble(operator, encoder, decoder, state_shape)

    def _assemble(self, operator, encoder, decoder, state_shape):
        """Wrap the parts with the solver and backward mode of this estimator."""
        solver = get_solver(self.solver)
        solver_opts = self._routed("solver")
        if solver_opts:
            solver = functools.partial(solver, **solver_opts)
        backward = get_backward(self.backward, **self._routed("backward"))
        return ImplicitModule(
            operator,
            encoder,
            decoder,
            state_shape=state_shape,
            solver=solver,
            backward=backward,
            n_iter=self.n_iter,
            tol=self.tol,
        )

    def _criterion(self):
        """The skorch ``criterion`` (a loss class)."""
        return nn.MSELoss

    def _net_class(self):
        """The skorch net class wrapped in ``net_``."""
        return ImplicitNetRegressor

    def _net_kwargs(self):
        """Keyword arguments for the skorch net that add to or override the defaults.

        The defaults are ``module``, ``criterion``, ``optimizer``, ``lr``,
        ``max_epochs``, ``batch_size``, ``train_split=None``, ``device``,
        ``iterator_train`` (:class:`ArrayBatchLoader`), ``iterator_train__shuffle``,
        ``callbacks``, ``verbose=0`` and the ``optimizer__*`` parameters.
        """
        return {}

    def _targets_for_training(self, y):
        return y

    # ------------------------------------------------------------------ fit
    def _seed(self):
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the operator (and encoder/decoder) on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_extra_params()
        X, y = self._validate_Xy(X, y)
        y = np.asarray(y)
        self._y_ndim = y.ndim
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        self.n_outputs_ = y2.shape[1]
        self.device_ = resolve_device(self.device)
        if self.device_.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} was requested but CUDA is not available.")
        optimizer = self.optimizer
        if isinstance(optimizer, str):
            optimizer = _OPTIMIZERS[optimizer]
        seed = self._seed()
        cuda_devices = [torch.device(self.device_)] if self.device_.startswith("cuda") else []
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            module = self._build_module(X, y2)
            callbacks = [("progress", _EpochProgress(self.max_epochs))] if self.verbose else []
            net_kwargs = {
                "module": module,
                "criterion": self._criterion(),
                "optimizer": optimizer,
                "lr": self.lr,
                "max_epochs": self.max_epochs,
                "batch_size": self.batch_size,
                "train_split": None,
                "device": self.device_,
                "iterator_train": ArrayBatchLoader,
                "iterator_train__shuffle": True,
                "callbacks": callbacks,
                "verbose": 0,
                **{f"optimizer__{k}": v for k, v in self._routed("optimizer").items()},
            }
            net_kwargs.update(self._net_kwargs())
            net = self._net_class()(**net_kwargs)
            net.initialize()
            X_train = self._training_inputs(X)
            y_train = self._targets_for_training(y2)
            if self.max_epochs > 0:
                net.partial_fit(X_train, y_train)
        self.net_ = net
        self.loss_curve_ = [float(h["train_loss"]) for h in net.history] if self.max_epochs else []
        if self.loss_curve_ and not np.isfinite(self.loss_curve_[-1]):
            warnings.warn(
                "Training diverged: the loss became non-finite. Lower lr, lower the "
                "operator's initial contraction, or use a damped/Anderson solver.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _training_inputs(self, X):
        return np.asarray(X, dtype=np.float32)

    # ------------------------------------------------------------------ inference
    @property
    def module_(self):
        """The fitted :class:`ImplicitModule` (``net_.module_``)."""
        check_is_fitted(self)
        return self.net_.module_

    def _budget(self, n_iter, tol):
        if n_iter is not None and (
            isinstance(n_iter, bool) or not isinstance(n_iter, Integral) or n_iter < 1
        ):
            raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}.")
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, Real) or not tol >= 0):
            raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
        max_iter = self.n_iter if n_iter is None else int(n_iter)
        if tol is None:
            tol = self.tol if n_iter is None else 0.0
        return max_iter, float(tol)

    def _run(self, X, *, max_iter, tol, track=False, callback=None, chunk_size=None):
        """Solve chunk by chunk; return ``(outputs tensor on CPU, SolverInfo)``.

        ``callback(start, stop, k, y_k)`` sees the decoded iterates of the chunk
        holding rows ``start:stop``.
        """
        chunk = self._chunk_rows() if chunk_size is None else int(chunk_size)
        module = self.net_.module_
        device = _module_device(module, self.net_.device)
        was_training = module.training
        module.eval()
        outs, infos = [], []
        n = self._n_rows(X)
        try:
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                xb = self._to_tensor(self._slice(X, start, stop), device)
                m = stop - start
                xb = _pad_rows(xb)
                cb = None
                if callback is not None:

                    def cb(k, y, start=start, stop=stop, m=m):
                        callback(start, stop, k, y[:m])

                y, _, info = module.solve(xb, max_iter=max_iter, tol=tol, track=track, callback=cb)
                outs.append(y[:m].detach().cpu())
                info = info.head(m)
                infos.append(info)
        finally:
            module.train(was_training)
        return torch.cat(outs), SolverInfo.concatenate(infos)

    def _warn_info(self, info, explicit_budget):
        if info.diverged.any():
            warnings.warn(
                f"The fixed-point iteration diverged (non-finite values) for "
                f"{int(info.diverged.sum())} of {info.n_samples} samples; they return their "
                "last finite iterate. The operator is not a contraction there.",
                ConvergenceWarning,
                stacklevel=3,
            )
        elif not explicit_budget and not info.converged.all():
            warnings.warn(
                f"The solver did not reach tol={info.tol:g} within {info.max_iter} iterations "
                f"for {int((~info.converged).sum())} of {info.n_samples} samples "
                f"(largest final relative residual {float(np.max(info.residual)):.3g}). "
                "Increase n_iter, use solver='anderson', or check that the operator contracts.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _format_output(self, y):
        y = y.numpy().astype(np.float64, copy=False)
        if self._y_ndim == 1:
            y = y.reshape(y.shape[0], -1)[:, 0] if y.ndim > 1 else y
        return y

    def solve(self, X, n_iter=None, tol=None):
        """Predict and return the solver's diagnostics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        n_iter : int, optional
            Budget of operator applications. When given (and ``tol`` is not),
            exactly ``n_iter`` applications from ``z_0 = 0``, no early stop.
            Default: the estimator's ``n_iter`` with early stop at ``tol``.
        tol : float, optional
            Per-sample relative residual at which a sample stops. Default:
            the estimator's ``tol`` when ``n_iter`` is None, else 0.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions (the same as :meth:`predict`).
        info : SolverInfo
            Per-sample iterations used, final residual, residual trace,
            ``converged`` and ``diverged`` flags; ``info.status`` summarises.
        """
        check_is_fitted(self)
        max_iter, tol_ = self._budget(n_iter, tol)
        X = self._validate_X(X)
        y, info = self._run(X, max_iter=max_iter, tol=tol_, track=True)
        self._warn_info(info, explicit_budget=n_iter is not None and tol is None)
        return self._format_output(y), info

    def predict(self, X, n_iter=None, tol=None):
        """Answer with the (approximate) fixed point.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        n_iter : int, optional
            Test-time budget ``t``: with ``n_iter=t`` (and no ``tol``) the
            answer is ``y_t``, exactly ``t`` applications of G from
            ``z_0 = 0``. Default: solve to ``tol`` within the estimator's
            ``n_iter``.
        tol : float, optional
            Early-stopping tolerance (see :meth:`solve`).

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, float64.
        """
        check_is_fitted(self)
        max_iter, tol_ = self._budget(n_iter, tol)
        X = self._validate_X(X)
        y, info = self._run(X, max_iter=max_iter, tol=tol_)
        self._warn_info(info, explicit_budget=n_iter is not None and tol is None)
        return self._format_output(y)

    def staged_predict(self, X, n_iter=None):
        """Predictions after every budget ``t = 1..n_iter``, from one trajectory.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        n_iter : int, optional
            Largest budget; default the estimator's ``n_iter``.

        Yields
        ------
        y_t : ndarray
            ``predict(X, n_iter=t)`` for ``t = 1, 2, ..., n_iter``.
        """
        check_is_fitted(self)
        max_iter, _ = self._budget(n_iter, None)
        X = self._validate_X(X)
        n = self._n_rows(X)
        stages = [[] for _ in range(max_iter)]

        def collect(start, stop, k, y):
            stages[k - 1].append(y.detach().cpu())

        self._run(X, max_iter=max_iter, tol=0.0, callback=collect)
        for parts in stages:
            y = torch.cat(parts)
            if y.shape[0] != n:  # pragma: no cover - defensive
                raise RuntimeError("staged_predict lost samples between chunks.")
            yield self._format_output(y)

    # ------------------------------------------------------------------ lipschitz
    def _perturb(self, X, eps, n_directions, rng):
        """Draw perturbed copies of validated ``X``.

        Returns ``(X_perturbed, norms)``: ``X_perturbed`` stacks
        ``n_directions`` perturbed copies of ``X`` (direction-major, so row
        ``j * n + i`` is sample ``i`` under direction ``j``) in the format of
        ``X``; ``norms`` (shape ``(n_directions * n,)``) holds ``||d||``, the
        size of each input perturbation used in the ratio. The default draws
        Gaussian directions scaled to norm ``eps``.
        """
        X = np.asarray(X, dtype=np.float64)
        d = rng.standard_normal((n_directions,) + X.shape)
        norms = np.sqrt((d.reshape(n_directions, X.shape[0], -1) ** 2).sum(-1, keepdims=True))
        d = d / norms.reshape(norms.shape + (1,) * (X.ndim - 2)) * eps
        Xp = (X[None] + d).reshape((-1,) + X.shape[1:])
        return Xp.astype(np.float32), np.full(n_directions * X.shape[0], float(eps))

    def _concat(self, parts):
        return np.concatenate([np.asarray(p) for p in parts])

    def _output_distance(self, y_perturbed, y_base):
        """Per-row distance between outputs (Euclidean by default)."""
        diff = (y_perturbed - y_base).reshape(y_base.shape[0], -1)
        return torch.linalg.vector_norm(diff, dim=1)

    def lipschitz_curve(
        self, X, n_iter=None, *, eps=1e-3, n_directions=4, reduce="max", random_state=None
    ):
        """Empirical Lipschitz constant ``L_t`` of ``x -> y_t(x)`` for ``t = 1..n_iter``.

        ``L_t = reduce_{i, j} ||y_t(x_i + d_ij) - y_t(x_i)|| / ||d_ij||`` with
        ``n_directions`` random directions ``d_ij`` of norm ``eps`` per sample.
        All ``L_t`` come from one trajectory of the stacked batch
        ``[X, X + d_1, ..., X + d_r]``: ``n_iter`` applications of G, not one
        solve per ``t``.

        Parameters
        ----------
        X : array-like
            Points at which to measure.
        n_iter : int, optional
            Largest budget ``T``; default the estimator's ``n_iter``.
        eps : float, default=1e-3
            Size of the perturbations.
        n_directions : int, default=4
            Directions per sample.
        reduce : {"max", "mean"}, default="max"
            Aggregation over samples and directions.
        random_state : int, RandomState instance or None
            Seed of the directions.

        Returns
        -------
        curve : LipschitzCurve
            ``curve.n_iter`` is ``[1, ..., T]``, ``curve.lipschitz`` is ``L_t``,
            ``curve.ratios`` holds the per-pair ratios (T, n_pairs).
        """
        check_is_fitted(self)
        max_iter, _ = self._budget(n_iter, None)
        if not (isinstance(eps, Real) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {eps!r}.")
        if (
            isinstance(n_directions, bool)
            or not isinstance(n_directions, Integral)
            or n_directions < 1
        ):
            raise ValueError(f"n_directions must be an integer >= 1, got {n_directions!r}.")
        if reduce not in ("max", "mean"):
            raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}.")
        X = self._validate_X(X)
        rng = check_random_state(random_state)
        n = self._n_rows(X)
        step = max(1, self._chunk_rows() // (1 + n_directions))
        ratios = []
        for start in range(0, n, step):
            stop = min(start + step, n)
            Xc = self._slice(X, start, stop)
            Xp, norms = self._perturb(Xc, eps, n_directions, rng)
            collector = RatioCollector(
                stop - start,
                n_directions,
                torch.as_tensor(norms, dtype=torch.float64),
                max_iter,
                self._output_distance,
            )
            self._run(
                self._concat([Xc, Xp]),
                max_iter=max_iter,
                tol=0.0,
                callback=lambda s0, s1, k, y, c=collector: c(k, y),
                chunk_size=(stop - start) * (1 + n_directions),
            )
            # Group pairs sample-major within the chunk: (T, r, n_c) -> (T, n_c * r).
            r = collector.ratios.reshape(max_iter, n_directions, stop - start)
            ratios.append(r.transpose(1, 2).reshape(max_iter, -1))
        ratios = torch.cat(ratios, dim=1).numpy()
        return LipschitzCurve(
            n_iter=np.arange(1, max_iter + 1),
            lipschitz=reduce_ratios(ratios, reduce),
            ratios=ratios,
            eps=float(eps),
            reduce=reduce,
        )

    def regularity_report(self, X, **kw):
        """Per-sample regularity of the learned operator at its fixed points.

        Contraction modulus ``mu(x)``, Lipschitz constant in ``x``, the
        necessity bound ``Lip_x(G) / (1 - mu(x))`` and the measured local
        Lipschitz constant of the fixed point beside it. See
        :func:`sklearn_implicit._regularity.regularity_report` for the options.

        Returns
        -------
        report : RegularityReport
        """
        from ._regularity import regularity_report

        return regularity_report(self, X, **kw)

    def __setstate__(self, state):
        super().__setstate__(state)
        dev = getattr(self, "device_", None)
        if isinstance(dev, str) and dev.startswith("cuda") and not torch.cuda.is_available():
            self.device_ = "cpu"


class ImplicitRegressor(RegressorMixin, BaseImplicitEstimator):
    """Implicit (deep-equilibrium) regressor: predict with the fixed point of a learned G.

    The model is ``y = Q_psi(z*)`` with ``z* = G(z*, Q_phi(x))``. Training
    solves for ``z*`` and differentiates through the solve with the chosen
    backward mode; prediction iterates ``z_t = G(z_{t-1}, Q_phi(x))`` from
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
    n_iter : int, default=30
        Budget of operator applications (training and default prediction).
    tol : float, default=1e-4
        Per-sample relative residual ``||G(z) - z|| / (||G(z)|| + 1e-6)`` at
        which the solve stops.
    solver : {"picard", "anderson"} or callable, default="picard"
        Forward solver (see :mod:`sklearn_implicit.solvers`); options via
        ``solver__*`` (e.g. ``solver__m=6``, ``solver__damping=0.5``).
    backward : {"implicit", "jacobian_free", "phantom", "unroll"}, class or callable, default="implicit"
        Gradient through the solve (see :mod:`sklearn_implicit.backward`);
        options via ``backward__*`` (e.g. ``backward__k=3``).
    max_epochs : int, default=200
        Training epochs.
    lr : float, default=1e-2
        Learning rate.
    batch_size : int, default=128
        Mini-batch size.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, default="adam"
        Options via ``optimizer__*`` (e.g. ``optimizer__weight_decay=1e-4``).
    device : str, default="auto"
        Torch device; ``"auto"`` uses CUDA when present.
    random_state : int, RandomState instance or None, default=None
        Seed of initialisation and shuffling; an int makes ``fit``
        reproducible.
    verbose : int, default=0
        Show a progress bar over epochs when positive.
    **kwargs
        Routed parameters ``operator__*``, ``encoder__*``, ``decoder__*``,
        ``optimizer__*``, ``solver__*`` and ``backward__*``; anything else
        makes ``fit`` raise ``ValueError``.

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
        Training loss per epoch.

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
