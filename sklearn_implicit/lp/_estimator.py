"""``LPGNNRegressor``: a bipartite GNN that predicts LP solutions, implicit or explicit."""

from __future__ import annotations

import contextlib
import sys
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, StrOptions

from .. import FixedDepthModule
from .._base import BaseImplicitEstimator, check_float32_range
from .._params import doc_fragments
from ..backward import BackwardMode, RandomDepth, get_backward
from ..lipschitz import LPBlocks
from ._container import LinearPrograms
from ._gnn import ExplicitLPGNNRound, ImplicitLPGNNLayer, LPEncoder, LPReadout, orthogonal_init
from ._metrics import MaskedMSELoss

__all__ = ["LPGNNRegressor"]

#: The blocks of an LP the model reads as real-valued features.
_FEATURE_BLOCKS = ("A", "b", "c", "lower", "upper")


#: Margin of the bound limit beyond the largest finite training bound, in
#: standard deviations of the training bounds (see :func:`_feature_scales`).
_BOUND_MARGIN = 10.0


def _feature_scales(X, y):
    """Training standard deviations of the input blocks and of the target (floored).

    ``"bound_limit"`` is where the encoder clips the bounds (infinite ones
    included, see :class:`~sklearn_implicit.lp._gnn.LPEncoder`), in raw units:
    ``_BOUND_MARGIN`` standard deviations beyond the largest finite training
    bound. Statistics of the bounds use their finite values only.
    """

    def std(values):
        values = np.asarray(values, dtype=np.float64)
        s = float(values.std()) if values.size else 1.0
        return s if np.isfinite(s) and s > 1e-12 else 1.0

    cmask = np.arange(X.padded_shape[0])[None, :] < X.n_constraints[:, None]
    vmask = X.variable_mask()
    A = X.block("A")
    bounds = np.concatenate([X.block("lower")[vmask], X.block("upper")[vmask]])
    bounds = bounds[np.isfinite(bounds)]
    largest = float(np.abs(bounds).max()) if bounds.size else 0.0
    return {
        "cons": [std(X.block("b")[cmask]), 1.0],
        "var": [std(X.block("c")[vmask]), std(bounds), std(bounds)],
        "edge": std(A[A != 0]),
        "target": std(y[np.isfinite(y)]),
        "bound_limit": largest + _BOUND_MARGIN * std(bounds),
    }


