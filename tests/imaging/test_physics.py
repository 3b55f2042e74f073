"""Blur physics: FFT convolution against direct convolution, adjointness, inverse."""

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate

from sklearn_implicit.imaging import BlurFFT, blur_kernel, gaussian_kernel, motion_kernel


@pytest.mark.parametrize("kernel", ["motion", "gaussian"])
def test_fft_blur_matches_direct_circular_convolution(kernel):
    rng = np.random.RandomState(0)
    k = blur_kernel(kernel, 7)
    x = rng.rand(20, 24)
    A = BlurFFT(k, x.shape)
    fft = A(torch.from_numpy(x)).numpy()
    # Circular convolution (the kernel flipped for correlate) about its centre.
    direct = correlate(x, k[::-1, ::-1], mode="wrap")
    np.testing.assert_allclose(fft, direct, atol=1e-6)


def test_adjoint_and_inverse():
    rng = np.random.RandomState(1)
    A = BlurFFT(motion_kernel(9), (16, 16))
    x = torch.from_numpy(rng.randn(3, 1, 16, 16))
    y = torch.from_numpy(rng.randn(3, 1, 16, 16))
    lhs = (A(x) * y).sum()
    rhs = (x * A.adjoint(y)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-6)
    beta = 0.25
    v = A.normal_inverse(x, beta)
    back = A.adjoint(A(v)) + beta * v
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-5)


def test_blur_is_float32_compatible_and_differentiable():
    A = BlurFFT(gaussian_kernel(5, 1.0), (8, 8))
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    out = A.normal_inverse(A.adjoint(A(x)), torch.tensor(0.5))
    assert out.dtype == torch.float32 and out.shape == x.shape
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_kernels():
    for k in (motion_kernel(9), gaussian_kernel(9)):
        assert k.shape == (9, 9) and np.isclose(k.sum(), 1) and (k >= 0).all()
    # The motion kernel is fixed (shared by generator and estimator) and anisotropic.
    np.testing.assert_array_equal(motion_kernel(9), motion_kernel(9))
    k = motion_kernel(9)
    assert not np.allclose(k, k.T)
    with pytest.raises(ValueError, match="odd"):
        motion_kernel(8)
    with pytest.raises(ValueError, match="kernel must be"):
        blur_kernel("box")
    with pytest.raises(ValueError, match="larger than the image"):
        BlurFFT(np.ones((9, 9)), (4, 4))
