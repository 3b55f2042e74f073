"""The paper's error metric for predicted LP solutions, and the training loss."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["MaskedMSELoss", "lp_relative_error"]


class MaskedMSELoss(nn.Module):
    """Mean squared error over the finite entries of the target (NaN = padded slot).

    Targets are padded with NaN where an instance has fewer variables than
    the batch; those slots add nothing to the loss nor to its gradient.
    """

    def forward(self, y_pred, y_true):
        valid = torch.isfinite(y_true)
        diff = torch.where(valid, y_pred - torch.where(valid, y_true, 0.0), 0.0)
        return (diff**2).sum() / valid.sum().clamp_min(1)


def lp_relative_error(y_true, y_pred):
    """Mean over instances of ``||y_hat - y*|| / (||y*|| + 1)``.

    NaN entries of ``y_true`` mark padded variable slots (instances with
    fewer variables) and are ignored, as are the matching entries of
    ``y_pred``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_variables)
        Optimal solutions.
    y_pred : array-like of shape (n_samples, n_variables)
        Predictions.

    Returns
    -------
    float

    Examples
    --------
    >>> from sklearn_implicit.lp import lp_relative_error
    >>> lp_relative_error([[3.0, 4.0]], [[3.0, 4.0]])
    0.0
    >>> round(lp_relative_error([[3.0, 4.0]], [[0.0, 4.0]]), 3)
    0.5
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim == 1:
        y_true, y_pred = y_true[None], y_pred.reshape(1, -1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}."
        )
    valid = np.isfinite(y_true)
    if np.isnan(y_pred[valid]).any():
        raise ValueError("y_pred contains NaN on real (non-padded) variables.")
    diff = np.where(valid, y_pred - np.where(valid, y_true, 0.0), 0.0)
    ref = np.where(valid, y_true, 0.0)
    err = np.linalg.norm(diff, axis=1) / (np.linalg.norm(ref, axis=1) + 1.0)
    return float(err.mean())
