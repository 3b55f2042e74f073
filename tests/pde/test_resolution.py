"""Train small, predict big: FNORegressor at other resolutions and in every layout."""

import numpy as np
import pytest
import torch

from sklearn_implicit.datasets import make_navier_stokes
from sklearn_implicit.lipschitz import FourierModes
from sklearn_implicit.pde import FNORegressor, relative_l2_error

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = dict(width=8, modes=12, n_iter=6, max_epochs=2, batch_size=8, random_state=0)


@pytest.fixture(scope="module")
def fields():
    """The same forcings at 16 x 16 (training) and 32 x 32."""
    kwargs = dict(viscosity=0.2, cache=False, return_info=True, random_state=0)
    X16, y16, info16 = make_navier_stokes(24, resolution=16, **kwargs)
    X32, y32, info32 = make_navier_stokes(24, resolution=32, **kwargs)
    assert (info16["draw"] == info32["draw"]).all()
    return X16, y16, X32, y32


@pytest.fixture(scope="module", params=["implicit", "explicit"])
def fitted(request, fields):
    X16, y16, _, _ = fields
    return FNORegressor(request.param, **TINY).fit(X16, y16)


def test_prediction_at_a_finer_grid_is_the_module_on_that_grid(fitted, fields):
    # No hidden resizing: predict(X32) is the fitted module applied to the 32 x 32 tensor.
    _, _, X32, _ = fields
    est = fitted
    pred = est.predict(X32[:5], n_iter=4)
    assert pred.shape == (5, 1024)
    with torch.no_grad():
        x = torch.tensor(X32[:5].reshape(5, 1, 32, 32), dtype=torch.float32)
        y, _, _ = est.module_.solve(x, max_iter=4, tol=0.0)
    assert y.shape == (5, 1, 32, 32)
    np.testing.assert_allclose(pred, y.reshape(5, -1).numpy(), rtol=1e-5, atol=1e-5)
    # The fitted grid's parts are not frozen: the coarse prediction is unchanged after.
    X16 = fields[0]
    np.testing.assert_array_equal(est.predict(X16[:3], n_iter=4), est.predict(X16[:3], n_iter=4))


def test_layouts_in_are_layouts_out(fitted, fields):
    _, _, X32, _ = fields
    est = fitted
    rows = est.predict(X32[:3], n_iter=3)
    for X, shape in (
        (X32[:3], (3, 1024)),
        (X32[:3].reshape(3, 32, 32), (3, 32, 32)),
        (X32[:3].reshape(3, 1, 32, 32), (3, 1, 32, 32)),
        (X32[:3].reshape(3, 32, 32).tolist(), (3, 32, 32)),
    ):
        pred = est.predict(X, n_iter=3)
        assert pred.shape == shape
        np.testing.assert_array_equal(pred.reshape(3, -1), rows)
        y_hat, info = est.solve(X, n_iter=3)
        assert y_hat.shape == shape and info.n_samples == 3
        staged = list(est.staged_predict(X, n_iter=3))
        assert staged[-1].shape == shape
        np.testing.assert_allclose(staged[-1].reshape(3, -1), rows, rtol=1e-5, atol=1e-5)
    # A rectangular grid, as fields.
    rect = X32[:2].reshape(2, 32, 32)[:, :, :12]
    assert est.predict(rect, n_iter=2).shape == (2, 32, 12)


def test_fit_on_fields_equals_fit_on_rows(fields):
    X16, y16, X32, y32 = fields
    rows = FNORegressor(**TINY).fit(X16, y16)
    grids = FNORegressor(**TINY).fit(X16.reshape(-1, 16, 16), y16.reshape(-1, 1, 16, 16))
    assert grids.grid_shape_ == (16, 16) and grids.in_channels_ == 1 and grids.n_features_in_ == 256
    np.testing.assert_array_equal(rows.predict(X32[:2], n_iter=3), grids.predict(X32[:2], n_iter=3))
    assert rows.score(X32, y32) == pytest.approx(
        rows.score(X32.reshape(-1, 32, 32), y32.reshape(-1, 32, 32))
    )


