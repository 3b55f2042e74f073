"""DeblurRegressor on inputs of other sizes and layouts: train small, predict big."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sklearn_implicit.datasets import make_blurred_images
from sklearn_implicit.imaging import (
    BlurFFT,
    DeblurRegressor,
    motion_kernel,
    peak_signal_noise_ratio,
)
from sklearn_implicit.lipschitz import FourierModes
from sklearn_implicit.utils import torch_threads

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = dict(kernel_size=5, width=8, depth=3, n_iter=6, max_epochs=1, batch_size=8, random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_blurred_images(16, size=16, kernel_size=5, random_state=0)


@pytest.fixture(scope="module")
def big():
    X, y = make_blurred_images(3, size=48, kernel_size=5, subset="test", random_state=1)
    return X, y


@pytest.fixture(scope="module", params=["implicit", "explicit"])
def fitted(request, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DeblurRegressor(architecture=request.param, **TINY).fit(X, y)


# ---------------------------------------------------------------------------- physics
def test_blur_at_another_size_is_the_blur_built_for_that_size():
    A = BlurFFT(motion_kernel(5), (16, 16))
    x = torch.rand(2, 1, 48, 40)
    ref = BlurFFT(motion_kernel(5), (48, 40))
    torch.testing.assert_close(A(x), ref(x), rtol=0, atol=0)
    torch.testing.assert_close(A.adjoint(x), ref.adjoint(x), rtol=0, atol=0)
    torch.testing.assert_close(A.normal_inverse(x, 0.25), ref.normal_inverse(x, 0.25))
    torch.testing.assert_close(A.singular_values((48, 40)), ref.singular_values())
    # The training size still reads the buffer; float64 inputs get complex128 eigenvalues.
    assert A.eigenvalues() is A.filter
    x64 = torch.rand(1, 1, 24, 24, dtype=torch.float64)
    assert A(x64).dtype == torch.float64
    assert A.eigenvalues((24, 24), dtype=torch.complex128).dtype == torch.complex128
    # Adjointness at the new size.
    y = torch.rand(1, 1, 24, 24, dtype=torch.float64)
    assert torch.isclose((A(x64) * y).sum(), (x64 * A.adjoint(y)).sum())
    with pytest.raises(ValueError, match="larger than the image"):
        A(torch.rand(1, 1, 4, 16))


def test_blur_cache_is_bounded_and_not_pickled():
    A = BlurFFT(motion_kernel(3), (8, 8))
    for side in range(8, 8 + 2 * A._cache_size):
        A(torch.rand(1, 1, side, side))
    assert len(A._filters) == A._cache_size
    again = pickle.loads(pickle.dumps(A))
    assert again._filters == {} and torch.equal(again.filter, A.filter)
    x = torch.rand(1, 1, 20, 20)
    torch.testing.assert_close(again(x), A(x), rtol=0, atol=0)


# ---------------------------------------------------------------------------- (a) no resizing
def test_predictions_at_48_are_the_module_applied_at_48(fitted, big):
    est = fitted
    X48, _ = big
    pred = est.predict(X48, n_iter=4)
    assert pred.shape == (3, 48 * 48)
    x = torch.tensor(X48.reshape(3, 1, 48, 48), dtype=torch.float32)
    y, _, _ = est.module_.solve(x, max_iter=4, tol=0.0)
    assert y.shape == (3, 1, 48, 48)
    np.testing.assert_allclose(pred, y.reshape(3, -1).numpy(), atol=1e-5)
    if est.architecture == "implicit":
        # The blur G applies at 48 x 48 is the one the data were made with.
        A = est.module_.operator.physics
        ref = BlurFFT(motion_kernel(5), (48, 48))
        torch.testing.assert_close(A(x), ref(x), rtol=0, atol=0)


@pytest.mark.slow
def test_model_trained_on_16_crops_deblurs_48_images():
    # Default physics (9 x 9 motion kernel, noise 0.03); observed: blurred 23.4 dB,
    # model 26.3 dB at 48 x 48 (train crops: 22.6 -> 26.3 dB).
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, y = make_blurred_images(96, size=16, random_state=0)
        X48, y48 = make_blurred_images(4, size=48, subset="test", random_state=1)
        est = DeblurRegressor(
            "hqs",
            width=16,
            depth=3,
            n_iter=8,
            max_epochs=8,
            lr=5e-3,
            batch_size=16,
            backward="jacobian_free",
            random_state=0,
        ).fit(X, y)
        blurred = peak_signal_noise_ratio(y48, X48)
        model = est.score(X48, y48)
    assert model > blurred + 1.5, (blurred, model)
    assert est.score(X48.reshape(4, 48, 48), y48.reshape(4, 48, 48)) == pytest.approx(model)


# ---------------------------------------------------------------------------- (c) layouts
def test_layout_in_is_layout_out(fitted, big):
    est = fitted
    X48, _ = big
    rows = est.predict(X48, n_iter=3)
    hw = est.predict(X48.reshape(3, 48, 48), n_iter=3)
    chw = est.predict(X48.reshape(3, 1, 48, 48), n_iter=3)
    assert rows.shape == (3, 2304) and hw.shape == (3, 48, 48) and chw.shape == (3, 1, 48, 48)
    np.testing.assert_allclose(hw.reshape(3, -1), rows, atol=1e-6)
    np.testing.assert_allclose(chw.reshape(3, -1), rows, atol=1e-6)
    # A non-square size, and the other inference calls.
    Xr = X48.reshape(3, 48, 48)[:, :40, :24].copy()
    assert est.predict(Xr).shape == (3, 40, 24)
    y, info = est.solve(Xr, n_iter=2)
    assert y.shape == (3, 40, 24) and info.n_samples == 3
    staged = list(est.staged_predict(Xr, n_iter=2))
    np.testing.assert_allclose(staged[-1], y, atol=1e-6)


def test_single_channel_model_deblurs_each_channel(fitted, big, data):
    est = fitted
    X48, _ = big
    imgs = X48.reshape(3, 48, 48)
    colour = np.stack([imgs, imgs[::-1], 1 - imgs], axis=1)  # (3, 3, 48, 48)
    pred = est.predict(colour, n_iter=3)
    assert pred.shape == (3, 3, 48, 48) and np.isfinite(pred).all()
    # Anderson (the default solver) mixes the iterates of one image with shared weights: a
    # fixed budget is exactly channel by channel with Picard (G itself is).
    picard = clone(est).set_params(solver="picard").fit(*data)
    pred = picard.predict(colour, n_iter=3)
    for c in range(3):
        np.testing.assert_allclose(pred[:, c], picard.predict(colour[:, c], n_iter=3), atol=1e-5)


def test_fit_on_image_arrays_equals_fit_on_rows(data):
    X, y = data
    ref = DeblurRegressor(**TINY).fit(X, y)
    for shape in ((16, 16), (1, 16, 16)):
        est = DeblurRegressor(**TINY).fit(X.reshape(-1, *shape), y.reshape(-1, *shape))
        assert est.image_shape_ == (1, 16, 16) and est.n_features_in_ == 256
        np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-6)
        pred = est.predict(X[:2].reshape(-1, *shape), n_iter=3)
        assert pred.shape == (2, *shape)
        np.testing.assert_allclose(pred.reshape(2, -1), ref.predict(X[:2], n_iter=3), atol=1e-6)
        # Rows of the fitted length still work, as rows.
        assert est.predict(X[:2], n_iter=3).shape == (2, 256)
    with pytest.raises(ValueError, match="shaped like X"):
        DeblurRegressor(**TINY).fit(X.reshape(-1, 16, 16), y)


def test_multichannel_model_needs_its_channels(data):
    X, y = data
    X2, y2 = X.reshape(8, 2, 16, 16), y.reshape(8, 2, 16, 16)
    est = DeblurRegressor(**TINY).fit(X2, y2)
    assert est.image_shape_ == (2, 16, 16) and est.n_features_in_ == 512
    assert est.predict(np.tile(X2, (1, 1, 2, 2))[:2], n_iter=2).shape == (2, 2, 32, 32)
    rows = est.predict(X2.reshape(8, -1)[:2], n_iter=2)
    assert rows.shape == (2, 512)
    # Rows of another length: square images of 2 channels (2 * 24 * 24 values).
    assert est.predict(np.zeros((1, 2 * 24 * 24)), n_iter=2).shape == (1, 1152)
    with pytest.raises(ValueError, match=r"\(n, 2, H, W\)"):
        est.predict(X2[:, 0], n_iter=2)
    with pytest.raises(ValueError, match="fitted on 2-channel"):
        est.predict(np.zeros((1, 3, 16, 16)), n_iter=2)
    # Rows, with image_shape: the same model.
    same = DeblurRegressor(**TINY, image_shape=(2, 16, 16)).fit(
        X2.reshape(8, -1), y2.reshape(8, -1)
    )
    np.testing.assert_allclose(same.loss_curve_, est.loss_curve_, rtol=1e-6)


def test_rows_of_another_length(fitted, data):
    est = fitted
    X, _ = data
    assert est.predict(np.zeros((2, 24 * 24)), n_iter=2).shape == (2, 576)
    with pytest.raises(
        ValueError, match="X has 250 features, but DeblurRegressor is expecting 256"
    ):
        est.predict(X[:, :250])
    with pytest.raises(ValueError, match="smaller than the 5x5 blur kernel"):
        est.predict(np.zeros((2, 16)))  # 4 x 4 images
    with pytest.raises(ValueError, match="smaller than the 5x5 blur kernel"):
        est.predict(np.zeros((2, 3, 30)))


def test_non_square_model_refuses_rows_of_another_length(data):
    X, y = data
    est = DeblurRegressor(**{**TINY, "max_epochs": 0}, image_shape=(8, 32)).fit(X, y)
    assert est.image_shape_ == (1, 8, 32)
    assert est.predict(X[:2], n_iter=2).shape == (2, 256)
    assert est.predict(np.zeros((2, 12, 40)), n_iter=2).shape == (2, 12, 40)
    with pytest.raises(ValueError, match="expecting 256 features"):
        est.predict(np.zeros((2, 576)))


# ---------------------------------------------------------------------------- (d) data_range
def test_data_range_scales_the_psnr_and_warns(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # y in [0, 1]: no data_range warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = DeblurRegressor(**{**TINY, "max_epochs": 0}).fit(X, y)
        # Untrained: the identity denoiser; predictions are linear in X.
        unit = est.score(X, y)
        est.set_params(data_range=255)
        assert est.score(255 * X, 255 * y) == pytest.approx(unit, abs=1e-4)
        pred = est.predict(255 * X)
        assert est.score(255 * X, 255 * y) == pytest.approx(
            peak_signal_noise_ratio(255 * y, pred, data_range=255)
        )
    est.set_params(data_range=1.0)
    with pytest.warns(UserWarning, match="data_range=1"):
        wrong = est.score(255 * X, 255 * y)
    assert wrong == pytest.approx(unit - 20 * np.log10(255), abs=1e-3)
    with pytest.warns(UserWarning, match="data_range"):
        DeblurRegressor(**{**TINY, "max_epochs": 0}).fit(255 * X, 255 * y)
    with pytest.warns(UserWarning, match="data_range"):
        DeblurRegressor(**{**TINY, "max_epochs": 0}).fit(X - 1, y - 1)
    with pytest.raises(ValueError, match="data_range"):
        DeblurRegressor(**TINY, data_range=0).fit(X, y)


# ---------------------------------------------------------------------------- (e) channels first
def test_channels_last_shapes_are_refused(fitted, data):
    X, y = data
    X3 = np.repeat(X[:4], 3, axis=1)  # 4 rows of 768 values
    with pytest.raises(ValueError, match=r"image_shape=\(3, 16, 16\)"):
        DeblurRegressor(**TINY, image_shape=(16, 16, 3)).fit(X3, X3)
    est = DeblurRegressor(**{**TINY, "max_epochs": 0}, image_shape=(3, 16, 16)).fit(X3, X3)
    assert est.image_shape_ == (3, 16, 16)
    with pytest.raises(ValueError, match="moveaxis"):
        fitted.predict(np.zeros((2, 16, 16, 3)))
    with pytest.raises(ValueError, match="moveaxis"):
        DeblurRegressor(**TINY).fit(np.zeros((2, 16, 16, 3)), np.zeros((2, 16, 16, 3)))
    with pytest.raises(ValueError, match="does not match"):
        DeblurRegressor(**TINY, image_shape=(8, 32)).fit(
            X.reshape(-1, 16, 16), y.reshape(-1, 16, 16)
        )


# ---------------------------------------------------------------------------- diagnostics
def test_lipschitz_curve_and_report_at_other_sizes(fitted, big):
    est = fitted
    X48, _ = big
    X24 = X48.reshape(3, 48, 48)[:2, :24, :24].copy()
    curves = [
        est.lipschitz_curve(x, n_iter=3, eps=1e-2, n_directions=2, random_state=0)
        for x in (X24.reshape(2, -1), X24, X24[:, None])
    ]
    for curve in curves:
        assert curve.ratios.shape == (3, 4) and np.isfinite(curve.lipschitz).all()
    # The same perturbations of the same images, whatever the layout.
    np.testing.assert_allclose(curves[1].ratios, curves[0].ratios, rtol=1e-5)
    np.testing.assert_allclose(curves[2].ratios, curves[0].ratios, rtol=1e-5)
    # The default directions are single Fourier modes of the 24 x 24 grid.
    Xp, norms = est._default_directions()(X24.reshape(2, -1), 0.5, 3, np.random.RandomState(0))
    ref, _ = FourierModes()(X24, 0.5, 3, np.random.RandomState(0))
    np.testing.assert_allclose(Xp, ref.reshape(6, -1))
    for d in (Xp - np.tile(X24.reshape(2, -1), (3, 1))).reshape(6, 24, 24):
        spectrum = np.abs(np.fft.rfft2(d))
        assert (spectrum > 1e-3 * spectrum.max()).sum() <= 2
    for x in (X24.reshape(2, -1), X24[:, None]):
        report = est.regularity_report(x, n_iter=3, n_power_iter=3, n_directions=1, random_state=0)
        assert report.n_samples == 2 and np.isfinite(report.lipschitz_y).all()
