"""Blur physics: circular convolution by FFT with its adjoint and regularised inverse."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

__all__ = ["BlurFFT", "blur_kernel", "gaussian_kernel", "motion_kernel"]


def gaussian_kernel(size=9, sigma=1.6):
    """Isotropic Gaussian blur kernel, normalised to sum 1.

    Parameters
    ----------
    size : int, default=9
        Side of the (square, odd) kernel.
    sigma : float, default=1.6
        Standard deviation in pixels.

    Returns
    -------
    kernel : ndarray of shape (size, size)

    Examples
    --------
    >>> from sklearn_implicit.imaging import gaussian_kernel
    >>> k = gaussian_kernel(5, 1.0)
    >>> k.shape, round(float(k.sum()), 6)
    ((5, 5), 1.0)
    """
    _check_size(size)
    if not (isinstance(sigma, Real) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def motion_kernel(size=9, *, seed=1, n_steps=200):
    """Motion blur kernel from a smooth random camera trajectory (Levin et al. style).

    The trajectory is a random walk with momentum, rasterised with bilinear
    weights on a ``size x size`` grid and normalised to sum 1. ``seed`` fixes
    the trajectory, so the generator and the estimator can share one kernel
    (the paper uses one fixed Levin kernel).

    Parameters
    ----------
    size : int, default=9
        Side of the (square, odd) kernel.
    seed : int, default=1
        Seed of the trajectory.
    n_steps : int, default=200
        Number of trajectory samples.

    Returns
    -------
    kernel : ndarray of shape (size, size)

    Examples
    --------
    >>> from sklearn_implicit.imaging import motion_kernel
    >>> k = motion_kernel(9)
    >>> k.shape, round(float(k.sum()), 6), bool((k >= 0).all())
    ((9, 9), 1.0, True)
    """
    _check_size(size)
    rng = np.random.RandomState(seed)
    pos = np.zeros(2)
    vel = rng.standard_normal(2)
    vel /= np.linalg.norm(vel)
    path = []
    for _ in range(n_steps):
        vel = 0.95 * vel + 0.35 * rng.standard_normal(2)
        vel /= max(np.linalg.norm(vel), 1e-12)
        pos = pos + vel
        path.append(pos.copy())
    path = np.array(path)
    path -= (path.max(0) + path.min(0)) / 2  # centre the trajectory
    extent = np.abs(path).max()
    half = (size - 1) / 2
    path *= (half - 0.5) / max(extent, 1e-12)
    path += half
    k = np.zeros((size, size))
    for y, x in path:
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        dy, dx = y - y0, x - x0
        for yy, xx, w in (
            (y0, x0, (1 - dy) * (1 - dx)),
            (y0 + 1, x0, dy * (1 - dx)),
            (y0, x0 + 1, (1 - dy) * dx),
            (y0 + 1, x0 + 1, dy * dx),
        ):
            if 0 <= yy < size and 0 <= xx < size:
                k[yy, xx] += w
    return k / k.sum()


def blur_kernel(kernel="motion", size=9):
    """The kernel named ``kernel`` (``"motion"`` or ``"gaussian"``), or ``kernel`` itself.

    Parameters
    ----------
    kernel : {"motion", "gaussian"} or array-like of shape (k, k)
        A name, or an explicit kernel (normalised to sum 1).
    size : int, default=9
        Side of a named kernel.

    Returns
    -------
    kernel : ndarray of shape (k, k)
    """
    if isinstance(kernel, str):
        if kernel == "motion":
            return motion_kernel(size)
        if kernel == "gaussian":
            return gaussian_kernel(size)
        raise ValueError(f"kernel must be 'motion', 'gaussian' or an array, got {kernel!r}.")
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or not np.all(np.isfinite(k)) or k.sum() <= 0:
        raise ValueError("An explicit kernel must be a finite 2-D array with a positive sum.")
    return k / k.sum()


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, Integral) or size < 1 or size % 2 == 0:
        raise ValueError(f"The kernel size must be an odd positive integer, got {size!r}.")


class BlurFFT(nn.Module):
    """Circular convolution ``A x = k * x`` computed in the Fourier domain, at any image size.

    The kernel is zero-padded to the image size and rolled so that its
    centre sits at pixel ``(0, 0)``; ``A`` is then diagonal in the 2-D DFT
    basis with eigenvalues ``F = fft2(k_padded)``, so ``A^T`` multiplies by
    ``conj(F)`` and ``(A^T A + beta I)^{-1}`` divides by ``|F|^2 + beta``.
    Works on tensors of shape ``(..., H, W)`` of any ``H, W`` at least the
    kernel's: the eigenvalues of ``image_shape`` are a buffer (they follow
    the module's device), those of other sizes are computed on first use and
    cached per ``(H, W, device, dtype)`` (the last few sizes).

    Parameters
    ----------
    kernel : array-like of shape (k, k)
        Blur kernel (``k <= min(H, W)``).
    image_shape : tuple of int
        ``(H, W)`` of the buffered eigenvalues (the training size).

    Attributes
    ----------
    filter : torch.Tensor of shape (H, W // 2 + 1), complex
        The eigenvalues ``rfft2(k_padded)`` at ``image_shape`` (a buffer).
    kernel : ndarray of shape (k, k)
        The kernel (float64).

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.imaging import BlurFFT, gaussian_kernel
    >>> A = BlurFFT(gaussian_kernel(5, 1.0), (16, 16))
    >>> x, y = torch.rand(2, 1, 16, 16, dtype=torch.float64).unbind(0)
    >>> bool(torch.isclose((A(x) * y).sum(), (x * A.adjoint(y)).sum()))
    True
    >>> A(torch.rand(2, 3, 40, 24)).shape  # another size: its own eigenvalues
    torch.Size([2, 3, 40, 24])
    """

    #: Sizes whose eigenvalues are kept besides the buffered one.
    _cache_size = 8

    def __init__(self, kernel, image_shape):
        super().__init__()
        self.kernel = np.asarray(kernel, dtype=np.float64)
        H, W = (int(s) for s in image_shape)
        self.image_shape = (H, W)
        self.kernel_size = self.kernel.shape
        self.register_buffer("filter", self._eigenvalues((H, W)))
        self._filters = {}

    def _eigenvalues(self, shape):
        """``rfft2`` of the kernel padded to ``shape`` (complex64, on the CPU)."""
        k = self.kernel
        H, W = shape
        if k.shape[0] > H or k.shape[1] > W:
            raise ValueError(f"The kernel {k.shape} is larger than the image {(H, W)}.")
        pad = np.zeros((H, W))
        pad[: k.shape[0], : k.shape[1]] = k
        pad = np.roll(pad, (-(k.shape[0] // 2), -(k.shape[1] // 2)), axis=(0, 1))
        return torch.fft.rfft2(torch.tensor(pad)).to(torch.complex64)

    def eigenvalues(self, shape=None, *, device=None, dtype=torch.complex64):
        """The eigenvalues ``F`` of ``A`` for images of ``shape`` (default ``image_shape``).

        Parameters
        ----------
        shape : tuple of int, optional
            ``(H, W)``.
        device : torch.device, optional
            Default: the buffer's.
        dtype : torch.dtype, default=torch.complex64
            ``torch.complex128`` for float64 images.

        Returns
        -------
        F : torch.Tensor of shape (H, W // 2 + 1)
        """
        shape = self.image_shape if shape is None else tuple(int(s) for s in shape)
        device = self.filter.device if device is None else torch.device(device)
        if shape == self.image_shape and device == self.filter.device:
            return self.filter.to(dtype)
        key = (shape, str(device), dtype)
        filt = self._filters.get(key)
        if filt is None:
            base = self.filter if shape == self.image_shape else self._eigenvalues(shape)
            filt = base.to(device=device, dtype=dtype)
            while len(self._filters) >= self._cache_size:
                self._filters.pop(next(iter(self._filters)))
            self._filters[key] = filt
        return filt

    def _filter_for(self, x):
        dtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        return self.eigenvalues(x.shape[-2:], device=x.device, dtype=dtype)

    def _mul(self, x, filt):
        return torch.fft.irfft2(torch.fft.rfft2(x) * filt, s=x.shape[-2:])

    def forward(self, x):
        """``A x``."""
        return self._mul(x, self._filter_for(x))

    def adjoint(self, y):
        """``A^T y``."""
        return self._mul(y, self._filter_for(y).conj())

    def normal_inverse(self, v, beta):
        """``(A^T A + beta I)^{-1} v``; ``beta`` a positive float or tensor broadcastable to v."""
        denom = self._filter_for(v).abs() ** 2
        return torch.fft.irfft2(torch.fft.rfft2(v) / (denom + beta), s=v.shape[-2:])

    def singular_values(self, shape=None):
        """``|F|``: the singular values of ``A`` on the ``(H, W//2+1)`` half spectrum.

        ``shape`` is ``(H, W)``; default ``image_shape``.
        """
        return self.eigenvalues(shape).abs()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_filters"] = {}  # a cache, possibly on a device the unpickler lacks
        return state
