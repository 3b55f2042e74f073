"""Training controls shared by every estimator: validation split, early stopping,
sample weights and the loss.

Kept apart from the base so that ``_base.py`` reads as the data path; everything
here is plumbing between scikit-learn's conventions (``sample_weight``,
``early_stopping``, ``validation_fraction``, ``n_iter_no_change``) and skorch's
training loop.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import nn

__all__ = [
    "LOSSES",
    "EarlyStoppingOnScore",
    "WeightedLoss",
    "canonical_weights",
    "pack_weights",
]

#: Loss names of the tabular estimators (scikit-learn's spelling).
LOSSES = {
    "squared_error": nn.MSELoss,
    "absolute_error": nn.L1Loss,
    "huber": nn.HuberLoss,
}


def canonical_weights(X, y, sample_weight):
    """Turn integer-like weights and repeated rows into one canonical weighted set.

    ``sample_weight=k`` must train exactly as ``k`` copies of the row, and a
    weight of 0 as the row's absence. Rows with weight 0 are dropped; identical
    ``(x, y)`` rows are merged and their weights added; when any weight is not
    1 (or any row was merged), the rows are put in lexicographic order so that
    both descriptions of the same data train bit for bit alike. Data with no
    repeated row and no weight (or all weights 1) are returned unchanged, in
    their order.

    Returns ``(X, y, sample_weight or None)``.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    n = X.shape[0]
    if sample_weight is not None:
        keep = sample_weight != 0
        X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
        if np.all(sample_weight == 1):
            sample_weight = None
    rows = np.hstack([X.reshape(X.shape[0], -1), y.reshape(y.shape[0], -1).astype(X.dtype)])
    unique, index, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    if sample_weight is None and len(unique) == X.shape[0]:
        return X, y, None
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    merged = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(unique))
    if len(unique) == 0 and n:
        raise ValueError("Every sample weight is zero; there is nothing to train on.")
    return X[index], y[index], merged


def pack_weights(y, sample_weight):
    """Append the weights to the targets as a last column (what the loss unpacks)."""
    y = np.asarray(y, dtype=np.float32)
    y = y.reshape(y.shape[0], -1)
    return np.hstack([y, np.asarray(sample_weight, dtype=np.float32)[:, None]])


class WeightedLoss(nn.Module):
    """Per-sample weighted mean ``sum_i w_i l_i / sum_i w_i`` of a torch loss.

    The targets arrive with the weights as their last column
    (:func:`pack_weights`); ``l_i`` is ``loss(reduction="none")`` averaged over
    each sample's outputs.

    Parameters
    ----------
    loss : type
        A torch loss class accepting ``reduction="none"``.
    target_dtype : torch.dtype or None
        Cast of the unpacked targets (``torch.long`` for class indices).
    squeeze : bool
        Targets as a 1-D vector (class indices) instead of a column.
    """

    def __init__(self, loss=nn.MSELoss, target_dtype=None, squeeze=False):
        super().__init__()
        self.loss = loss(reduction="none")
        self.target_dtype = target_dtype
        self.squeeze = squeeze

    def forward(self, y_pred, y_packed):
        y, w = y_packed[:, :-1], y_packed[:, -1]
        if self.squeeze:
            y = y[:, 0]
        if self.target_dtype is not None:
            y = y.to(self.target_dtype)
        else:
            y = y.reshape(y_pred.shape)
        per = self.loss(y_pred, y)
        per = per.reshape(per.shape[0], -1).mean(dim=1)
        return (per * w).sum() / w.sum().clamp_min(1e-12)


class EarlyStoppingOnScore(Callback):
    """Score the held-out part after every epoch; stop when it stops improving.

    The score is the estimator's own ``score`` (R^2, PSNR, accuracy, ...),
    computed by a view of the estimator that holds the net being trained, in
    evaluation mode. Training stops once the best score has not improved by
    more than ``min_delta`` for ``patience`` epochs; the best weights are then
    restored.

    Parameters
    ----------
    estimator : BaseImplicitEstimator
        The estimator being fitted (only read).
    X_valid, y_valid : array-like
        The held-out part, in the estimator's validated format.
    patience : int
        ``n_iter_no_change``.
    min_delta : float, default=1e-4
        Smallest improvement that counts (absolute, in the score's units).
    """

    def __init__(self, estimator, X_valid, y_valid, patience, min_delta=1e-4):
        self.estimator = estimator
        self.X_valid = X_valid
        self.y_valid = y_valid
        self.patience = patience
        self.min_delta = min_delta

    def initialize(self):
        self.scores_ = []
        self.best_score_ = -np.inf
        self.best_state_ = None
        self.stale_ = 0
        self.stopped_ = False
        return self

    def on_epoch_end(self, net, **kwargs):
        view = copy.copy(self.estimator)
        view.net_ = net
        was_training = net.module_.training
        net.module_.eval()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = float(view.score(self.X_valid, self.y_valid))
        finally:
            net.module_.train(was_training)
        self.scores_.append(score)
        net.history.record("valid_score", score)
        if score > self.best_score_ + self.min_delta or self.best_state_ is None:
            self.best_score_ = max(score, self.best_score_)
            self.best_state_ = copy.deepcopy(net.module_.state_dict())
            self.stale_ = 0
        else:
            self.stale_ += 1
            if self.stale_ >= self.patience:
                self.stopped_ = True
                raise KeyboardInterrupt  # skorch's way of ending training early

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            with torch.no_grad():
                net.module_.load_state_dict(self.best_state_)

    def get_params(self, deep=True):  # skorch inspects callbacks like estimators
        return {"patience": self.patience, "min_delta": self.min_delta}
