"""``LoopedTransformerClassifier``: a recurrent-depth transformer with a test-time loop budget."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, validate_data
from skorch.callbacks import GradientNormClipping, LRScheduler
from torch import nn

from .. import BaseImplicitEstimator, FixedDepthModule
from .._params import doc_fragments
from .._skorch import ImplicitNet
from ..backward import RandomDepth
from ..lipschitz import TokenSubstitutions
from ._levenshtein import levenshtein_rows
from ._metrics import PAD, TokenCrossEntropy, token_accuracy
from ._model import transformer_parts

__all__ = ["LoopedTransformerClassifier"]

_INT64_MAX = np.iinfo(np.int64).max


def _tokens(X, name):
    """Integer token array of shape (n, L); -1 is padding, other negatives are errors.

    Integer-valued floats and object arrays of integers are accepted.
    """
    X = np.asarray(X)
    if X.dtype == object:
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(
                f"{name} must hold integer tokens (padding -1); got an object array with "
                "entries that are not numbers."
            ) from exc
    if not np.issubdtype(X.dtype, np.integer):
        with np.errstate(invalid="ignore"):
            integral = np.issubdtype(X.dtype, np.floating) and bool(np.all(np.mod(X, 1) == 0))
        if not integral:
            raise ValueError(
                f"{name} must hold integer tokens (padding -1); got dtype {X.dtype} "
                "with non-integer values."
            )
    if X.size and X.min() < PAD:
        raise ValueError(f"{name} holds negative tokens other than the padding token -1.")
    if X.size and X.max() > _INT64_MAX:
        raise ValueError(
            f"{name} holds token {X.max():.3g}, out of range for integer token ids "
            f"(at most {_INT64_MAX})."
        )
    return X.astype(np.int64, copy=False)


def _check_pointers(X, name):
    """Tokens of ``positions="pointer"``: positions of the same sequence, ``0 <= x < seq_len``."""
    if X.size and int(X.max()) >= X.shape[1]:
        raise ValueError(
            f"{name} holds token {int(X.max())}, not a position of its sequences (length "
            f'{X.shape[1]}): with positions="pointer" every token points to a position.'
        )
    return X


class _OneCycle(LRScheduler):
    """One-cycle learning rate over the whole fit, per batch; its length comes from the data.

    A fit of a single step keeps the learning rate constant.
    """

    def __init__(self, max_lr, pct_start=0.1):
        super().__init__(
            policy=torch.optim.lr_scheduler.OneCycleLR,
            step_every="batch",
            max_lr=max_lr,
            pct_start=pct_start,
        )

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.total_steps = net.max_epochs * math.ceil(len(X) / net.batch_size)
        if self.total_steps > 1:
            super().on_train_begin(net, X=X, y=y, **kwargs)

    def on_batch_end(self, net, **kwargs):
        if self.lr_scheduler_ is not None:
            super().on_batch_end(net, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        if self.lr_scheduler_ is not None:
            super().on_epoch_end(net, **kwargs)


class LoopedTransformerClassifier(ClassifierMixin, BaseImplicitEstimator):
    """Looped (recurrent-depth) transformer: token sequences in, token sequences out.

    The model is a *prelude* (token and position embeddings and one
    transformer block, giving ``e``), a *recurrent core* (one shared
    pre-norm transformer block with input injection,
    ``h <- norm(block(W [h, e]))``) iterated ``t`` times from a zero or
    random state, and a *coda* (one block and the unembedding), which
    classifies every position. It answers with the state after ``t``
    loops, so the number of loops is a knob of :meth:`predict`:
    ``predict(X, n_iter=t)``. With ``tol > 0`` a sample stops early once
    the relative change of its latent state falls to ``tol`` (adaptive
    exit). ``architecture="explicit"`` is the baseline: ``n_layers`` untied
    copies of the core, run once each (with ``n_layers=1``, exactly the
    parameters of the looped model); its answer does not depend on the
    budget.

    Training follows the recurrent-depth recipe (Geiping et al. 2025,
    Huginn), the ``"random_depth"`` backward mode: every mini-batch draws
    its loop count ``r = Poisson(LogNormal(log(mean_recurrence) - 1/8,
    1/2)) + 1`` (heavy-tailed, mean ``mean_recurrence + 1``), runs ``r - k``
    loops without gradient and backpropagates through the last
    ``k = min(r, backprop_depth)`` loops only, so memory is bounded by ``k``
    whatever ``r`` is. Loss: token cross-entropy over non-padded positions;
    optimiser AdamW with a one-cycle learning-rate schedule and gradient
    clipping at norm 1.

    Inputs are integer arrays of shape ``(n_samples, seq_len)``; ``-1`` marks
    padding (masked out of attention, ignored by the loss, and predicted as
    ``-1``). Targets have the same shape; outputs are aligned with inputs.

    Parameters
    ----------
    d_model : int, default=64
        Width of the blocks.
    architecture : {{"implicit", "explicit"}}, default="implicit"
        "implicit" iterates one core; "explicit" stacks ``n_layers`` untied
        cores, run once (``solver``, ``backward``, ``mean_recurrence`` and
        ``backprop_depth`` are then unused).
    n_layers : int, default=1
        Untied cores of the explicit architecture (unused by "implicit").
    n_heads : int, default=4
        Attention heads; must divide ``d_model``.
    d_ff : int or None, default=None
        Hidden width of the MLPs; None uses ``2 * d_model``.
    mean_recurrence : float, default=8.0
        Mean of the training loop-count distribution (the ``mean`` of the
        ``"random_depth"`` backward mode; ``backward__mean`` overrides it).
    backprop_depth : int, default=4
        Loops ``k`` with gradient (the ``k`` of ``"random_depth"``;
        ``backward__k`` overrides it).
    init_state : {{"zero", "random"}}, default="zero"
        Starting state; "random" draws a standard normal state in training
        and a fixed-seed one at prediction.
    positions : {{"learned", "pointer"}}, default="learned"
        How tokens and positions are embedded and answers read out.
        "learned": a token vocabulary (tokens seen in fit), learned absolute
        positions (the length seen in fit) and a softmax over ``classes_``;
        inputs must have the training length and vocabulary. "pointer":
        tokens and targets are *positions of the same sequence* (pointers,
        ``0 <= token < seq_len``), and the model takes sequences of any
        length, longer ones included: every position gets a random node
        code (fresh per sequence in training, so no identity can be
        memorised; one fixed-seed draw at prediction, so predictions are
        deterministic and independent of the batch), a token is embedded by
        the code of the position it points to, and the answer at a position
        is scored against the codes of all positions of its sequence (see
        :class:`~sklearn_implicit.looped.PointerPrelude` and
        :class:`~sklearn_implicit.looped.PointerCoda`). A longer chain then
        needs more loops, which ``predict(X, n_iter=t)`` can spend.
    {budget}
    {solver}
    max_epochs : int, default=10
        Passes over the training data.
    lr : float, default=2e-3
        Peak learning rate of the one-cycle schedule.
    batch_size : int, default=64
        Sequences per mini-batch.
    optimizer : str or torch optimizer class, default="adamw"
        Options via ``optimizer__*`` (e.g. ``optimizer__weight_decay=0.01``).
    {runtime}
    compile : bool, default=False
        Compile the module with ``torch.compile`` for training (skorch's
        ``compile``; needs a C++ compiler on the CPU).
    {equilibrium}
    **kwargs
        Routed ``optimizer__*``, ``solver__*`` and ``backward__*``
        parameters (the last two with the implicit architecture only).

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is an
        :class:`~sklearn_implicit.ImplicitModule` (prelude, core, coda) or,
        explicit, a :class:`~sklearn_implicit.FixedDepthModule`.
    classes_ : ndarray
        Output tokens seen in fit (padding excluded). With
        ``positions="pointer"``, the positions of the training sequences,
        ``arange(n_features_in_)``: the class of a position is a position.
        For an input of length ``L``, :meth:`predict_proba` then has ``L``
        columns, the probabilities of positions ``0..L-1`` (the first
        ``n_features_in_`` of them are ``classes_``; padded positions get
        probability 0), and :meth:`predict` returns positions ``< L``.
    n_tokens_ : int
        Input vocabulary size (largest input token + 1).
    n_features_in_ : int
        Sequence length in fit (with ``positions="pointer"``, inputs of any
        length are accepted).
    n_params_ : int
        Trainable parameters.
    loss_curve_ : list of float
        Training loss per epoch.

    See Also
    --------
    sklearn_implicit.datasets.make_pointer_chasing : A task where loops help.

    Notes
    -----
    :meth:`score` is the **per-token accuracy** over non-padded positions
    (:func:`token_accuracy`); :func:`sequence_accuracy` gives the
    exact-sequence accuracy. :meth:`lipschitz_curve` measures the paper's
    Levenshtein "Lipschitz" ratio: by default each perturbed copy
    substitutes one random token
    (:class:`~sklearn_implicit.lipschitz.TokenSubstitutions`, input
    distance 1, ``eps`` unused), and outputs are compared with the
    Levenshtein distance of the predicted token sequences. Pass
    ``directions=GivenPairs(X_pairs, distance=levenshtein_rows)`` to
    measure on given pairs, and ``reduce="mean"`` for the paper's mean
    ratio. :meth:`regularity_report` measures ``mu`` in the latent state
    space; ``lip_x`` and the bound are undefined (NaN) for tokens.

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_pointer_chasing
    >>> from sklearn_implicit.looped import LoopedTransformerClassifier
    >>> X, y = make_pointer_chasing(64, n_nodes=8, n_hops=3, random_state=0)
    >>> est = LoopedTransformerClassifier(
    ...     d_model=16, n_heads=2, mean_recurrence=2, max_epochs=1, random_state=0
    ... ).fit(X, y)
    >>> est.predict(X[:2], n_iter=3).shape
    (2, 8)
    >>> 0.0 <= est.score(X, y) <= 1.0
    True
    >>> curve = est.lipschitz_curve(X[:4], n_iter=3, reduce="mean", random_state=0)
    >>> curve.lipschitz.shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseImplicitEstimator._parameter_constraints,
        "d_model": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"implicit", "explicit"})],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "d_ff": [None, Interval(Integral, 1, None, closed="left")],
        "mean_recurrence": [Interval(Real, 0, None, closed="neither")],
        "backprop_depth": [Interval(Integral, 1, None, closed="left")],
        "init_state": [StrOptions({"zero", "random"})],
        "positions": [StrOptions({"learned", "pointer"})],
    }

    #: What :meth:`score` measures (axis label of the displays).
    score_name = "token accuracy"

    def __init__(
        self,
        d_model=64,
        *,
        architecture="implicit",
        n_layers=1,
        n_heads=4,
        d_ff=None,
        mean_recurrence=8.0,
        backprop_depth=4,
        init_state="zero",
        positions="learned",
        n_iter=16,
        tol=0.0,
        solver="picard",
        backward="random_depth",
        max_epochs=10,
        lr=2e-3,
        batch_size=64,
        optimizer="adamw",
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
        self.d_model = d_model
        self.architecture = architecture
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.mean_recurrence = mean_recurrence
        self.backprop_depth = backprop_depth
        self.init_state = init_state
        self.positions = positions
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
        tags.input_tags.two_d_array = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ data
    def _validate_Xy(self, X, y):
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads={self.n_heads} must divide d_model={self.d_model} "
                "(each head gets d_model / n_heads features)."
            )
        X, y = validate_data(
            self, X, y, multi_output=True, dtype=None, ensure_min_features=1, y_numeric=False
        )
        X = _tokens(X, "X")
        y = _tokens(y, "y")
        if y.ndim != 2 or y.shape != X.shape:
            raise ValueError(
                f"y must be a token array of the same shape as X {X.shape} (outputs are "
                f"aligned with inputs), got shape {y.shape}."
            )
        y = np.where(X == PAD, PAD, y)
        if not (X != PAD).any(axis=1).all():
            raise ValueError("Every sequence of X needs at least one non-padding token.")
        if not (y != PAD).any():
            raise ValueError("y holds only padding tokens; there is nothing to learn.")
        if self.positions == "pointer":
            _check_pointers(X, "X")
            _check_pointers(y, "y")
            self.classes_ = np.arange(X.shape[1])
        else:
            self.classes_ = np.unique(y[y != PAD])
        self.n_tokens_ = int(X.max()) + 1
        return X, y

    def _validate_X(self, X):
        if self.positions == "pointer":
            # Any length: the node codes do not depend on it.
            X = check_array(X, dtype=None, ensure_min_features=1, input_name="X")
            X = _check_pointers(_tokens(X, "X"), "X")
        else:
            X = _tokens(validate_data(self, X, reset=False, dtype=None), "X")
            if X.size and int(X.max()) >= self.n_tokens_:
                raise ValueError(
                    f"X holds token {int(X.max())}, outside the vocabulary seen in fit "
                    f'(tokens 0..{self.n_tokens_ - 1}); positions="pointer" takes tokens '
                    "that point to positions, of any value and length."
                )
        if X.shape[0] and not (X != PAD).any(axis=1).all():
            raise ValueError("Every sequence of X needs at least one non-padding token.")
        return X

    def _to_tensor(self, X, device):
        # A copy of read-only arrays: torch cannot share them.
        X = np.require(X, dtype=np.int64, requirements="W")
        return torch.as_tensor(X, device=device)

    def _training_inputs(self, X):
        return np.asarray(X, dtype=np.int64)

    def _targets_for_training(self, y):
        if self.positions == "pointer":
            return np.asarray(y, dtype=np.int64)
        idx = np.searchsorted(self.classes_, np.where(y == PAD, self.classes_[0], y))
        return np.where(y == PAD, PAD, idx).astype(np.int64)

    def _format_output(self, y, X=None):
        idx = y.argmax(dim=-1).numpy()
        if self.positions == "pointer":  # one class per position of this input
            return np.where(idx == y.shape[-1] - 1, PAD, idx)
        pad = idx == len(self.classes_)
        return np.where(pad, PAD, self.classes_[np.minimum(idx, len(self.classes_) - 1)])

    # ------------------------------------------------------------------ model
    def _build_module(self, X, y, routed):
        """Prelude -> core iterated (implicit) or ``n_layers`` untied cores (explicit) -> coda."""
        explicit = self.architecture == "explicit"
        prelude, cores, coda = transformer_parts(
            self.n_tokens_,
            len(self.classes_),
            X.shape[1],
            d_model=int(self.d_model),
            n_heads=int(self.n_heads),
            d_ff=int(self.d_ff) if self.d_ff is not None else 2 * int(self.d_model),
            n_cores=int(self.n_layers) if explicit else 1,
            init_state=self.init_state,
            positions=self.positions,
        )
        if explicit:
            return FixedDepthModule(cores, prelude, coda)
        return self._assemble(cores[0], prelude, coda, routed)

    def _build_backward(self, routed, **defaults):
        """``mean_recurrence`` and ``backprop_depth`` are the defaults of ``"random_depth"``."""
        if self.backward == "random_depth" or self.backward is RandomDepth:
            defaults = {"mean": self.mean_recurrence, "k": self.backprop_depth, **defaults}
        return super()._build_backward(routed, **defaults)

    def _criterion(self):
        return TokenCrossEntropy

    def _net_class(self):
        return ImplicitNet

    def _net_kwargs(self):
        return {
            "callbacks": [
                ("clip", GradientNormClipping(gradient_clip_value=1.0)),
                ("schedule", _OneCycle(max_lr=self.lr)),
            ]
        }

    def fit(self, X, y, sample_weight=None):
        """Train on token sequences ``X`` and aligned target sequences ``y``.

        Parameters
        ----------
        X : array-like of int, shape (n_samples, seq_len)
            Input tokens (``-1`` = padding).
        y : array-like of int, shape (n_samples, seq_len)
            Target token at every position (ignored where ``X`` is padding).

        sample_weight : None
            Not supported (the loss is per token / per variable); must be None.

        Returns
        -------
        self : object
        """
        super().fit(X, y, sample_weight)
        self.n_params_ = sum(p.numel() for p in self.net_.module_.parameters())
        return self

    # ------------------------------------------------------------------ inference
    def _export_head(self):
        """``export`` returns :meth:`predict_proba`'s probabilities (zero rows at padding)."""
        return _TokenProba()

    def predict_proba(self, X, n_iter=None, tol=None):
        """Class probabilities at every position after ``n_iter`` loops.

        Parameters
        ----------
        X : array-like of int, shape (n_samples, seq_len)
            Input tokens.
        n_iter : int, optional
            Test-time loops; default the estimator's ``n_iter``.
        tol : float, optional
            Adaptive exit (see :meth:`solve`).

        Returns
        -------
        proba : ndarray of shape (n_samples, seq_len, n_classes) or (n_samples, seq_len, seq_len)
            Probabilities over ``classes_`` (with ``positions="pointer"``,
            over the ``seq_len`` positions of ``X``); zero rows at padded
            positions.
        """
        logits, _, _ = self._predict_raw(X, n_iter, tol)
        pad = (logits[..., -1] > 0).numpy()  # the padding class wins exactly at padding
        proba = torch.softmax(logits[..., :-1].double(), dim=-1).numpy()
        return np.where(pad[..., None], 0.0, proba)

    def score(self, X, y, sample_weight=None):
        """Per-token accuracy over non-padded positions (see :func:`token_accuracy`).

        Parameters
        ----------
        X : array-like of int, shape (n_samples, seq_len)
            Input tokens.
        y : array-like of int, shape (n_samples, seq_len)
            True tokens.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sequence weights.

        Returns
        -------
        float
        """
        y_pred = self.predict(X)
        y = np.where(np.asarray(X) == PAD, PAD, np.asarray(y))
        return token_accuracy(y, y_pred, sample_weight=sample_weight)

    # ------------------------------------------------------------------ lipschitz
    def _default_directions(self):
        """One random token substitution per copy (input distance 1)."""
        return TokenSubstitutions(n_tokens=self.n_tokens_, pad=PAD)

    def _output_summary(self):
        """Keep the predicted class indices on the device; distances are taken at the end."""
        return _argmax_indices

    def _output_distance(self, y_perturbed, y_base):
        """Levenshtein distance between the decoded token sequences (padding removed).

        Takes logits or the class indices of :meth:`_output_summary`.
        """
        a = self._tokens_of(y_perturbed)
        b = self._tokens_of(y_base)
        return torch.from_numpy(levenshtein_rows(a, b, pad=PAD).astype(np.float64))

    def _tokens_of(self, y):
        y = y.detach()
        if torch.is_floating_point(y):
            return self._format_output(y.cpu())
        summary = y.cpu().numpy()
        idx, n_columns = summary[:, :-1], summary[:, -1:]
        if self.positions == "pointer":  # the last column is padding
            return np.where(idx == n_columns - 1, PAD, idx)
        pad = idx == len(self.classes_)
        return np.where(pad, PAD, self.classes_[np.minimum(idx, len(self.classes_) - 1)])


LoopedTransformerClassifier.__doc__ = LoopedTransformerClassifier.__doc__.format(
    equilibrium=doc_fragments["equilibrium"],
    budget=doc_fragments["budget"].format(n_iter=16, tol=0.0),
    solver=doc_fragments["solver"].format(solver="picard", backward="random_depth"),
    runtime=doc_fragments["runtime"],
)


class _TokenProba(nn.Module):
    """Logits with the padding column last -> probabilities over ``classes_`` (zero at padding)."""

    def forward(self, logits):
        pad = logits[..., -1:] > 0
        proba = torch.softmax(logits[..., :-1], dim=-1)
        return torch.where(pad, torch.zeros_like(proba), proba)


def _argmax_indices(logits):
    """Class index per position, and the number of output columns as one more position.

    The pointer read-out has one column per position of the input (plus
    padding), so the column count is kept beside the indices.
    """
    idx = logits.argmax(dim=-1)
    return torch.cat([idx, idx.new_full(idx.shape[:-1] + (1,), logits.shape[-1])], dim=-1)
