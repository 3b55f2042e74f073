"""How a batch of images is laid out: flat rows, ``(n, H, W)`` or ``(n, C, H, W)``.

One rule, shared by the estimator (which validates and explains) and the
torch modules (which fold any layout into ``(n, C, H, W)`` and back):

- ``(n, C, H, W)`` arrays are images as they are;
- ``(n, H, W)`` arrays are single-channel images;
- flat rows of ``C * H * W`` values, with ``(C, H, W)`` the model's image
  shape, are images of that shape; rows of another length are square
  images with the model's ``C`` channels (``C * s * s`` values) when the
  model's images are square, and are refused otherwise.
"""

from __future__ import annotations

import math

__all__ = ["batch_image_shape", "looks_channels_last", "square_side"]


def square_side(n_values, channels):
    """``s`` with ``n_values == channels * s * s``, or None."""
    if n_values % channels:
        return None
    side = math.isqrt(n_values // channels)
    return side if side * side * channels == n_values and side > 0 else None


def looks_channels_last(shape):
    """Whether a ``(C, H, W)`` reading of ``shape`` is more likely ``(H, W, C)``.

    True when the last entry is a usual channel count (1, 3 or 4) and the
    first is larger than 4: read channels-first, that would be more than
    four channels of images at most four pixels wide.
    """
    return len(shape) == 3 and shape[-1] in (1, 3, 4) and shape[0] > 4


def batch_image_shape(shape, image_shape):
    """The ``(n, C, H, W)`` shape a batch of shape ``shape`` folds into.

    Parameters
    ----------
    shape : tuple of int
        Shape of the batch: ``(n, d)`` rows, ``(n, H, W)`` or ``(n, C, H, W)``.
    image_shape : tuple of int or None
        ``(C, H, W)`` of the model's images, needed for rows.

    Returns
    -------
    shape : tuple of int
        ``(n, C, H, W)``; the batch is ``reshape``-d into it (and back).

    Examples
    --------
    >>> from sklearn_implicit.imaging._layout import batch_image_shape
    >>> batch_image_shape((5, 256), (1, 16, 16)), batch_image_shape((5, 576), (1, 16, 16))
    ((5, 1, 16, 16), (5, 1, 24, 24))
    >>> batch_image_shape((5, 24, 32), None)
    (5, 1, 24, 32)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 4:
        return shape
    if len(shape) == 3:
        return (shape[0], 1, shape[1], shape[2])
    if len(shape) != 2:
        raise ValueError(
            f"Images come as (n, H*W) rows, (n, H, W) or (n, C, H, W) arrays; got shape {shape}."
        )
    if image_shape is None:
        raise ValueError(f"Rows of {shape[1]} values need an image shape (C, H, W) to fold into.")
    C, H, W = image_shape
    if shape[1] == C * H * W:
        return (shape[0], C, H, W)
    side = square_side(shape[1], C) if H == W else None
    if side is None:
        what = f"square images with {C} channel(s)" if H == W else f"{(C, H, W)} images"
        raise ValueError(
            f"Rows of {shape[1]} values are not {what}; pass the images as an (n, H, W) or "
            "(n, C, H, W) array."
        )
    return (shape[0], C, side, side)
