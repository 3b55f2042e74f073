"""The operator-learning metric and its training loss: the relative L2 error."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["RelativeL2Loss", "relative_l2_error"]


def relative_l2_error(y_true, y_pred):
    """Mean over samples of ``||y_pred - y_true|| / ||y_true||`` (the operator-learning metric).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_features)
        Reference and predicted fields, one flattened field per row.

    Returns
    -------
    error : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.pde import relative_l2_error
    >>> y = np.ones((2, 4))
    >>> relative_l2_error(y, 1.1 * y)
    0.1
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"Shapes differ: y_true {y_true.shape}, y_pred {y_pred.shape}.")
    n = y_true.shape[0]
    num = np.linalg.norm((y_pred - y_true).reshape(n, -1), axis=1)
    den = np.maximum(np.linalg.norm(y_true.reshape(n, -1), axis=1), 1e-12)
    return round(float(np.mean(num / den)), 12)


class RelativeL2Loss(nn.Module):
    """Training loss: mean over the batch of ``||y_pred - y|| / ||y||``."""

    def forward(self, y_pred, y_true):
        n = y_true.shape[0]
        num = torch.linalg.vector_norm((y_pred - y_true).reshape(n, -1), dim=1)
        den = torch.linalg.vector_norm(y_true.reshape(n, -1), dim=1).clamp_min(1e-12)
        return (num / den).mean()
