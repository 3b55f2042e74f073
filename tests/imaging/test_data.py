"""make_blurred_images: determinism, shapes, disjoint sources, no downloads."""

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_implicit.imaging import BlurFFT, blur_kernel, make_blurred_images
from sklearn_implicit.imaging._data import IMAGE_SOURCES, _package_file, load_source_image


def test_shapes_and_determinism():
    X, y = make_blurred_images(5, size=16, random_state=0)
    assert X.shape == y.shape == (5, 256)
    assert X.dtype == y.dtype == np.float64
    assert 0 <= y.min() and y.max() <= 1
    X2, y2 = make_blurred_images(5, size=16, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make_blurred_images(5, size=16, random_state=1)
    assert not np.allclose(X, X3)


@pytest.mark.parametrize("kernel", ["motion", "gaussian"])
def test_observation_is_blur_plus_noise(kernel):
    X, y = make_blurred_images(20, size=16, kernel=kernel, noise=0.05, random_state=0)
    A = BlurFFT(blur_kernel(kernel, 9), (16, 16))
    clean = A(torch.from_numpy(y.reshape(-1, 16, 16))).numpy().reshape(20, -1)
    assert abs((X - clean).std() - 0.05) < 0.005
    Xn, yn = make_blurred_images(20, size=16, kernel=kernel, noise=0.0, random_state=0)
    np.testing.assert_allclose(Xn, clean, atol=1e-10)


def test_train_and_test_sources_are_disjoint_and_bundled():
    train, test = IMAGE_SOURCES["train"], IMAGE_SOURCES["test"]
    assert not set(train) & set(test)
    assert not set(train.values()) & set(test.values())
    for package, filename in [*train.values(), *test.values()]:
        _package_file(package, filename)  # raises when not bundled locally
    # Every crop comes from a photograph of its own subset and of no other.
    for subset, other in (("train", "test"), ("test", "train")):
        _, crops = make_blurred_images(
            4, size=12, kernel_size=3, subset=subset, noise=0.0, random_state=0
        )
        for crop in crops.reshape(-1, 12, 12):
            if crop.std() < 1e-3:  # a flat patch could exist anywhere
                continue
            assert _found_in(crop, IMAGE_SOURCES[subset])
            assert not _found_in(crop, IMAGE_SOURCES[other])


def _found_in(crop, names):
    for name in names:
        windows = np.lib.stride_tricks.sliding_window_view(load_source_image(name), crop.shape)
        if np.any(np.all(windows == crop, axis=(2, 3))):
            return True
    return False


def test_bad_arguments():
    with pytest.raises(ValueError, match="subset"):
        make_blurred_images(2, subset="val")
    with pytest.raises(ValueError, match="n_samples"):
        make_blurred_images(0)
    with pytest.raises(ValueError, match="noise"):
        make_blurred_images(2, noise=-1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"noise": np.inf},  # returned inf data
        {"noise": np.nan},
        {"n_samples": 2.5},
        {"size": "16"},
        {"kernel": "box"},
        {"kernel_size": 0},
        {"subset": None},
    ],
    ids=lambda kw: "-".join(f"{k}={v!r}" for k, v in kw.items()),
)
def test_invalid_arguments_are_refused(kwargs):
    (name,) = kwargs
    args = {"n_samples": 2, "size": 16, **kwargs}
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        make_blurred_images(args.pop("n_samples"), **args)


def test_numpy_integer_arguments():
    X, y = make_blurred_images(np.int64(3), size=np.int32(16), random_state=np.int64(0))
    X0, y0 = make_blurred_images(3, size=16, random_state=0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