class LPGNNRegressor(RegressorMixin, BaseImplicitEstimator):
    """Bipartite GNN that maps a linear program to its optimal solution.

    An LP ``min c^T y  s.t.  A y o b,  l <= y <= u`` is a bipartite graph:
    constraint nodes with features ``(b_i, o_i)`` (``o_i = 1`` for an
    equality), variable nodes with ``(c_j, l_j, u_j)``, an edge of weight
    ``A_ij`` for each nonzero. With ``architecture="implicit"`` the operator
    ``G(y, x)`` takes a state ``y`` with one scalar per variable, runs four
    half-layers of message passing (variables -> constraints -> variables ->
    constraints -> variables) on the node embeddings with ``y`` appended to
    the variable features (input injection), and maps each variable node back
    to a new scalar. The answer is a read-out MLP of ``[emb(var), y_T]``
    after ``T`` applications from ``y_0 = 0``. The state is per instance
    (padded to the batch's largest ``n`` with a mask), so LPs of any size,
    also sizes unseen in training, can be predicted.

    LPs in :func:`scipy.optimize.linprog`'s form (sparse matrices, ``None``
    bounds) enter through :meth:`LinearPrograms.from_linprog
    <sklearn_implicit.lp.LinearPrograms.from_linprog>`. Infinite bounds are
    read inside the existing bound features, with no extra parameter: the
    scaled bounds are clipped at a limit set at fit time, ten standard
    deviations of the training bounds beyond the largest finite training
    bound, so ``inf`` reads as "farther than any bound seen in training"
    (as does any finite bound beyond the limit). Finite bounds within the
    limit are encoded exactly as without it.

    With ``architecture="explicit"`` the same embeddings feed ``n_rounds``
    untied rounds of (variables -> constraints, constraints -> variables)
    half-layers and a read-out of the last variable embeddings: the paper's
    explicit baseline (``n_rounds=2``), a
    :class:`~sklearn_implicit.FixedDepthModule`. Its answer does not depend
    on a budget, so ``predict(X, n_iter=t)`` is the same for every ``t``.

    Training is full-batch Adam on the mean squared error (padded slots
    ignored). Like the paper it runs in stages (``stages="auto"``): a
    shallow plain stage first, backpropagating through 3 unrolled
    iterations (the paper's first stage), then a refinement at a tenth of
    the learning rate that trains at random depths with truncated
    backpropagation (:class:`~sklearn_implicit.backward.RandomDepth`, the
    recurrent-depth recipe of Geiping et al. 2025): each pass draws a depth
    with mean ``n_iter`` and a long right tail, runs it without gradient
    and backpropagates through its last 3 steps only. The model thus learns
    to improve the answer from any state of a long trajectory, and the
    error stays flat far past the mean depth (the benchmark
    ``benchmarks/lp_table.py`` measures it to 5x). Trained at one depth only
    (``stages=None``), the error is lowest near that depth and grows again
    as the iterations go on, by 0.46 at 20x the depth on the benchmark's
    emb-32 model; a refinement that unrolls all ``n_iter`` steps (with the
    loss over ``train_states`` states) drifts less but loses much of the
    first stage's accuracy; trained from scratch at depth 10 the unrolled
    iteration diverges: hence the shallow first stage.

    The plain iteration of the trained operator can settle on a period-2
    cycle around its fixed point rather than on the point: the answer read
    out no longer moves, but the residual stays near 0.06 and most LPs do
    not reach ``tol``. A damped iteration reaches the point for most of them
    at the same or a lower error; apply it to the fitted weights with a
    continued fit of no epochs::

        est.set_params(warm_start=True, max_epochs=0, solver__damping=0.5).fit(X, y)

    (training with the damped solver instead learns another cycle). The
    benchmark reports both reads.

    :meth:`lipschitz_curve` perturbs one block of the LP at a time
    (:class:`~sklearn_implicit.lipschitz.LPBlocks`, by default the nonzeros
    of ``A``); the paper's LP figure averages over instances and directions
    (``reduce="mean"``) with ``eps=1e-4``; in float32, ``eps=1e-3`` (the
    default) is safer.

    Parameters
    ----------
    emb_size : int, default=16
        Width of the node embeddings and message-passing MLPs.
    architecture : {{"implicit", "explicit"}}, default="implicit"
        Weight-tied operator iterated to a fixed point, or the same kind of
        layers untied at a fixed depth (``n_rounds``).
    n_rounds : int, default=2
        Explicit architecture only: rounds of message passing (two
        half-layers each). Unused by the implicit one.
    {budget}
    {solver}
        With ``architecture="explicit"`` the model has no budget: ``n_iter``,
        ``tol``, ``solver``, ``backward``, ``stages`` and the three training
        recipes below are unused there (``predict``
        answers the same for every ``n_iter``) and ``solver__*`` /
        ``backward__*`` options are refused.
    max_epochs : int, default=300
        Training epochs, all stages together (see ``stages``).
    lr : float, default=1e-2
        Learning rate (of the first stage with ``stages="auto"``).
    batch_size : int or None, default=None
        Instances per mini-batch; None trains full batch (as the paper).
    optimizer : {{"adam", "adamw", "sgd", "rmsprop"}} or torch optimizer class, default="adam"
        Options via ``optimizer__*`` (e.g. ``optimizer__weight_decay=1e-4``).
    {runtime}
    compile : bool, default=False
        Compile the module with ``torch.compile`` for training (skorch's
        ``compile``; needs a C++ compiler on the CPU).
    {equilibrium}
    stages : "auto", list of dict or None, default="auto"
        Training in stages, each continuing from the weights and the
        optimizer state of the one before. Each stage is a dict of
        parameters of this estimator that it overrides, among ``n_iter``,
        ``backward``, ``train_states``, ``jacobian_penalty``, ``train_depth``,
        ``lr`` and ``max_epochs`` (the epochs of that stage); the others are
        the estimator's. ``"auto"`` is, with ``E = max_epochs``::

            [{{"n_iter": min(3, n_iter), "train_states": 1, "jacobian_penalty": 0.0,
              "max_epochs": E - E // 4}},
             {{"backward": RandomDepth(k=3), "lr": lr / 10, "max_epochs": E // 4}}]

        a shallow plain stage (the paper's first stage), then the refinement
        at random depths with mean ``n_iter`` and the estimator's
        ``train_states`` and ``jacobian_penalty``. The refinement keeps the
        estimator's ``backward`` when it is not ``"unroll"`` (the default)
        or when ``train_depth="random"`` (which draws the depth itself).
        None trains one stage with the estimator's
        parameters. Stages apply to a fit from scratch: ``warm_start`` and
        ``partial_fit`` continue with the estimator's parameters, and the
        explicit architecture trains one stage of ``max_epochs``.
    normalize : bool, default=True
        Divide the input blocks (``b``; ``c``; the bounds; ``A``) and the
        output by their standard deviations on the training set (fixed
        buffers, not trained). False feeds raw features as the paper's code.
    **kwargs
        Routed ``optimizer__*``, ``solver__*`` and ``backward__*`` parameters
        (the model itself has no routed options: ``operator__*`` is refused).

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_`` (or ``module_``) is the torch module.
    loss_curve_ : list of float
        Training loss per epoch.
    n_params_ : int
        Number of trainable parameters.
    stages_ : list of dict
        The stages trained by the last ``fit``, every parameter of each
        resolved (``n_iter``, ``backward``, ``train_states``,
        ``jacobian_penalty``, ``train_depth``, ``lr``, ``max_epochs``).

    See Also
    --------
    sklearn_implicit.lp.make_linear_programs : Training data.
    sklearn_implicit.lp.lp_relative_error : The paper's error metric.
    sklearn_implicit.lipschitz.LPBlocks : The default Lipschitz directions.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_linear_programs
    >>> from sklearn_implicit.lp import LPGNNRegressor, lp_relative_error
    >>> X, y = make_linear_programs(
    ...     10, n_constraints=3, n_variables=5, nnz=6, cache=False, random_state=0
    ... )
    >>> est = LPGNNRegressor(emb_size=4, max_epochs=2, random_state=0).fit(X, y)
    >>> est.predict(X[:3]).shape
    (3, 5)
    >>> est.predict(X[:3], n_iter=2).shape
    (3, 5)
    >>> bool(lp_relative_error(y, est.predict(X)) >= 0)
    True
    >>> est.n_params_
    722
    >>> LPGNNRegressor(emb_size=4, architecture="explicit", max_epochs=0).fit(X, y).n_params_
    580
    """

    _parameter_constraints: dict = {
        **BaseImplicitEstimator._parameter_constraints,
        "emb_size": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"implicit", "explicit"})],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
        "stages": [None, StrOptions({"auto"}), list],
    }

    #: Parameters a training stage may override (see ``stages``).
    _STAGE_KEYS = (
        "n_iter",
        "backward",
        "train_states",
        "jacobian_penalty",
        "train_depth",
        "lr",
        "max_epochs",
    )

    #: Steps with gradient of the refinement stage of ``stages="auto"``.
    _AUTO_BACKPROP_DEPTH = 3

    #: What :meth:`score` returns (the axis label of the displays).
    score_name = "$R^2$ (all variables pooled)"

    def __init__(
        self,
        emb_size=16,
        *,
        architecture="implicit",
        n_rounds=2,
        n_iter=30,
        tol=0.0,
        solver="picard",
        backward="unroll",
        max_epochs=300,
        lr=1e-2,
        batch_size=None,
        optimizer="adam",
        device="auto",
        random_state=None,
        normalize=True,
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
        stages="auto",
        **kwargs,
    ):
        self.emb_size = emb_size
        self.architecture = architecture
        self.n_rounds = n_rounds
        self.normalize = normalize
        self.stages = stages
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

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ hooks
    def _validate_X(self, X):
        """A non-empty :class:`LinearPrograms` (or a list of LP dicts), float32-safe."""
        if not isinstance(X, LinearPrograms):
            if not isinstance(X, (list, tuple)):
                raise ValueError(
                    "X must be a sklearn_implicit.lp.LinearPrograms container (or a list of "
                    f"LP dicts with keys A, b, c, lower, upper, is_equality); got "
                    f"{type(X).__name__}."
                )
            X = LinearPrograms.from_dicts(X)
        if len(X) == 0:
            raise ValueError("Found an empty LinearPrograms container (0 samples).")
        for block in _FEATURE_BLOCKS:
            values = X.block(block)
            if block in ("lower", "upper"):  # infinite bounds are allowed (clipped)
                values = values[np.isfinite(values)]
            check_float32_range(values, f"X's block {block!r}")
        return X

    def _validate_Xy(self, X, y):
        X = self._validate_X(X)
        y = X.check_targets(y)
        check_float32_range(y, "y")
        return X, y

    def _to_tensor(self, X, device):
        return torch.from_numpy(X.to_flat()).to(device)

    def _n_rows(self, X):
        return len(X)

    def _slice(self, X, start, stop):
        return X[start:stop]

    def _concat(self, parts):
        return LinearPrograms.concatenate(parts)

    def _training_inputs(self, X):
        return X.to_flat()

    def _criterion(self):
        return MaskedMSELoss

    def _net_kwargs(self):
        if self.batch_size is None:
            return {"iterator_train__batch_size": sys.maxsize}
        return {}

    def _default_directions(self):
        return LPBlocks("A")

    def _build_module(self, X, y, routed):
        """Encoder -> GNN (iterated operator, or untied rounds) -> read-out."""
        e = int(self.emb_size)
        encoder = LPEncoder(e)
        if self.architecture == "explicit":
            rounds = [ExplicitLPGNNRound(e) for _ in range(int(self.n_rounds))]
            decoder = LPReadout(e, state="nodes")
            # Initialised in this order (encoder, rounds, read-out) so that a
            # seed gives the weights it gave before the parts were composed.
            for part in (encoder, *rounds, decoder):
                orthogonal_init(part)
            module = FixedDepthModule(rounds, encoder, decoder)
        else:
            operator = ImplicitLPGNNLayer(e)
            decoder = LPReadout(e, state="scalar")
            module = self._assemble(operator, encoder, decoder, routed)
            orthogonal_init(module)
        scales = _feature_scales(X, y)
        bound_scale = 1.0
        if self.normalize:
            module.encoder.set_scales(scales["cons"], scales["var"], scales["edge"])
            module.decoder.scale.fill_(scales["target"])
            bound_scale = scales["var"][1]
        module.encoder.set_bound_limit(scales["bound_limit"] / bound_scale)
        return module

    def _configure_recipes(self, module):
        """The recipes and the training depth of the current stage, on the module.

        The explicit architecture has no iterated operator: the recipes are
        unused there (as ``n_iter``). The training depth is set here too, so
        that a stage (or ``warm_start``) trains at its own ``n_iter``.
        """
        if self.architecture == "explicit":
            return
        super()._configure_recipes(module)

    def _resolve_stages(self):
        """The stages of a fit from scratch, every parameter resolved (validated here)."""
        own = {key: getattr(self, key) for key in self._STAGE_KEYS}
        if self.stages is None or self.architecture == "explicit":
            return [own]
        if self.stages == "auto":
            epochs = int(self.max_epochs)
            refine = {"lr": self.lr / 10, "max_epochs": epochs // 4}
            if self.backward == "unroll" and self.train_depth == "fixed":
                refine["backward"] = RandomDepth(k=self._AUTO_BACKPROP_DEPTH)
            stages = [
                {
                    "n_iter": min(3, int(self.n_iter)),
                    "train_states": 1,
                    "jacobian_penalty": 0.0,
                    "max_epochs": epochs - epochs // 4,
                },
                refine,
            ]
        else:
            stages = self.stages
            if not stages or not all(isinstance(stage, dict) for stage in stages):
                raise ValueError(
                    f'stages must be "auto", None or a non-empty list of dicts; got {stages!r}.'
                )
        checks = {
            "n_iter": Interval(Integral, 1, None, closed="left"),
            "train_states": Interval(Integral, 1, None, closed="left"),
            "jacobian_penalty": Interval(Real, 0, None, closed="left"),
            "train_depth": StrOptions({"fixed", "random"}),
            "lr": Interval(Real, 0, None, closed="neither"),
            "max_epochs": Interval(Integral, 0, None, closed="left"),
        }
        resolved = []
        for i, stage in enumerate(stages):
            unknown = sorted(set(stage) - set(self._STAGE_KEYS))
            if unknown:
                raise ValueError(
                    f"stages[{i}] sets {unknown}; a stage may set {list(self._STAGE_KEYS)}."
                )
            for key, value in stage.items():
                if key == "backward":
                    self._check_stage_backward(i, value)
                    continue
                if isinstance(value, bool) or not checks[key].is_satisfied_by(value):
                    raise ValueError(f"stages[{i}][{key!r}] must be {checks[key]}; got {value!r}.")
            resolved.append({**own, **stage})
        return resolved

    @staticmethod
    def _check_stage_backward(i, value):
        """A stage's ``backward``: a mode name, a BackwardMode class or instance, or a callable."""
        try:
            if not isinstance(value, BackwardMode):
                get_backward(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"stages[{i}]['backward'] is not a backward mode: {exc}") from None

    @contextlib.contextmanager
    def _stage(self, stage):
        """The estimator's parameters set to those of ``stage`` while it trains."""
        before = {key: getattr(self, key) for key in stage}
        try:
            for key, value in stage.items():
                setattr(self, key, value)
            yield
        finally:
            for key, value in before.items():
                setattr(self, key, value)

    def _fit(self, X, y, sample_weight=None, *, epochs=None):
        """Train the stages of a fit from scratch, or continue at the estimator's parameters."""
        if epochs is not None or (hasattr(self, "net_") and self.warm_start):
            # partial_fit (its first call: one epoch, no stages) or a warm start: the
            # base applies the current n_iter, lr and recipes to the fitted model.
            return super()._fit(X, y, sample_weight, epochs=epochs)
        stages = self._resolve_stages()
        for i, stage in enumerate(stages):
            if i and stage["max_epochs"] == 0:
                continue
            with self._stage(stage):
                if i:
                    super()._fit(X, y, sample_weight, epochs=self.max_epochs)
                else:
                    super()._fit(X, y, sample_weight)
        self.stages_ = stages
        return self

    # ------------------------------------------------------------------ public
    def fit(self, X, y, sample_weight=None):
        """Train on linear programs ``X`` and their optimal solutions ``y``.

        Parameters
        ----------
        X : LinearPrograms or list of dict
            Training instances.
        y : array-like of shape (n_samples, n_variables)
            Optimal solutions (NaN on padded slots when sizes differ), or a
            list of 1-D arrays.

        sample_weight : None
            Not supported (the loss is per token / per variable); must be None.

        Returns
        -------
        self : object
        """
        super().fit(X, y, sample_weight)
        if not hasattr(self, "stages_"):  # warm start of a model fitted before
            self.stages_ = self._resolve_stages()
        self.n_params_ = sum(p.numel() for p in self.net_.module_.parameters())
        return self

    def export(self, n_iter=None, *, padded_shape=None):
        """The fitted model as a plain torch module applying G exactly ``n_iter`` times.

        As :meth:`BaseImplicitEstimator.export`; the input is the flat
        encoding of :meth:`LinearPrograms.to_flat`. That encoding carries the
        padded sizes ``(M, N)`` in its values; graph exporters
        (``torch.export``, ONNX) need them static, so give them as
        ``padded_shape`` (``X.padded_shape`` of the programs to run): the
        exported module then takes LPs padded to exactly those sizes.

        Parameters
        ----------
        n_iter : int, optional
            Budget ``t``; default the estimator's ``n_iter``.
        padded_shape : tuple of (int, int), optional
            Padded numbers of constraints and variables ``(M, N)``; None
            reads them from each input (eager use only).

        Returns
        -------
        model : sklearn_implicit._export.FixedBudgetModel
        """
        model = super().export(n_iter)
        if padded_shape is not None:
            sizes = tuple(padded_shape)
            if len(sizes) != 2 or not all(
                isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in sizes
            ):
                raise ValueError(
                    f"padded_shape must be two positive integers (M, N), got {padded_shape!r}."
                )
            model.module.encoder.sizes = tuple(int(v) for v in sizes)
        return model

    def score(self, X, y, sample_weight=None):
        """R^2 over all (instance, variable) entries pooled, padded slots ignored.

        Parameters
        ----------
        X : LinearPrograms
            Instances.
        y : array-like of shape (n_samples, n_variables)
            Optimal solutions.
        sample_weight : array-like of shape (n_samples,), optional
            Per-instance weights (spread over the instance's variables).

        Returns
        -------
        float
        """
        X, y = self._validate_Xy(X, y)
        y_pred = self.predict(X)
        mask = np.isfinite(y)
        w = None
        if sample_weight is not None:
            w = np.broadcast_to(np.asarray(sample_weight, dtype=float)[:, None], y.shape)[mask]
        return float(r2_score(y[mask], y_pred[mask], sample_weight=w))


LPGNNRegressor.__doc__ = LPGNNRegressor.__doc__.format(
    budget=doc_fragments["budget"].format(n_iter=30, tol=0.0),
    solver=doc_fragments["solver"].format(solver="picard", backward="unroll"),
    runtime=doc_fragments["runtime"],
    equilibrium=doc_fragments["equilibrium"],
)