def test_multi_field_outputs(fields):
    # (n, C_out, H, W) targets: the projection has C_out output channels.
    X16, y16, X32, _ = fields
    Y = np.stack([y16, -2 * y16], axis=1).reshape(-1, 2, 16, 16)
    X2 = np.stack([X16, X16**2], axis=1).reshape(-1, 2, 16, 16)
    est = FNORegressor(**TINY).fit(X2, Y)
    assert est.in_channels_ == 2 and est.out_channels_ == 2 and est.n_outputs_ == 512
    X2_32 = np.stack([X32, X32**2], axis=1).reshape(-1, 2, 32, 32)
    assert est.predict(X2_32[:3]).shape == (3, 2, 32, 32)
    assert est.predict(X2_32[:3].reshape(3, -1)).shape == (3, 2 * 1024)
    # Rows of y hold C_out fields when the grid comes from X.
    est_rows = FNORegressor(**TINY).fit(X2, Y.reshape(len(Y), -1))
    assert est_rows.out_channels_ == 2


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda X: X.reshape(-1, 1, 32, 32).repeat(2, axis=1), "fitted on 1 input field"),
        (lambda X: X[:, :-1], "X has 1023 features, but FNORegressor is expecting 256 features"),
        (lambda X: X.reshape(-1, 32, 32)[:, :, :10].reshape(len(X), -1), "square field"),
        (lambda X: X[:, :, None, None, None], "must be rows"),
        (lambda X: np.where(X > 0, np.nan, X).reshape(-1, 32, 32), "NaN"),
    ],
    ids=["channels", "one-feature-less", "non-square-rows", "5-D", "nan-fields"],
)
def test_wrong_channels_and_non_square_rows_raise(fitted, fields, bad, match):
    _, _, X32, _ = fields
    with pytest.raises(ValueError, match=match):
        fitted.predict(bad(X32[:2]))


def test_two_field_estimator_refuses_one_field_inputs(fields):
    X16, y16, X32, _ = fields
    est = FNORegressor(**TINY).fit(np.hstack([X16, -X16]), y16)
    with pytest.raises(ValueError, match="fitted on 2 input field"):
        est.predict(X32[:2].reshape(2, 32, 32))
    with pytest.raises(ValueError, match=r"rows of 2 square field"):
        est.predict(X32[:2, :1000])
    assert est.predict(np.hstack([X32[:2], -X32[:2]])).shape == (2, 1024)


def test_lipschitz_curve_and_regularity_report_at_another_resolution(fitted, fields):
    _, _, X32, _ = fields
    est = fitted
    for X in (X32[:3], X32[:3].reshape(3, 1, 32, 32)):
        curve = est.lipschitz_curve(X, n_iter=3, eps=0.1, n_directions=2, random_state=0)
        assert curve.ratios.shape == (3, 6) and np.isfinite(curve.lipschitz).all()
    # Rows and fields draw the same modes of the 32 x 32 grid (band 32 // 4 = 8).
    a = est.lipschitz_curve(X32[:3], n_iter=2, eps=0.1, random_state=0)
    b = est.lipschitz_curve(X32[:3].reshape(3, 32, 32), n_iter=2, eps=0.1, random_state=0)
    np.testing.assert_allclose(a.ratios, b.ratios, rtol=1e-4)
    custom = est.lipschitz_curve(
        X32[:3], n_iter=2, eps=0.1, directions=FourierModes(shape=(32, 32), max_frequency=2)
    )
    assert np.isfinite(custom.lipschitz).all()
    report = est.regularity_report(X32[:2], n_directions=1, n_power_iter=3, random_state=0)
    assert report.n_samples == 2 and np.isfinite(report.lipschitz_y).all()


def test_trained_at_16_keeps_its_error_at_32(fields):
    # Zero-shot super-resolution: an FNO trained on 16 x 16 fields, evaluated on the same
    # held-out forcings at 32 x 32 (against the 32 x 32 steady states), keeps its error
    # within 2x of its 16 x 16 error.
    X16, y16, X32, y32 = fields
    train, test = slice(0, 18), slice(18, None)
    est = FNORegressor(
        width=8, modes=8, n_iter=4, max_epochs=8, batch_size=6, lr=1e-2, random_state=0
    ).fit(X16[train], y16[train])
    err16 = relative_l2_error(y16[test], est.predict(X16[test]))
    err32 = relative_l2_error(y32[test], est.predict(X32[test]))
    untrained = FNORegressor(**{**TINY, "max_epochs": 0}).fit(X16[train], y16[train])
    assert err16 < 0.8 * relative_l2_error(y16[test], untrained.predict(X16[test]))  # it learned
    assert err32 < 2 * err16, (err16, err32)
