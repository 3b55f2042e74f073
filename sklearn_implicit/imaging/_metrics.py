"""Image quality: the peak signal-to-noise ratio of flattened images."""

from __future__ import annotations

import numpy as np

__all__ = ["peak_signal_noise_ratio"]


def peak_signal_noise_ratio(y_true, y_pred, *, data_range=1.0):
    """Mean over images of the PSNR ``10 log10(data_range^2 / MSE)`` in dB.

    The same value as averaging :func:`skimage.metrics.peak_signal_noise_ratio`
    with ``data_range`` over the rows (one row = one flattened image).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_pixels)
        Reference and estimated images, one per row.
    data_range : float, default=1.0
        Dynamic range of the images.

    Returns
    -------
    psnr : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit.imaging import peak_signal_noise_ratio
    >>> y = np.zeros((2, 4))
    >>> float(peak_signal_noise_ratio(y, y + 0.1))
    20.0
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"Shapes differ: y_true {y_true.shape}, y_pred {y_pred.shape}.")
    n = y_true.shape[0] if y_true.ndim > 1 else 1
    mse = ((y_true - y_pred) ** 2).reshape(n, -1).mean(axis=1)
    mse = np.maximum(mse, 1e-20)
    return float(np.mean(10 * np.log10(data_range**2 / mse)))
