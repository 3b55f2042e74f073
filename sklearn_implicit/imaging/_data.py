"""Blurred crops of real photographs shipped with scikit-image and scikit-learn."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["IMAGE_SOURCES", "load_source_image", "make_blurred_images"]

#: Source photographs of each subset: ``name -> (package, file)``. Every file is
#: bundled inside the installed package (no download); the subsets share no image.
IMAGE_SOURCES = {
    "train": {
        "astronaut": ("skimage", "astronaut.png"),
        "coffee": ("skimage", "coffee.png"),
        "chelsea": ("skimage", "chelsea.png"),
        "coins": ("skimage", "coins.png"),
        "rocket": ("skimage", "rocket.jpg"),
        "motorcycle_left": ("skimage", "motorcycle_left.png"),
        "hubble_deep_field": ("skimage", "hubble_deep_field.jpg"),
        "immunohistochemistry": ("skimage", "ihc.png"),
        "retina": ("skimage", "retina.jpg"),
        "brick": ("skimage", "brick.png"),
        "grass": ("skimage", "grass.png"),
        "gravel": ("skimage", "gravel.png"),
    },
    "test": {
        "camera": ("skimage", "camera.png"),
        "china": ("sklearn", "china.jpg"),
        "flower": ("sklearn", "flower.jpg"),
    },
}

_SCALE = 0.5  # photographs are downscaled (anti-aliased) so small crops hold structure
_CACHE: dict = {}


def _package_file(package, filename):
    if package == "skimage":
        import skimage.data

        folder = os.path.dirname(skimage.data.__file__)
    else:
        import sklearn.datasets

        folder = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    path = os.path.join(folder, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The bundled image {filename!r} was not found in the installed {package} "
            f"({path}); sklearn-implicit never downloads images."
        )
    return path


def load_source_image(name):
    """One source photograph as a grayscale float64 array in [0, 1] (downscaled by 2).

    Parameters
    ----------
    name : str
        A key of ``IMAGE_SOURCES["train"]`` or ``IMAGE_SOURCES["test"]``.

    Returns
    -------
    image : ndarray of shape (height, width)
    """
    if name in _CACHE:
        return _CACHE[name]
    sources = {**IMAGE_SOURCES["train"], **IMAGE_SOURCES["test"]}
    if name not in sources:
        raise ValueError(f"Unknown source image {name!r}; expected one of {sorted(sources)}.")
    try:
        from skimage.color import rgb2gray, rgba2rgb
        from skimage.io import imread
        from skimage.transform import rescale
        from skimage.util import img_as_float
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "make_blurred_images needs scikit-image (its bundled photographs): "
            'pip install "sklearn-implicit[imaging]".'
        ) from exc

    img = img_as_float(imread(_package_file(*sources[name])))
    if img.ndim == 3 and img.shape[-1] == 4:
        img = rgba2rgb(img)
    if img.ndim == 3:
        img = rgb2gray(img)
    img = np.clip(rescale(img, _SCALE, anti_aliasing=True), 0.0, 1.0)
    _CACHE[name] = img
    return img


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "size": [Interval(Integral, 4, None, closed="left")],
        "kernel": [StrOptions({"motion", "gaussian"}), "array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "subset": [StrOptions(set(IMAGE_SOURCES))],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_blurred_images(
    n_samples=100,
    *,
    size=32,
    kernel="motion",
    kernel_size=9,
    noise=0.03,
    subset="train",
    random_state=None,
):
    """Blurred, noisy crops of real photographs and their sharp originals.

    Square grayscale crops of photographs bundled with scikit-image and
    scikit-learn (nothing is downloaded) are blurred by circular convolution
    with a motion or Gaussian kernel (:class:`~sklearn_implicit.imaging.BlurFFT`,
    the same physics :class:`~sklearn_implicit.imaging.DeblurRegressor` uses)
    and corrupted by Gaussian noise of standard deviation ``noise``. The
    ``"train"`` and ``"test"`` subsets crop disjoint sets of source
    photographs (:data:`IMAGE_SOURCES`).

    **Shape convention.** Images are flattened row-major: ``X`` and ``y``
    have shape ``(n_samples, size * size)`` so they pass scikit-learn's
    validation, cross-validation slicing and pipelines unchanged;
    ``X.reshape(-1, size, size)`` gives the images back. Values of ``y`` are
    in [0, 1]; ``X`` is not clipped.

    Parameters
    ----------
    n_samples : int, default=100
        Number of crops.
    size : int, default=32
        Side of the square crops (at least 4, at most the side of the
        smallest source photograph).
    kernel : {"motion", "gaussian"} or array-like, default="motion"
        Blur kernel (see :func:`~sklearn_implicit.imaging.blur_kernel`).
    kernel_size : int, default=9
        Side of a named kernel (odd).
    noise : float, default=0.03
        Standard deviation of the additive Gaussian noise (images in [0, 1];
        non-negative and finite).
    subset : {"train", "test"}, default="train"
        Which source photographs to crop.
    random_state : int, RandomState instance or None, default=None
        Seed of the crops and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, size * size)
        Blurred, noisy images (float64).
    y : ndarray of shape (n_samples, size * size)
        Sharp images (float64).

    Examples
    --------
    >>> from sklearn_implicit.datasets import make_blurred_images
    >>> X, y = make_blurred_images(4, size=16, random_state=0)
    >>> X.shape, y.shape
    ((4, 256), (4, 256))
    """
    import torch

    from ._physics import BlurFFT, blur_kernel

    rng = check_random_state(random_state)
    names = sorted(IMAGE_SOURCES[subset])
    images = [load_source_image(n) for n in names]
    if any(min(im.shape) < size for im in images):
        raise ValueError(f"size={size} is larger than a source photograph.")
    which = rng.randint(0, len(images), size=n_samples)  # sources drawn uniformly
    y = np.empty((n_samples, size, size))
    for i, j in enumerate(which):
        im = images[j]
        r = rng.randint(0, im.shape[0] - size + 1)
        c = rng.randint(0, im.shape[1] - size + 1)
        y[i] = im[r : r + size, c : c + size]
    A = BlurFFT(blur_kernel(kernel, kernel_size), (size, size))
    X = A(torch.from_numpy(y)).numpy() + noise * rng.standard_normal(y.shape)
    return X.reshape(n_samples, -1), y.reshape(n_samples, -1)
