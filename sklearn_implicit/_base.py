"""The base every implicit estimator extends: budget, training, inference, diagnostics."""

from __future__ import annotations

import copy
import functools
import pickle
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._module import FixedDepthModule, ImplicitModule
from ._params import Routed, RoutedParamsMixin, doc_fragments
from ._skorch import ArrayBatchLoader, EpochProgress, ImplicitNetRegressor
from ._training import EarlyStoppingOnScore, WeightedLoss, canonical_weights, pack_weights
from ._trajectory import perturbed_copies, stacked_trajectory
from .backward import BACKWARD_MODES, BackwardMode, RandomDepth, get_backward
from .lipschitz import GaussianDirections, LipschitzCurve, reduce_ratios
from .solvers import SolverInfo, get_solver
from .utils import check_options

__all__ = ["BaseImplicitEstimator", "resolve_device"]

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

#: Keywords every solver receives from the estimator; they cannot be routed.
_SOLVER_RESERVED = ("max_iter", "tol", "track", "callback")

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def resolve_device(device):
    """Map ``"auto"`` to ``"cuda"`` when a CUDA device is present, else ``"cpu"``.

    Raises ``ValueError`` for a string torch does not know as a device, and
    for a CUDA device on a machine without CUDA.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device={device!r} is not a torch device (e.g. 'cpu', 'cuda:0')."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available.")
    return str(resolved)


def check_float32_range(values, name):
    """Refuse finite values that overflow the float32 the models compute in."""
    arr = np.asarray(values)
    if arr.size and np.issubdtype(arr.dtype, np.floating):
        with np.errstate(invalid="ignore"):
            big = np.nanmax(np.abs(arr)) if not np.isnan(arr).all() else 0.0
        if big > _FLOAT32_MAX:
            raise ValueError(
                f"{name} holds values up to {big:.3g}, beyond the float32 range "
                f"({_FLOAT32_MAX:.3g}) the model computes in; rescale the data."
            )


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


class _Pickled:
    """A parameter stored by value with cloudpickle (classes defined in a function)."""

    def __init__(self, payload):
        self.payload = payload


class BaseImplicitEstimator(RoutedParamsMixin, BaseEstimator):
    """What every implicit estimator shares (not for direct use).

    The data path of :meth:`predict` is::

        X -> _validate_X -> _to_tensor -> module.solve (encode -> solver(G) -> read)
          -> _format_output

    The base owns the budget (``n_iter``, ``tol``), the solver and backward
    mode, training (``max_epochs``, ``lr``, ``batch_size``, ``optimizer``),
    the device, the seed and verbosity, and every public method: ``fit``,
    ``predict``, ``solve``, ``staged_predict``, ``lipschitz_curve``,
    ``regularity_report`` and ``budget_curve``. A subclass adds its own parameters (extending
    ``_parameter_constraints`` and calling ``super().__init__``) and
    overrides documented hooks only:

    ``_build_module(X, y, routed)``
        The torch module, an :class:`~sklearn_implicit.ImplicitModule` (use
        :meth:`_assemble` to wrap an operator with this estimator's solver and
        backward mode) or a :class:`~sklearn_implicit.FixedDepthModule`.
        ``routed(prefix)`` gives the routed options (``operator__*``) and
        records that they were used.
    ``_validate_Xy(X, y)`` / ``_validate_X(X)``
        Input formats of fit and of inference.
    ``_to_tensor(X, device)``
        Validated inputs to the module's input.
    ``_n_rows``, ``_slice``, ``_concat``
        Row access for inputs that are not arrays.
    ``_format_output(y, X)``
        Module output to what ``predict`` returns.
    ``_criterion()``, ``_net_class()``, ``_net_kwargs()``, ``_training_inputs(X)``, ``_targets_for_training(y)``
        The skorch net: loss, class, extra keyword arguments, training data.
    ``_default_directions()``, ``_output_distance(y_perturbed, y)``, ``_output_summary()``
        How :meth:`lipschitz_curve` perturbs inputs and compares outputs.
    ``_export_head()``
        ``_format_output`` as a torch module, for :meth:`export`.

    Parameters
    ----------
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
        Routed parameters (``optimizer__*``, ``solver__*``, ``backward__*``,
        and those a subclass adds); anything else raises.
    """

    _parameter_constraints: dict = {
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        # Names are checked at fit against the live registries (register_solver).
        "solver": [str, callable],
        "backward": [StrOptions(set(BACKWARD_MODES)), type, callable, BackwardMode],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [None, list],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "compile": ["boolean"],
        "jacobian_penalty": [Interval(Real, 0, None, closed="left")],
        "train_states": [Interval(Integral, 1, None, closed="left")],
        "train_depth": [StrOptions({"fixed", "random"})],
    }

    _routing_prefixes = ("optimizer", "solver", "backward", "callbacks")

    #: Whether ``fit`` takes ``sample_weight`` (a weighted loss per sample).
    _supports_sample_weight = False

    #: Rows per chunk at prediction time on the CPU (chunks that fit in cache
    #: are faster there); on CUDA devices chunks are 16 times larger.
    _predict_chunk_size = 4096

    def __init__(
        self,
        *,
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
        self.callbacks = callbacks
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.compile = compile
        self.jacobian_penalty = jacobian_penalty
        self.train_states = train_states
        self.train_depth = train_depth
        self._set_routed(kwargs)

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
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=[np.float32, np.float64]
        )
        check_float32_range(X, "X")
        check_float32_range(y, "y")
        return X, y

    def _validate_X(self, X):
        """Validate prediction inputs against the fitted data."""
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        check_float32_range(X, "X")
        return X

    def _to_tensor(self, X, device):
        """Turn validated inputs into a float32 tensor on ``device``."""
        return torch.tensor(np.asarray(X), dtype=torch.float32, device=device)

    def _n_rows(self, X):
        return X.shape[0]

    def _slice(self, X, start, stop):
        return X[start:stop]

    def _concat(self, parts):
        return np.concatenate([np.asarray(p) for p in parts])

    def _take(self, X, indices):
        """Rows ``indices`` of validated inputs (validation split)."""
        return X[indices]

    def _weighted_loss_kwargs(self):
        """Options of :class:`~sklearn_implicit._training.WeightedLoss` for this estimator."""
        return {"loss": self._criterion()}

    def _build_module(self, X, y, routed):  # pragma: no cover - abstract
        """Build the torch module for validated ``X`` and 2-D ``y``."""
        raise NotImplementedError

    def _assemble(self, operator, encoder, decoder, routed, *, state_shape=None):
        """Wrap the parts with this estimator's solver, backward mode and budget."""
        return ImplicitModule(
            operator,
            encoder,
            decoder,
            state_shape=state_shape,
            solver=self._build_solver(routed),
            backward=self._build_backward(routed),
            n_iter=self.n_iter,
            tol=self.tol,
            train_states=self.train_states,
            train_depth=self.train_depth,
            jacobian_penalty=self.jacobian_penalty,
        )

    def _build_solver(self, routed):
        solver = get_solver(self.solver)
        options = routed("solver")
        reserved = sorted(set(options) & set(_SOLVER_RESERVED))
        if reserved:
            raise ValueError(
                f"solver__{reserved[0]} cannot be routed: the estimator sets {reserved} itself "
                "(use n_iter and tol)."
            )
        name = (
            self.solver if isinstance(self.solver, str) else getattr(solver, "__name__", "solver")
        )
        check_options(solver, options, f"solver {name!r}")
        return functools.partial(solver, **options) if options else solver

    def _build_backward(self, routed, **defaults):
        spec = self.backward
        options = {**defaults, **routed("backward")}
        if isinstance(spec, BackwardMode):
            if options:
                raise ValueError(
                    f"backward__ options {sorted(options)} cannot be applied to an already "
                    "built backward mode; pass its name or class instead."
                )
            return copy.deepcopy(spec)  # training must not mutate the parameter
        return get_backward(spec, **options)

    def _criterion(self):
        """The skorch ``criterion`` (a loss class)."""
        return torch.nn.MSELoss

    def _net_class(self):
        """The skorch net class wrapped in ``net_``."""
        return ImplicitNetRegressor

    def _net_kwargs(self):
        """Keyword arguments for the skorch net that add to or override the defaults.

        The defaults are ``module``, ``criterion``, ``optimizer``, ``lr``,
        ``max_epochs``, ``batch_size``, ``train_split=None``, ``device``,
        ``iterator_train`` (:class:`~sklearn_implicit._skorch.ArrayBatchLoader`),
        ``iterator_train__shuffle``, ``callbacks``, ``verbose=0`` and the
        ``optimizer__*`` parameters.
        """
        return {}

    def _training_inputs(self, X):
        return np.asarray(X, dtype=np.float32)

    def _targets_for_training(self, y):
        return np.asarray(y, dtype=np.float32)

    def _format_output(self, y, X=None):
        """Module outputs (a CPU tensor) -> what ``predict`` returns for validated ``X``."""
        y = y.numpy().astype(np.float64, copy=False)
        if self._y_ndim == 1:
            y = y.reshape(y.shape[0], -1)[:, 0] if y.ndim > 1 else y
        return y

    def _default_directions(self):
        """The direction strategy of :meth:`lipschitz_curve` when none is given."""
        return GaussianDirections()

    def _output_summary(self):
        """What the Lipschitz collector keeps of each step's outputs, or None.

        None (the default): the distance is taken at every step, on the
        device. An estimator whose distance runs on the host (a Levenshtein
        distance) returns a function of the outputs kept on the device
        instead, and its ``_output_distance`` accepts those summaries.
        """
        return None

    def _output_distance(self, y_perturbed, y_base):
        """Per-row distance between outputs (Euclidean; NaN entries, e.g. padding, ignored)."""
        diff = torch.nan_to_num(y_perturbed - y_base, nan=0.0)
        return torch.linalg.vector_norm(diff.reshape(y_base.shape[0], -1), dim=1)

    # ------------------------------------------------------------------ fit
    def _seed(self):
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    @contextmanager
    def _transaction(self):
        """Leave the estimator as it was when fit fails (no half-updated fitted state)."""
        before = dict(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the model on ``(X, y)``.

        With ``warm_start=True`` and a fitted model, training continues from
        the fitted weights for ``max_epochs`` more epochs (``loss_curve_``
        accumulates).

        Parameters
        ----------
        X : array-like
            Training inputs, in the estimator's input format.
        y : array-like
            Targets.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights of the loss (estimators with a per-sample loss;
            the others raise). A weight ``k`` trains exactly as ``k`` copies of
            the sample; ``np.ones(n)`` is exactly the unweighted fit.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with self._transaction():
            self._fit(X, y, sample_weight)
        return self

    def _fit(self, X, y, sample_weight=None, *, epochs=None):
        """Fit (or, with ``epochs``, continue) training; see :meth:`fit` and ``partial_fit``."""
        self._check_unknown()
        if sample_weight is not None and not self._supports_sample_weight:
            raise ValueError(f"{type(self).__name__} does not support sample_weight.")
        continuing = hasattr(self, "net_") and (epochs is not None or self.warm_start)
        previous = (getattr(self, "n_features_in_", None), getattr(self, "n_outputs_", None))
        routed = Routed(self._routed_params(), type(self).__name__)
        device = resolve_device(self.device)
        if continuing:
            self._validate_X(X)  # the fitted model's input format (sklearn's messages)
        X, y = self._validate_Xy(X, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        self._y_ndim = np.ndim(y)
        y2 = y.reshape(-1, 1) if self._y_ndim == 1 else y
        self.n_outputs_ = y2.shape[1] if y2.ndim == 2 else None
        current = (getattr(self, "n_features_in_", None), self.n_outputs_)
        if continuing and previous != current:
            raise ValueError(
                f"warm_start and partial_fit continue the fitted model, which takes "
                f"{previous[0]} features and {previous[1]} outputs; got {current[0]} "
                f"and {current[1]}."
            )
        epochs = self.max_epochs if epochs is None else int(epochs)
        seed = self._seed()
        X_valid = y_valid = None
        if self.early_stopping:
            X, y2, sample_weight, X_valid, y_valid = self._validation_split(
                X, y, y2, sample_weight, seed
            )
        if self._supports_sample_weight:
            X, y2, sample_weight = canonical_weights(X, y2, sample_weight)
        y_train = self._targets_for_training(y2)
        criterion = {"criterion": self._criterion()}
        if sample_weight is not None:
            y_train = pack_weights(y_train, sample_weight)
            criterion = {
                "criterion": WeightedLoss,
                **{f"criterion__{k}": v for k, v in self._weighted_loss_kwargs().items()},
            }
        extra = dict(self._net_kwargs())  # asked once: it may build callbacks
        callbacks = self._callbacks(extra.pop("callbacks", []), epochs, X_valid, y_valid)
        routed_callbacks = {f"callbacks__{k}": v for k, v in routed("callbacks").items()}
        cuda_devices = [torch.device(device)] if device.startswith("cuda") else []
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            if continuing:
                net = self.net_
                # The model stays; what can change between fits without rebuilding
                # it applies: learning rate (in place, the optimizer state is kept),
                # batch size, training depth and tolerance, the solver and backward
                # mode (with their routed options), and the recipes.
                net.set_params(
                    callbacks=callbacks,
                    lr=self.lr,
                    batch_size=self.batch_size,
                    **criterion,
                    **routed_callbacks,
                )
                self._rebuild_iteration(net.module_, routed)
                self._configure_recipes(net.module_)
            else:
                net = self._new_net(
                    X, y2, routed, device, criterion, callbacks, routed_callbacks, extra
                )
            module = net.module_
            if epochs > 0 and not any(p.requires_grad for p in module.parameters()):
                raise ValueError(
                    f"The {type(self).__name__} model has no trainable parameter; set "
                    "max_epochs=0 to use it as it is."
                )
            done_before = len(net.history)
            if epochs > 0:
                # skorch ends training quietly on KeyboardInterrupt (Ctrl-C): the
                # weights are those of the last finished batch.
                net.partial_fit(self._training_inputs(X), y_train, epochs=epochs)
        # Inference never toggles the module's mode (it is shared by threads).
        net.module_.eval()
        self._check_finite_weights(net.module_)
        self._record_history(net, done_before, epochs, callbacks)
        self.device_ = device
        self.net_ = net
        if self.loss_curve_ and not np.isfinite(self.loss_curve_[-1]):
            warnings.warn(
                "Training diverged: the loss became non-finite. Lower lr, lower the "
                "operator's initial contraction, or use a damped/Anderson solver.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return self

    def _rebuild_iteration(self, module, routed):
        """A continued fit: the current solver and backward mode replace the fitted ones.

        The operator's weights stay; ``solver``, ``backward`` and their routed
        ``solver__*`` / ``backward__*`` options take effect as ``n_iter`` and
        ``tol`` do. Models without an iterated operator have nothing to rebuild.
        """
        module = getattr(module, "_orig_mod", module)
        if isinstance(module, ImplicitModule) and not isinstance(module, FixedDepthModule):
            module.solver = self._build_solver(routed)
            module.backward = self._build_backward(routed)

    def _configure_recipes(self, module):
        """Set the training depth, tolerance and recipes on the module; refuse what it cannot apply."""
        module = getattr(module, "_orig_mod", module)
        active = {
            name: value
            for name, value, default in (
                ("jacobian_penalty", self.jacobian_penalty, 0.0),
                ("train_states", self.train_states, 1),
                ("train_depth", self.train_depth, "fixed"),
            )
            if value != default
        }
        if isinstance(module, ImplicitModule) and not isinstance(module, FixedDepthModule):
            module.n_iter = int(self.n_iter)
            module.tol = float(self.tol)
            module.train_states = int(self.train_states)
            module.train_depth = self.train_depth
            module.jacobian_penalty = float(self.jacobian_penalty)
        if not active:
            return
        if isinstance(module, FixedDepthModule) or not isinstance(module, ImplicitModule):
            raise ValueError(
                f"{sorted(active)} apply to an iterated operator; the "
                f"{type(module).__name__} of this model has none (use the defaults)."
            )
        backward = module.backward
        if self.train_states > 1 and not callable(getattr(backward, "trajectory", None)):
            raise ValueError(
                f"train_states={self.train_states} needs a backward mode with a trajectory "
                f"method (a BackwardMode); got {type(backward).__name__}."
            )
        if self.train_depth == "random" and isinstance(backward, RandomDepth):
            raise ValueError(
                "train_depth='random' and backward='random_depth' both draw the training "
                "depth; use one of them."
            )

    def _validation_split(self, X, y, y2, sample_weight, seed):
        n = self._n_rows(X)
        n_valid = int(round(self.validation_fraction * n))
        if n_valid < 1 or n - n_valid < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no sample for training "
                f"or validation among {n}; use more data or another fraction."
            )
        order = np.random.RandomState(seed).permutation(n)
        valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
        sw = None if sample_weight is None else sample_weight[train]
        return self._take(X, train), y2[train], sw, self._take(X, valid), y[valid]

    def _callbacks(self, own, epochs, X_valid, y_valid):
        callbacks = list(own)
        if self.verbose:
            callbacks.insert(0, ("progress", EpochProgress(epochs)))
        for i, cb in enumerate(copy.deepcopy(self.callbacks) or []):
            if isinstance(cb, tuple):
                callbacks.append(cb)
            else:
                callbacks.append((f"{type(cb).__name__}_{i}", cb))
        if X_valid is not None:
            stopper = EarlyStoppingOnScore(self, X_valid, y_valid, self.n_iter_no_change)
            callbacks.append(("early_stopping", stopper))
        return callbacks

    def _new_net(self, X, y2, routed, device, criterion, callbacks, routed_callbacks, extra):
        module = self._build_module(X, y2, routed)
        self._configure_recipes(module)
        net_kwargs = {
            "module": module,
            **criterion,
            "optimizer": _OPTIMIZERS.get(self.optimizer, self.optimizer),
            "lr": self.lr,
            "max_epochs": self.max_epochs,
            "batch_size": self.batch_size,
            "train_split": None,
            "device": device,
            "iterator_train": ArrayBatchLoader,
            "iterator_train__shuffle": True,
            "verbose": 0,
            "compile": self.compile,
            **{f"optimizer__{k}": v for k, v in routed("optimizer").items()},
        }
        routed.check_all_used()
        net_kwargs.update(extra, callbacks=callbacks, **routed_callbacks)
        net = self._net_class()(**net_kwargs)
        net.initialize()
        return net

    def _record_history(self, net, done_before, epochs, callbacks):
        """Fitted attributes from the net's history; warn when training was interrupted."""
        stopper = dict(callbacks).get("early_stopping")
        stopped = stopper is not None and getattr(stopper, "stopped_", False)
        rows = [h for h in net.history if "train_loss" in h]
        new = net.history[done_before:] if len(net.history) > done_before else []
        complete = sum("train_loss" in h for h in new)
        if not stopped and epochs > 0 and (complete < len(new) or complete < epochs):
            warnings.warn(
                f"Training was interrupted after {complete} complete epoch(s) of "
                f"{epochs}; the model keeps the weights of the last finished batch.",
                UserWarning,
                stacklevel=5,
            )
        self.loss_curve_ = [float(h["train_loss"]) for h in rows]
        self.n_epochs_ = len(self.loss_curve_)
        if self.early_stopping:
            self.validation_scores_ = [float(h["valid_score"]) for h in rows if "valid_score" in h]
            # The score of the weights kept (an improvement under 1e-4 does not count).
            best = getattr(stopper, "best_score_", None)
            self.best_validation_score_ = None if best is None else float(best)
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def partial_fit(self, X, y, sample_weight=None):
        """Train for one more epoch on ``(X, y)`` (the first call starts from scratch).

        Parameters
        ----------
        X : array-like
            Training inputs.
        y : array-like
            Targets.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights (see :meth:`fit`).

        Returns
        -------
        self : object
        """
        self._validate_params()
        with self._transaction():
            self._fit(X, y, sample_weight, epochs=1)
        return self

    @staticmethod
    def _check_finite_weights(module):
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if torch.is_floating_point(tensor) and not bool(torch.isfinite(tensor).all()):
                raise ValueError(
                    f"Solver produced non-finite parameter weights ({name}). The input data "
                    "may contain large values and need to be preprocessed, or lr is too large."
                )

    # ------------------------------------------------------------------ inference
    @property
    def module_(self):
        """The fitted torch module (``net_.module_``, unwrapped when ``compile=True``)."""
        check_is_fitted(self)
        return getattr(self.net_.module_, "_orig_mod", self.net_.module_)

    def _chunk_rows(self):
        rows = self._predict_chunk_size
        return rows * 16 if str(getattr(self, "device_", "cpu")).startswith("cuda") else rows

    def _budget(self, n_iter, tol):
        """Check the estimator and the call's budget; return ``(max_iter, tol)``."""
        check_is_fitted(self)
        # Parameters may have been set after fit: inference validates what it uses.
        self._validate_params()
        if n_iter is not None and (
            isinstance(n_iter, bool) or not isinstance(n_iter, Integral) or n_iter < 1
        ):
            raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}.")
        if tol is not None and (
            isinstance(tol, bool) or not isinstance(tol, Real) or not 0 <= tol < np.inf
        ):
            raise ValueError(f"tol must be a non-negative number (finite), got {tol!r}.")
        max_iter = self.n_iter if n_iter is None else int(n_iter)
        if tol is None:
            tol = self.tol if n_iter is None else 0.0
        return max_iter, float(tol)

    def _run(self, X, *, max_iter, tol, track=False, callback=None, chunk_size=None):
        """Solve chunk by chunk; return ``(outputs tensor on CPU, SolverInfo)``.

        ``callback(start, stop, k, y_k)`` sees the read-out iterates of the
        chunk holding rows ``start:stop``. The module is only read: its mode
        and buffers are never changed, so concurrent calls are safe.
        """
        chunk = self._chunk_rows() if chunk_size is None else int(chunk_size)
        module = self.net_.module_
        device = _module_device(module, self.net_.device)
        outs, infos = [], []
        n = self._n_rows(X)
        with torch.no_grad():
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                xb = _pad_rows(self._to_tensor(self._slice(X, start, stop), device))
                m = stop - start
                cb = None
                if callback is not None:

                    def cb(k, y, start=start, stop=stop, m=m):
                        callback(start, stop, k, y[:m])

                y, _, info = module.solve(xb, max_iter=max_iter, tol=tol, track=track, callback=cb)
                outs.append(y[:m].detach().cpu())
                infos.append(info.head(m))
        return torch.cat(outs), SolverInfo.concatenate(infos)

    def _warn_info(self, info, explicit_budget, stacklevel=3):
        if info.diverged.any():
            warnings.warn(
                f"The fixed-point iteration diverged (non-finite values) for "
                f"{int(info.diverged.sum())} of {info.n_samples} samples; they return their "
                "last finite iterate. The operator is not a contraction there.",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )
        elif not explicit_budget and info.tol > 0 and not info.converged.all():
            warnings.warn(
                f"The solver did not reach tol={info.tol:g} within {info.max_iter} iterations "
                f"for {int((~info.converged).sum())} of {info.n_samples} samples "
                f"(largest final relative residual {float(np.max(info.residual)):.3g}). "
                "Increase n_iter, use solver='anderson', or check that the operator contracts.",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )

    def _predict_raw(self, X, n_iter, tol, *, track=False):
        """Validated inputs -> (module outputs on CPU, info), with convergence warnings."""
        max_iter, tol_ = self._budget(n_iter, tol)
        X = self._validate_X(X)
        y, info = self._run(X, max_iter=max_iter, tol=tol_, track=track)
        self._warn_info(info, explicit_budget=n_iter is not None and tol is None, stacklevel=4)
        return y, info, X

    def solve(self, X, n_iter=None, tol=None):
        """Predict and return the solver's diagnostics.

        Parameters
        ----------
        X : array-like
            Inputs.
        n_iter : int, optional
            Budget of operator applications. When given (and ``tol`` is not),
            exactly ``n_iter`` applications from ``z_0``, no early stop.
            Default: the estimator's ``n_iter`` with early stop at ``tol``.
        tol : float, optional
            Per-sample relative residual at which a sample stops. Default:
            the estimator's ``tol`` when ``n_iter`` is None, else 0.

        Returns
        -------
        y : ndarray
            Predictions (the same as :meth:`predict`).
        info : SolverInfo
            Per-sample iterations used, final residual, residual trace,
            ``converged`` and ``diverged`` flags; ``info.status`` summarises.
        """
        y, info, X = self._predict_raw(X, n_iter, tol, track=True)
        return self._format_output(y, X), info

    def predict(self, X, n_iter=None, tol=None):
        """Answer with the (approximate) fixed point.

        Parameters
        ----------
        X : array-like
            Inputs.
        n_iter : int, optional
            Test-time budget ``t``: with ``n_iter=t`` (and no ``tol``) the
            answer is ``y_t``, exactly ``t`` applications of G from ``z_0``.
            Default: solve to ``tol`` within the estimator's ``n_iter``.
        tol : float, optional
            Early-stopping tolerance (see :meth:`solve`).

        Returns
        -------
        y : ndarray
            Predictions.
        """
        y, _, X = self._predict_raw(X, n_iter, tol)
        return self._format_output(y, X)

    def staged_predict(self, X, n_iter=None):
        """Predictions after every budget ``t = 1..n_iter``, from one trajectory.

        Parameters
        ----------
        X : array-like
            Inputs.
        n_iter : int, optional
            Largest budget; default the estimator's ``n_iter``.

        Yields
        ------
        y_t : ndarray
            ``predict(X, n_iter=t)`` for ``t = 1, 2, ..., n_iter``.
        """
        max_iter, _ = self._budget(n_iter, None)
        X = self._validate_X(X)
        stages = [[] for _ in range(max_iter)]

        def collect(start, stop, k, y):
            stages[k - 1].append(y.detach().cpu())

        _, info = self._run(X, max_iter=max_iter, tol=0.0, callback=collect)
        self._warn_info(info, explicit_budget=True)
        for parts in stages:
            yield self._format_output(torch.cat(parts), X)

    def export(self, n_iter=None):
        """The fitted model as a plain torch module applying G exactly ``n_iter`` times.

        The module computes ``u = encode(x)``, ``z = init_state(u)``, then
        ``n_iter`` times ``z = step(z, u)``, then the read-out, with no
        solver, no tolerance and no data-dependent control flow, so that
        ``torch.export.export`` and ``torch.onnx.export`` trace it (see
        :doc:`/saving`). It holds a deep copy of the fitted module in eval
        mode, with frozen parameters, on the estimator's device: exporting
        never changes the estimator.

        Parameters
        ----------
        n_iter : int, optional
            Budget ``t``; default the estimator's ``n_iter``.

        Returns
        -------
        model : sklearn_implicit._export.FixedBudgetModel
            ``model(x)`` takes the tensor the estimator's module takes
            (``est._to_tensor(X, device)``: float32 rows for tabular
            estimators) and returns, as a float32 tensor, what
            ``predict(X, n_iter=t)`` returns (``predict_proba`` for
            classifiers), e.g. shape ``(n,)`` for a regressor fitted on a
            1-D ``y`` and ``(n, n_outputs)`` otherwise.
        """
        from ._export import export_estimator

        max_iter, _ = self._budget(n_iter, None)
        return export_estimator(self, max_iter)

    def _export_head(self):
        """``_format_output`` on tensors: a torch module applied to the read-out, or None.

        The default is the identity, or the first column for a 1-D ``y``; it
        refuses estimators that override ``_format_output`` (they override
        this hook too).
        """
        from ._export import default_head

        return default_head(self)

    # ------------------------------------------------------------------ diagnostics
    def lipschitz_curve(
        self,
        X,
        n_iter=None,
        *,
        eps=1e-3,
        n_directions=4,
        reduce="max",
        directions=None,
        random_state=None,
    ):
        """Empirical Lipschitz constant ``L_t`` of ``x -> y_t(x)`` for ``t = 1..n_iter``.

        ``L_t = reduce_{i, j} dist(y_t(x_i'), y_t(x_i)) / ||x_i' - x_i||``
        over the perturbed copies ``x_i'`` that ``directions`` draws (by
        default the estimator's strategy, e.g. Gaussian directions of norm
        ``eps``). All ``L_t`` come from one trajectory of the stacked batch
        ``[X, X'_1, ..., X'_r]``: ``n_iter`` applications of G, not one
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
            Perturbed copies per sample.
        reduce : {"max", "mean"}, default="max"
            Aggregation over samples and directions.
        directions : callable, optional
            A strategy ``directions(X, eps, n_directions, rng) -> (X_perturbed,
            norms)`` (see :mod:`sklearn_implicit.lipschitz`); default the
            estimator's own.
        random_state : int, RandomState instance or None
            Seed of the directions.

        Returns
        -------
        curve : LipschitzCurve
            ``curve.n_iter`` is ``[1, ..., T]``, ``curve.lipschitz`` is ``L_t``,
            ``curve.ratios`` holds the per-pair ratios (T, n_pairs), pairs
            sample-major.
        """
        max_iter, _ = self._budget(n_iter, None)
        if isinstance(eps, bool) or not isinstance(eps, Real) or not 0 < eps < np.inf:
            raise ValueError(f"eps must be a positive finite number, got {eps!r}.")
        if (
            isinstance(n_directions, bool)
            or not isinstance(n_directions, Integral)
            or n_directions < 1
        ):
            raise ValueError(f"n_directions must be an integer >= 1, got {n_directions!r}.")
        if reduce not in ("max", "mean"):
            raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}.")
        if directions is not None and not callable(directions):
            raise ValueError(
                "directions must be a callable directions(X, eps, n_directions, rng) -> "
                f"(X_perturbed, norms), got {type(directions).__name__}."
            )
        X = self._validate_X(X)
        Xp, norms = perturbed_copies(self, X, eps, n_directions, directions, random_state)
        ratios, _, info = stacked_trajectory(self, X, (Xp, norms), max_iter=max_iter)
        self._warn_info(info, explicit_budget=True)
        return LipschitzCurve(
            n_iter=np.arange(1, max_iter + 1),
            lipschitz=reduce_ratios(ratios, reduce),
            ratios=ratios,
            eps=float(np.mean(norms)),
            reduce=reduce,
        )

    def regularity_report(self, X, **kwargs):
        """Per-sample regularity of the learned operator at its fixed points.

        Solves to a tight tolerance, then linearises there: contraction
        modulus ``mu(x)`` (spectral norm of ``dG/dz``) and spectral radius
        ``radius(x)`` beside it, Lipschitz constant in ``x``, the necessity
        bound ``Lip_x(G) / (1 - mu(x))`` and the measured local Lipschitz
        constant of the fixed point. See
        :func:`sklearn_implicit.regularity_report` for the options.

        Returns
        -------
        report : RegularityReport
        """
        from .lipschitz._regularity import regularity_report

        return regularity_report(self, X, **kwargs)

    def budget_curve(
        self,
        X,
        y,
        n_iter=None,
        *,
        tol=None,
        scoring=None,
        lipschitz=True,
        eps=1e-3,
        n_directions=1,
        random_state=None,
    ):
        """What test-time compute buys: score, residual, ``L_t``, work and time for ``t = 1..T``.

        Everything comes from one trajectory: one solve of ``T`` steps of the
        stacked batch ``[X, X'_1, ..., X'_r]`` (as in :meth:`lipschitz_curve`;
        only ``X`` when ``lipschitz=False``), whose read-out at every step
        ``t`` is scored as :meth:`predict` would answer with budget ``t``.
        The score curve is then fitted by a saturating exponential
        ``score(t) ~ a - b exp(-(t - 1) / tau)`` (see
        :class:`~sklearn_implicit.BudgetCurve`).

        Parameters
        ----------
        X : array-like
            Inputs.
        y : array-like
            True targets, in the format :meth:`score` takes.
        n_iter : int, optional
            Largest budget ``T``; default the estimator's ``n_iter`` (show a
            curve to several times the training depth to see it saturate).
        tol : float, optional
            Per-sample early exit: a sample stops (its answer and its count of
            G evaluations freeze) once its relative residual reaches ``tol``,
            so stage ``t`` is ``predict(X, n_iter=t, tol=tol)``. Default None:
            no early exit, stage ``t`` is ``predict(X, n_iter=t)``.
        scoring : str or callable, optional
            None: the estimator's own :meth:`score` (R^2 for regressors,
            accuracy for classifiers, PSNR in dB for deblurring, the padded
            R^2 of linear programs, token accuracy for the looped
            transformer). A string names a scikit-learn scorer, a callable is
            a scorer ``scoring(estimator, X, y)``; scorers that use
            ``predict_proba`` or ``decision_function`` see the stage too.
            Greater is better, as in scikit-learn.
        lipschitz : bool, default=True
            Measure ``L_t`` on the same trajectory; False solves ``X`` alone
            (``curve.lipschitz`` is None, and ``seconds`` times ``X`` alone).
        eps : float, default=1e-3
            Size of the perturbations of ``L_t``.
        n_directions : int, default=1
            Perturbed copies per sample for ``L_t`` (``reduce="max"``).
        random_state : int, RandomState instance or None
            Seed of the directions: the same seed gives the ``L_t`` of
            ``lipschitz_curve(X, T, eps=eps, n_directions=n_directions)``.

        Returns
        -------
        curve : BudgetCurve
            Arrays over ``t = 1..T`` (``n_iter``, ``score``, ``residual``,
            ``lipschitz``, ``evaluations``, ``seconds``,
            ``fraction_converged``), the fit (``asymptote``, ``rate``) and
            ``budget_at(fraction)``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_implicit import ImplicitRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-1, 1, size=(60, 2))
        >>> est = ImplicitRegressor(max_epochs=3, random_state=0).fit(X, X.sum(1))
        >>> curve = est.budget_curve(X, X.sum(1), n_iter=12, random_state=0)
        >>> curve.score.shape, curve.lipschitz.shape
        ((12,), (12,))
        >>> 1 <= curve.budget_at(0.95)
        True
        """
        from ._budget import budget_curve

        return budget_curve(
            self,
            X,
            y,
            n_iter,
            tol=tol,
            scoring=scoring,
            lipschitz=lipschitz,
            eps=eps,
            n_directions=n_directions,
            random_state=random_state,
        )

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never change the live estimator
        for key in self._get_param_names():
            value = state.get(key)
            if callable(value) and not isinstance(value, torch.nn.Module):
                try:
                    pickle.dumps(value)
                except (pickle.PicklingError, AttributeError, TypeError):
                    # Classes or functions defined inside a function: by value.
                    import cloudpickle

                    state[key] = _Pickled(cloudpickle.dumps(value))
        return state

    def __setstate__(self, state):
        state = {
            k: pickle.loads(v.payload) if isinstance(v, _Pickled) else v for k, v in state.items()
        }
        super().__setstate__(state)
        dev = getattr(self, "device_", None)
        if isinstance(dev, str) and dev.startswith("cuda") and not torch.cuda.is_available():
            self.device_ = "cpu"


BaseImplicitEstimator.__doc__ = BaseImplicitEstimator.__doc__.format(
    equilibrium=doc_fragments["equilibrium"],
    budget=doc_fragments["budget"].format(n_iter=30, tol=1e-4),
    solver=doc_fragments["solver"].format(solver="picard", backward="implicit"),
    training=doc_fragments["training"].format(
        max_epochs=200, lr=1e-2, batch_size=128, optimizer="adam"
    ),
    controls=doc_fragments["controls"],
    runtime=doc_fragments["runtime"],
)
