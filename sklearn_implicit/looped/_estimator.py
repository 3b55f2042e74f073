"""``LoopedTransformerClassifier``: a recurrent-depth transformer with a test-time loop budget."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet
from skorch.callbacks import GradientNormClipping, LRScheduler
from torch import nn

from .._estimator import BaseImplicitEstimator, CloudpickleStateMixin, _EpochProgress
from ..lipschitz import LipschitzCurve, RatioCollector, reduce_ratios
from ._levenshtein import levenshtein_rows
from ._model import LoopedTransformer, UntiedTransformer

__all__ = [
    "LoopedTransformerClassifier",
    "TokenCrossEntropy",
    "UntiedTransformerClassifier",
    "sequence_accuracy",
    "token_accuracy",
]

#: Padding token of inputs and outputs.
PAD = -1


class ImplicitNetClassifier(CloudpickleStateMixin, NeuralNet):
    """The skorch net behind the looped transformer (cloudpickle-friendly state)."""


class TokenCrossEntropy(nn.Module):
    """Cross-entropy over every non-padded position: logits (B, L, C), targets (B, L), -1 ignored."""

    def forward(self, logits, y):
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long(), ignore_index=PAD
        )


def _check_pair(y_true, y_pred):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ValueError(
            f"y_true and y_pred must be 2-D token arrays of the same shape, got "
            f"{y_true.shape} and {y_pred.shape}."
        )
    return y_true, y_pred, y_true != PAD


def token_accuracy(y_true, y_pred, sample_weight=None):
    """Fraction of correct tokens over all non-padded positions (pooled over sequences).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, seq_len)
        Token sequences; positions where ``y_true == -1`` are ignored.
    sample_weight : array-like of shape (n_samples,), optional
        Per-sequence weights, spread over the sequence's tokens.

    Returns
    -------
    float

    Examples
    --------
    >>> from sklearn_implicit.looped import token_accuracy
    >>> token_accuracy([[1, 2, -1], [3, 3, 3]], [[1, 0, -1], [3, 3, 3]])
    0.8
    """
    y_true, y_pred, mask = _check_pair(y_true, y_pred)
    w = mask.astype(np.float64)
    if sample_weight is not None:
        w = w * np.asarray(sample_weight, dtype=np.float64)[:, None]
    total = w.sum()
    return float(((y_true == y_pred) * w).sum() / total) if total > 0 else 0.0


def sequence_accuracy(y_true, y_pred, sample_weight=None):
    """Fraction of sequences whose every non-padded token is correct (exact match).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, seq_len)
        Token sequences; positions where ``y_true == -1`` are ignored.
    sample_weight : array-like of shape (n_samples,), optional
        Per-sequence weights.

    Returns
    -------
    float

    Examples
    --------
    >>> from sklearn_implicit.looped import sequence_accuracy
    >>> sequence_accuracy([[1, 2, -1], [3, 3, 3]], [[1, 0, -1], [3, 3, 3]])
    0.5
    """
    y_true, y_pred, mask = _check_pair(y_true, y_pred)
    exact = ((y_true == y_pred) | ~mask).all(axis=1)
    return float(np.average(exact, weights=sample_weight))


def _tokens(X, name):
    """Integer token array of shape (n, L); -1 is padding, other negatives are errors."""
    if not np.issubdtype(X.dtype, np.integer):
        if np.issubdtype(X.dtype, np.floating) and np.all(np.mod(X, 1) == 0):
            X = X.astype(np.int64)
        else:
            raise ValueError(
                f"{name} must hold integer tokens (padding -1); got dtype {X.dtype} "
                "with non-integer values."
            )
    X = X.astype(np.int64, copy=False)
    if (X < PAD).any():
        raise ValueError(f"{name} holds negative tokens other than the padding token -1.")
    return X


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
    the relative change of its latent state ``||h_t - h_{t-1}|| / ||h_t||``
    falls to ``tol`` (adaptive exit).

    Training follows the recurrent-depth recipe (Geiping et al. 2025,
    Huginn): every mini-batch draws its loop count
    ``r = Poisson(LogNormal(log(mean_recurrence) - 1/8, 1/2)) + 1``
    (heavy-tailed, mean ``mean_recurrence + 1``), runs ``r - k`` loops
    without gradient and backpropagates through the last
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
    n_heads : int, default=4
        Attention heads; must divide ``d_model``.
    d_ff : int or None, default=None
        Hidden width of the MLPs; None uses ``2 * d_model``.
    mean_recurrence : float, default=8.0
        Mean of the training loop-count distribution.
    backprop_depth : int, default=4
        Loops ``k`` with gradient (truncated backpropagation).
    n_iter : int, default=16
        Default test-time loops (``predict(X, n_iter=t)`` overrides it).
    tol : float, default=0.0
        Adaptive exit on the relative latent change; 0 always runs
        ``n_iter`` loops.
    init_state : {"zero", "random"}, default="zero"
        Starting state; "random" draws a standard normal state in training
        and a fixed-seed one at prediction.
    max_epochs : int, default=10
        Passes over the training data.
    lr : float, default=2e-3
        Peak learning rate.
    batch_size : int, default=64
        Sequences per mini-batch.
    optimizer : str or torch optimizer class, default="adamw"
        Options via ``optimizer__*`` (e.g. ``optimizer__weight_decay=0.01``).
    device : str, default="auto"
        Torch device.
    random_state : int, RandomState instance or None, default=None
        Seed of initialisation, shuffling and loop counts.
    verbose : int, default=0
        Progress bar over epochs when positive.
    **kwargs
        Routed ``optimizer__*`` parameters.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the :class:`LoopedTransformer`.
    classes_ : ndarray
        Output tokens seen in fit (padding excluded).
    n_tokens_ : int
        Input vocabulary size (largest input token + 1).
    n_features_in_ : int
        Sequence length.
    n_params_ : int
        Trainable parameters.
    loss_curve_ : list of float
        Training loss per epoch.

    See Also
    --------
    UntiedTransformerClassifier : The explicit baseline (the core stacked untied).
    sklearn_implicit.datasets.make_pointer_chasing : A task where loops help.

    Notes
    -----
    :meth:`score` is the **per-token accuracy** over non-padded positions
    (:func:`token_accuracy`); :func:`sequence_accuracy` gives the
    exact-sequence accuracy. :meth:`lipschitz_curve` measures the paper's
    Levenshtein "Lipschitz" ratio.

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
    >>> curve = est.lipschitz_curve(X[:4], n_iter=3, random_state=0)
    >>> curve.lipschitz.shape
    (3,)
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in BaseImplicitEstimator._parameter_constraints.items()
            if k not in ("operator", "encoder", "decoder", "solver", "backward")
        },
        "d_model": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "d_ff": [None, Interval(Integral, 1, None, closed="left")],
        "mean_recurrence": [Interval(Real, 0, None, closed="neither")],
        "backprop_depth": [Interval(Integral, 1, None, closed="left")],
        "init_state": [StrOptions({"zero", "random"})],
    }

    def __init__(
        self,
        d_model=64,
        *,
        n_heads=4,
        d_ff=None,
        mean_recurrence=8.0,
        backprop_depth=4,
        n_iter=16,
        tol=0.0,
        init_state="zero",
        max_epochs=10,
        lr=2e-3,
        batch_size=64,
        optimizer="adamw",
        device="auto",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.mean_recurrence = mean_recurrence
        self.backprop_depth = backprop_depth
        self.n_iter = n_iter
        self.tol = tol
        self.init_state = init_state
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self._set_prefixed(kwargs, error=TypeError)

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ hooks
    def _check_width(self):
        if self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads={self.n_heads} must divide d_model={self.d_model} "
                "(each head gets d_model / n_heads features)."
            )

    def _validate_Xy(self, X, y):
        self._check_width()
        X, y = validate_data(
            self, X, y, multi_output=True, dtype=None, ensure_min_features=1, y_numeric=False
        )
        X = _tokens(np.asarray(X), "X")
        y = _tokens(np.asarray(y), "y")
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
        self.classes_ = np.unique(y[y != PAD])
        self.n_tokens_ = int(X.max()) + 1
        self._n_fit_rows = X.shape[0]
        return X, y

    def _validate_X(self, X):
        X = validate_data(self, X, reset=False, dtype=None)
        X = _tokens(np.asarray(X), "X")
        if X.size and int(X.max()) >= self.n_tokens_:
            raise ValueError(
                f"X holds token {int(X.max())}, outside the vocabulary seen in fit "
                f"(tokens 0..{self.n_tokens_ - 1})."
            )
        if X.shape[0] and not (X != PAD).any(axis=1).all():
            raise ValueError("Every sequence of X needs at least one non-padding token.")
        return X

    def _to_tensor(self, X, device):
        return torch.as_tensor(np.asarray(X), dtype=torch.long, device=device)

    def _training_inputs(self, X):
        return np.asarray(X, dtype=np.int64)

    def _targets_for_training(self, y):
        idx = np.searchsorted(self.classes_, np.where(y == PAD, self.classes_[0], y))
        return np.where(y == PAD, PAD, idx).astype(np.int64)

    def _criterion(self):
        return TokenCrossEntropy

    def _net_class(self):
        return ImplicitNetClassifier

    def _net_kwargs(self):
        callbacks = [("progress", _EpochProgress(self.max_epochs))] if self.verbose else []
        callbacks.append(("clip", GradientNormClipping(gradient_clip_value=1.0)))
        total = max(1, self.max_epochs * math.ceil(self._n_fit_rows / self.batch_size))
        if total > 1:
            callbacks.append(
                (
                    "schedule",
                    LRScheduler(
                        policy=torch.optim.lr_scheduler.OneCycleLR,
                        max_lr=self.lr,
                        total_steps=total,
                        pct_start=0.1,
                        step_every="batch",
                    ),
                )
            )
        return {"callbacks": callbacks}

    def _dims(self):
        return {
            "d_model": int(self.d_model),
            "n_heads": int(self.n_heads),
            "d_ff": int(self.d_ff) if self.d_ff is not None else 2 * int(self.d_model),
        }

    def _build_module(self, X, y):
        return LoopedTransformer(
            self.n_tokens_,
            len(self.classes_),
            X.shape[1],
            mean_recurrence=self.mean_recurrence,
            backprop_depth=self.backprop_depth,
            n_iter=self.n_iter,
            init_state=self.init_state,
            **self._dims(),
        )

    def fit(self, X, y):
        """Train on token sequences ``X`` and aligned target sequences ``y``.

        Parameters
        ----------
        X : array-like of int, shape (n_samples, seq_len)
            Input tokens (``-1`` = padding).
        y : array-like of int, shape (n_samples, seq_len)
            Target token at every position (ignored where ``X`` is padding).

        Returns
        -------
        self : object
        """
        super().fit(X, y)
        del self._n_fit_rows
        self.n_params_ = sum(p.numel() for p in self.net_.module_.parameters())
        return self

    def _warn_info(self, info, explicit_budget):
        super()._warn_info(info, explicit_budget=explicit_budget or info.tol == 0)

    def _format_output(self, y):
        idx = y.argmax(dim=-1).numpy()
        pad = idx == len(self.classes_)
        return np.where(pad, PAD, self.classes_[np.minimum(idx, len(self.classes_) - 1)])

    def predict(self, X, n_iter=None, tol=None):
        """Token sequences after ``n_iter`` loops of the recurrent core.

        Parameters
        ----------
        X : array-like of int, shape (n_samples, seq_len)
            Input tokens (``-1`` = padding).
        n_iter : int, optional
            Test-time loops ``t`` (exactly ``t`` when ``tol`` is not given).
            Default: the estimator's ``n_iter`` with its ``tol``.
        tol : float, optional
            Adaptive exit: a sample stops once its relative latent change is
            at most ``tol``.

        Returns
        -------
        y : ndarray of int64, shape (n_samples, seq_len)
            Predicted tokens, ``-1`` at padded positions.
        """
        return super().predict(X, n_iter=n_iter, tol=tol)

    def predict_proba(self, X, n_iter=None):
        """Class probabilities at every position after ``n_iter`` loops.

        Parameters
        ----------
        X : array-like of int, shape (n_samples, seq_len)
            Input tokens.
        n_iter : int, optional
            Test-time loops; default the estimator's ``n_iter``.

        Returns
        -------
        proba : ndarray of shape (n_samples, seq_len, n_classes)
            Probabilities over ``classes_``; zero rows at padded positions.
        """
        check_is_fitted(self)
        max_iter, tol = self._budget(n_iter, None)
        X = self._validate_X(X)
        logits, _ = self._run(X, max_iter=max_iter, tol=tol)
        proba = torch.softmax(logits[..., :-1].double(), dim=-1).numpy()
        return np.where((X == PAD)[..., None], 0.0, proba)

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
    def _output_distance(self, y_perturbed, y_base):
        """Levenshtein distance between the decoded token sequences (padding removed)."""
        a = self._format_output(y_perturbed.detach().cpu())
        b = self._format_output(y_base.detach().cpu())
        return torch.from_numpy(levenshtein_rows(a, b, pad=PAD).astype(np.float64))

    def _perturb(self, X, eps, n_directions, rng):
        """``n_directions`` copies of ``X``, each with one random non-pad token replaced.

        The position is uniform over the non-padded ones and the new token
        uniform over the other tokens of the vocabulary; input distance 1.
        """
        if self.n_tokens_ < 2:
            raise ValueError("Token substitutions need a vocabulary of at least 2 tokens.")
        parts = []
        valid = X != PAD
        for _ in range(n_directions):
            Xp = X.copy()
            scores = rng.random_sample(X.shape) * valid
            pos = scores.argmax(axis=1)
            rows = np.arange(X.shape[0])
            old = X[rows, pos]
            new = rng.randint(0, self.n_tokens_ - 1, size=X.shape[0])
            Xp[rows, pos] = new + (new >= old)
            parts.append(Xp)
        return np.concatenate(parts), np.ones(n_directions * X.shape[0])

    def lipschitz_curve(
        self, X, n_iter=None, *, X_pairs=None, n_directions=4, reduce="mean", random_state=None
    ):
        """The paper's Levenshtein "Lipschitz" ratio as a function of the loops ``t``.

        For pairs of inputs that differ a little (by default one token,
        substituted at random; or the pairs ``(X[i], X_pairs[i])``), the
        ratio ``Levenshtein(y_t(x), y_t(x')) / Levenshtein(x, x')`` of the
        predicted token sequences after ``t`` loops, reduced over pairs
        (mean, as in the paper's LLM figure). All ``t = 1..n_iter`` come from
        one trajectory of the stacked batch.

        Parameters
        ----------
        X : array-like of int, shape (n_samples, seq_len)
            Inputs.
        n_iter : int, optional
            Largest number of loops ``T``; default the estimator's ``n_iter``.
        X_pairs : array-like of int, shape (n_samples, seq_len), optional
            Partners of the rows of ``X`` (each must differ from its row).
            Default: random single-token substitutions.
        n_directions : int, default=4
            Random substitutions per sample (ignored with ``X_pairs``).
        reduce : {"mean", "max"}, default="mean"
            Aggregation over pairs.
        random_state : int, RandomState instance or None
            Seed of the substitutions.

        Returns
        -------
        LipschitzCurve
            ``lipschitz[t - 1]`` is the ratio at ``t`` loops; ``ratios`` has
            shape ``(T, n_pairs)``; ``eps`` is the mean input distance.
        """
        check_is_fitted(self)
        max_iter, _ = self._budget(n_iter, None)
        if reduce not in ("max", "mean"):
            raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}.")
        X = self._validate_X(X)
        if X_pairs is not None:
            Xp = self._validate_X(X_pairs)
            if Xp.shape != X.shape:
                raise ValueError(f"X_pairs has shape {Xp.shape}, expected {X.shape}.")
            norms = levenshtein_rows(X, Xp, pad=PAD).astype(np.float64)
            if (norms == 0).any():
                raise ValueError(
                    f"{int((norms == 0).sum())} rows of X_pairs equal their row of X; every "
                    "pair must differ (the ratio divides by the input distance)."
                )
            r = 1
        else:
            if (
                isinstance(n_directions, bool)
                or not isinstance(n_directions, Integral)
                or n_directions < 1
            ):
                raise ValueError(f"n_directions must be an integer >= 1, got {n_directions!r}.")
            r = int(n_directions)
            Xp, norms = self._perturb(X, 1.0, r, check_random_state(random_state))
        n = X.shape[0]
        collector = RatioCollector(
            n, r, torch.as_tensor(norms, dtype=torch.float64), max_iter, self._output_distance
        )
        self._run(
            np.concatenate([X, Xp]),
            max_iter=max_iter,
            tol=0.0,
            callback=lambda s0, s1, k, y: collector(k, y),
            chunk_size=n * (1 + r),
        )
        ratios = collector.ratios.reshape(max_iter, r, n).transpose(1, 2).reshape(max_iter, -1)
        ratios = ratios.numpy()
        return LipschitzCurve(
            n_iter=np.arange(1, max_iter + 1),
            lipschitz=reduce_ratios(ratios, reduce),
            ratios=ratios,
            eps=float(np.mean(norms)),
            reduce=reduce,
        )


class UntiedTransformerClassifier(LoopedTransformerClassifier):
    """Explicit baseline: the recurrent core's block stacked ``n_layers`` times, untied.

    Prelude -> ``n_layers`` layers with the architecture of the recurrent
    core (input injection included) but each with its own weights, run once
    -> coda. With ``n_layers=1`` it has exactly the parameters of the
    :class:`LoopedTransformerClassifier` of the same width; each extra layer
    adds one core's worth. The output does not depend on a loop budget:
    ``predict(X, n_iter=t)`` is the same for every ``t``. Trained with the
    same loss, optimiser and schedule.

    Parameters
    ----------
    d_model : int, default=64
        Width.
    n_layers : int, default=1
        Untied core layers.
    n_heads, d_ff, max_epochs, lr, batch_size, optimizer, device, random_state, verbose, **kwargs
        As in :class:`LoopedTransformerClassifier`.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net.
    n_params_ : int
        Trainable parameters.

    Examples
    --------
    >>> from sklearn_implicit.looped import UntiedTransformerClassifier
    >>> UntiedTransformerClassifier(d_model=32).get_params()["n_layers"]
    1
    """

    #: No loops: these make the shared inference code run once.
    n_iter = 1
    tol = 0.0

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in LoopedTransformerClassifier._parameter_constraints.items()
            if k not in ("n_iter", "tol", "mean_recurrence", "backprop_depth", "init_state")
        },
        "n_layers": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        d_model=64,
        *,
        n_layers=1,
        n_heads=4,
        d_ff=None,
        max_epochs=10,
        lr=2e-3,
        batch_size=64,
        optimizer="adamw",
        device="auto",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self._set_prefixed(kwargs, error=TypeError)

    def _build_module(self, X, y):
        return UntiedTransformer(
            self.n_tokens_, len(self.classes_), X.shape[1], n_layers=self.n_layers, **self._dims()
        )
