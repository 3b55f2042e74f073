"""Token metrics and the training loss of the looped transformer (padding ``-1`` ignored)."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from torch import nn

__all__ = ["PAD", "TokenCrossEntropy", "sequence_accuracy", "token_accuracy"]

#: Padding token of inputs and outputs.
PAD = -1


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
