"""FNORegressor and its parts: spectral convolution, operator, end-to-end fit, Lipschitz."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_implicit import FixedDepthModule, ImplicitModule
from sklearn_implicit.datasets import make_navier_stokes
from sklearn_implicit.display import IterationCurveDisplay
from sklearn_implicit.lipschitz import FourierModes, GaussianDirections
from sklearn_implicit.pde import (
    FNORegressor,
    FourierLayer,
    FourierOperator,
    GridLifting,
    PointwiseProjection,
    RelativeL2Loss,
    SpectralConv2d,
    fourier_layers,
    relative_l2_error,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = dict(width=8, modes=4, n_iter=6, max_epochs=2, batch_size=8, random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_navier_stokes(16, resolution=16, cache=False, random_state=0)


@settings(max_examples=15, deadline=None)
@given(sy=st.integers(0, 11), sx=st.integers(0, 11), seed=st.integers(0, 1000))
def test_spectral_conv_commutes_with_periodic_shifts(sy, sx, seed):
    torch.manual_seed(seed)
    conv = SpectralConv2d(2, 3, modes=(3, 4)).double()
    x = torch.randn(1, 2, 12, 12, dtype=torch.float64)
    shifted = conv(torch.roll(x, (sy, sx), dims=(-2, -1)))
    torch.testing.assert_close(shifted, torch.roll(conv(x), (sy, sx), dims=(-2, -1)))


def _fft_reference(conv, x):
    """The textbook FNO layer: full rfft2, multiply the kept modes, irfft2."""
    H, W = x.shape[-2:]
    m1, m2 = min(conv.modes[0], H // 2), min(conv.modes[1], W // 2 + 1)
    w = torch.complex(conv.weight[0], conv.weight[1]).permute(0, 3, 4, 1, 2)  # (2, i, o, m1, m2)
    x_ft = torch.fft.rfft2(x, norm="ortho")
    out = x_ft.new_zeros(x.shape[0], conv.out_channels, H, W // 2 + 1)
    mix = "bixy,ioxy->boxy"
    out[:, :, :m1, :m2] = torch.einsum(mix, x_ft[:, :, :m1, :m2], w[0, :, :, :m1, :m2])
    out[:, :, H - m1 :, :m2] = torch.einsum(mix, x_ft[:, :, H - m1 :, :m2], w[1, :, :, :m1, :m2])
    return torch.fft.irfft2(out, s=(H, W), norm="ortho")


@pytest.mark.parametrize(
    "shape, modes", [((16, 16), 4), ((12, 10), 3), ((16, 16), (8, 9)), ((15, 13), 5), ((8, 8), 12)]
)
def test_spectral_conv_matches_fft_reference(shape, modes):
    torch.manual_seed(0)
    conv = SpectralConv2d(3, 4, modes).double()
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    torch.testing.assert_close(conv(x), _fft_reference(conv, x))


def test_pointwise_matches_conv2d():
    from sklearn_implicit.pde import Pointwise

    pw = Pointwise(3, 5).double()
    conv = torch.nn.Conv2d(3, 5, 1).double()
    with torch.no_grad():
        conv.weight.copy_(pw.weight[:, :, None, None])
        conv.bias.copy_(pw.bias)
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    torch.testing.assert_close(pw(x), conv(x))


def test_spectral_conv_ignores_high_frequencies_and_gradcheck():
    torch.manual_seed(0)
    conv = SpectralConv2d(1, 1, modes=2).double()
    grid = torch.arange(16, dtype=torch.float64) * 2 * torch.pi / 16
    high = torch.cos(5 * grid)[None, None, :, None].expand(1, 1, 16, 16).contiguous()
    torch.testing.assert_close(conv(high), torch.zeros_like(high))
    low = torch.cos(grid)[None, None, :, None].expand(1, 1, 16, 16).contiguous()
    assert conv(low).abs().max() > 0
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,))


def test_operator_injection_and_explicit_layers_ignore_input():
    torch.manual_seed(0)
    z, u = torch.randn(2, 4, 8, 8), torch.randn(2, 8, 8, 8)
    implicit = FourierOperator(4, 3)
    assert not torch.allclose(implicit(z, u), implicit(torch.zeros_like(z), u))
    assert not torch.allclose(implicit(z, u), implicit(z, torch.zeros_like(u)))
    assert len(implicit.layers) == 2
    # z_0 = 0 on the grid of the injected input, whatever its size.
    assert implicit.init_state(u).shape == (2, 4, 8, 8) and not implicit.init_state(u).any()
    assert implicit.init_state(torch.zeros(1, 8, 5, 6)).shape == (1, 4, 5, 6)
    layers = fourier_layers(4, 3, 2)
    assert all(isinstance(layer, FourierLayer) and not layer.inject for layer in layers)
    torch.testing.assert_close(layers[0](z, u), layers[0](z, torch.zeros_like(u)))
    assert layers[0].init_state(z) is z  # the explicit stack starts from the lifted input


@pytest.mark.parametrize("device, dtype", [("cpu", torch.float64), ("meta", torch.float32)])
def test_parts_follow_the_input_device_and_dtype(device, dtype):
    # Nothing inside forward is built on a fixed device, dtype or size (the grid, the DFT bases).
    lift = GridLifting(2, 8, torch.zeros(2, 1, 1), torch.ones(2, 1, 1))
    G = FourierOperator(4, 3)
    proj = PointwiseProjection(4, 6)
    for part in (lift, G, proj):
        part.to(device=device, dtype=dtype)
    for H, W in ((8, 8), (12, 10)):
        x = torch.ones(3, 2, H, W, device=device, dtype=dtype)
        u = lift(x)
        z = G(G.init_state(u), u)
        y = proj(z)
        for t in (u, z, y):
            assert t.device.type == device and t.dtype == dtype
        assert y.shape == (3, 1, H, W)


def test_lifting_coordinates_follow_the_grid():
    lift = GridLifting(1, 4)
    grid = lift.coordinates(4, 8, dtype=torch.float64)
    assert grid.shape == (2, 4, 8)
    torch.testing.assert_close(grid[0, :, 0], torch.arange(4, dtype=torch.float64) / 4)
    torch.testing.assert_close(grid[1, 0], torch.arange(8, dtype=torch.float64) / 8)
    # Every second point of the fine grid is the coarse grid: the same coordinates.
    torch.testing.assert_close(lift.coordinates(8, 16)[:, ::2, ::2], lift.coordinates(4, 8))


def test_explicit_and_implicit_layers_share_their_initial_draws():
    torch.manual_seed(0)
    tied = FourierOperator(4, 3, n_layers=2)
    torch.manual_seed(0)
    untied = fourier_layers(4, 3, 2)
    for a, b in zip(tied.layers, untied):
        torch.testing.assert_close(a.spectral.weight, b.spectral.weight)
        torch.testing.assert_close(a.pointwise.weight, b.pointwise.weight)


def test_relative_l2():
    y = np.array([[3.0, 4.0], [1.0, 0.0]])
    assert relative_l2_error(y, y) == 0.0
    assert relative_l2_error(y, 2 * y) == pytest.approx(1.0)
    loss = RelativeL2Loss()(torch.tensor(2 * y), torch.tensor(y))
    assert float(loss) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Shapes"):
        relative_l2_error(y, y[:1])


def test_fit_predict_budgets_and_explicit_baseline(data):
    X, y = data
    est = FNORegressor(**TINY).fit(X, y)
    assert est.grid_shape_ == (16, 16) and est.in_channels_ == 1
    assert len(est.loss_curve_) == 2 and np.isfinite(est.loss_curve_).all()
    pred = est.predict(X)
    assert pred.shape == y.shape and np.isfinite(pred).all()
    staged = list(est.staged_predict(X[:3], n_iter=4))
    np.testing.assert_allclose(staged[3], est.predict(X[:3], n_iter=4), atol=1e-4)
    assert not np.allclose(staged[0], staged[3])
    base = FNORegressor("explicit", **TINY).fit(X, y)
    np.testing.assert_allclose(base.predict(X[:2], n_iter=1), base.predict(X[:2], n_iter=5))
    # Same Fourier layers; the implicit lifting adds one injected field per extra layer:
    # (C + 2 grid channels + bias) x width parameters.
    assert est.n_parameters_ - base.n_parameters_ == (1 + 2 + 1) * TINY["width"]


def test_training_reduces_relative_error(data):
    X, y = data
    before = FNORegressor(**{**TINY, "max_epochs": 0}).fit(X, y)
    after = FNORegressor(**{**TINY, "max_epochs": 15, "lr": 5e-3}).fit(X, y)
    err0 = relative_l2_error(y, before.predict(X, n_iter=6))
    err1 = relative_l2_error(y, after.predict(X, n_iter=6))
    assert err1 < 0.8 * err0
    assert after.loss_curve_[-1] < after.loss_curve_[0]


def test_determinism_and_channels(data):
    X, y = data
    a = FNORegressor(**TINY).fit(X, y).predict(X[:3], n_iter=3)
    b = FNORegressor(**TINY).fit(X, y).predict(X[:3], n_iter=3)
    np.testing.assert_array_equal(a, b)
    X2 = np.hstack([X, -X])  # two input fields per sample
    est = FNORegressor(**TINY).fit(X2, y)
    assert est.in_channels_ == 2 and est.n_features_in_ == 512
    assert est.predict(X2[:2]).shape == (2, 256)


def test_invalid_shapes(data):
    X, y = data
    with pytest.raises(ValueError, match="grid_shape"):
        FNORegressor(**TINY, grid_shape=(8, 8)).fit(X, y)
    with pytest.raises(ValueError, match="square"):
        FNORegressor(**TINY).fit(X[:, :250], y[:, :250])
    with pytest.raises(ValueError, match="whole number"):
        FNORegressor(**TINY).fit(np.hstack([X, X[:, :10]]), y)
    with pytest.raises(ValueError, match="y must hold output fields"):
        FNORegressor(**TINY).fit(X, y[:, 0])
    with pytest.raises(ValueError, match="different grids"):
        FNORegressor(**TINY).fit(X.reshape(-1, 16, 16), y.reshape(-1, 16, 16)[:, :8])
    with pytest.raises(ValueError, match="does not match the"):
        FNORegressor(**TINY, grid_shape=(8, 32)).fit(X.reshape(-1, 16, 16), y)


def test_pipeline_grid_search_and_clone(data):
    X, y = data
    pipe = make_pipeline(FunctionTransformer(), FNORegressor(**{**TINY, "max_epochs": 1}))
    search = GridSearchCV(pipe, {"fnoregressor__width": [4, 8]}, cv=2).fit(X, y)
    assert search.best_params_["fnoregressor__width"] in (4, 8)
    est = FNORegressor(**TINY, backward__k=3, backward__tau=0.8)
    assert clone(est).get_params()["backward__tau"] == 0.8
    est.fit(X, y)
    assert est.module_.backward.k == 3


def test_fit_predict_both_architectures(data):
    X, y = data
    for arch, module_class in (("implicit", ImplicitModule), ("explicit", FixedDepthModule)):
        est = FNORegressor(arch, **TINY).fit(X, y)
        assert type(est.module_) is module_class
        pred = est.predict(X[:4])
        assert pred.shape == (4, 256) and np.isfinite(pred).all()
        y_hat, info = est.solve(X[:4])
        np.testing.assert_array_equal(y_hat, pred)
        assert info.n_samples == 4
    assert len(est.module_.layers) == TINY.get("n_layers", 2)


@pytest.mark.parametrize("architecture", ["implicit", "explicit"])
def test_staged_predict_matches_predict_at_every_budget(architecture, data):
    X, y = data
    est = FNORegressor(architecture, **TINY).fit(X, y)
    staged = list(est.staged_predict(X[:5], n_iter=4))
    assert len(staged) == 4
    for t in range(1, 5):
        np.testing.assert_allclose(
            staged[t - 1], est.predict(X[:5], n_iter=t), rtol=1e-5, atol=1e-6
        )


def _wavenumbers(d):
    """The (ky, kx) of the largest Fourier coefficient of each field in ``d``."""
    spectrum = np.abs(np.fft.rfft2(d.reshape(-1, *d.shape[-2:])))
    H = d.shape[-2]
    ky, kx = np.unravel_index(spectrum.reshape(len(spectrum), -1).argmax(1), spectrum.shape[1:])
    return np.where(ky > H // 2, ky - H, ky), kx


def test_default_directions_are_the_papers_fourier_modes_of_the_input_grid(data):
    X, y = data
    est = FNORegressor(**{**TINY, "max_epochs": 0}).fit(X, y)
    strategy = est._default_directions()
    rng = np.random.RandomState(0)
    # Rows at the fitted grid, rows of another square grid and fields: |k| <= min(H, W) // 4.
    X32 = np.kron(X[:4].reshape(4, 16, 16), np.ones((2, 2)))
    for Xi, grid in ((X[:4], (16, 16)), (X32.reshape(4, -1), (32, 32)), (X32[:, None], (32, 32))):
        Xp, norms = strategy(Xi, 0.5, 50, rng)
        assert Xp.shape == (50 * 4,) + Xi.shape[1:]
        np.testing.assert_allclose(norms, 0.5)
        d = (Xp - np.tile(Xi, (50,) + (1,) * (Xi.ndim - 1))).reshape(-1, *grid)
        ky, kx = _wavenumbers(d)
        band = grid[0] // 4
        assert np.abs(ky).max() == band and kx.max() == band  # the whole band, no more
    X2 = np.hstack([X, -X])
    est2 = FNORegressor(**{**TINY, "max_epochs": 0}, grid_shape=(8, 32)).fit(X2, y)
    Xp, _ = est2._default_directions()(X2[:2], 0.5, 40, rng)
    d = (Xp - np.tile(X2[:2], (40, 1))).reshape(80, 2, 8, 32)
    np.testing.assert_allclose(d[:, 0], d[:, 1], atol=1e-5)  # the same mode in every channel
    ky, kx = _wavenumbers(d[:, 0])
    assert np.abs(ky).max() <= 2 and kx.max() <= 2


@pytest.mark.parametrize("architecture", ["implicit", "explicit"])
@pytest.mark.parametrize("directions", [None, GaussianDirections(), FourierModes(max_frequency=2)])
def test_lipschitz_curve(architecture, directions, data):
    X, y = data
    est = FNORegressor(architecture, **TINY).fit(X, y)
    curve = est.lipschitz_curve(
        X[:3], n_iter=4, eps=0.1, n_directions=2, directions=directions, random_state=0
    )
    assert curve.lipschitz.shape == (4,) and curve.ratios.shape == (4, 6)
    assert curve.reduce == "max" and np.all(curve.lipschitz > 0)
    assert curve.eps == pytest.approx(0.1)
    np.testing.assert_allclose(curve.lipschitz, curve.ratios.max(axis=1))
    if architecture == "explicit":  # no budget: the same L at every t
        np.testing.assert_allclose(curve.lipschitz, curve.lipschitz[0])


def test_lipschitz_curve_default_is_reproducible_and_differs_from_gaussian(data):
    X, y = data
    est = FNORegressor(**TINY).fit(X, y)
    a = est.lipschitz_curve(X[:3], n_iter=3, eps=0.1, random_state=0).lipschitz
    b = est.lipschitz_curve(X[:3], n_iter=3, eps=0.1, random_state=0).lipschitz
    np.testing.assert_array_equal(a, b)
    c = est.lipschitz_curve(
        X[:3], n_iter=3, eps=0.1, random_state=0, directions=GaussianDirections()
    ).lipschitz
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match="directions"):
        est.lipschitz_curve(X[:2], n_iter=2, directions="frequency")


def test_frequency_perturbations_are_single_modes(data):
    X, y = data
    est = FNORegressor(**{**TINY, "max_epochs": 0}).fit(X, y)
    Xp, norms = est._default_directions()(X[:2], 0.5, 3, np.random.RandomState(0))
    d = (Xp - np.tile(X[:2], (3, 1)).astype(np.float32)).reshape(6, 16, 16)
    np.testing.assert_allclose(np.linalg.norm(d.reshape(6, -1), axis=1), 0.5, rtol=1e-4)
    np.testing.assert_allclose(norms, 0.5)
    for di in d:
        spectrum = np.abs(np.fft.fft2(di))
        assert spectrum[0, 0] < 1e-3 * spectrum.max()
        assert (spectrum > 1e-3 * spectrum.max()).sum() <= 2  # +k and -k


@pytest.mark.parametrize("architecture", ["implicit", "explicit"])
def test_regularity_report(architecture, data):
    X, y = data
    est = FNORegressor(architecture, **TINY).fit(X, y)
    report = est.regularity_report(X[:3], n_directions=1, n_power_iter=3, random_state=0)
    assert report.n_samples == 3
    assert np.isfinite(report.lipschitz_y).all() and np.isfinite(report.z_norm).all()
    if architecture == "implicit":
        assert np.isfinite(report.mu).all() and (report.mu >= 0).all()
    else:  # no single operator to linearise
        assert np.isnan(report.mu).all()


def test_diverging_operator_warns_and_stays_finite(data):
    X, y = data
    est = FNORegressor(**TINY).fit(X, y)
    with torch.no_grad():
        for layer in est.module_.operator.layers:
            layer.pointwise.weight.mul_(1e3)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        pred = est.predict(X[:3], n_iter=40)
    assert np.isfinite(pred).all()


@pytest.mark.parametrize(
    "params, name",
    [
        ({"decoder__hidden": 64}, "decoder__hidden"),
        ({"operator__width": 64}, "operator__width"),
        ({"architecture": "explicit", "backward__k": 3}, "backward__k"),
        ({"architecture": "explicit", "solver__m": 3}, "solver__m"),
    ],
)
def test_unused_routed_parameters_are_refused(params, name, data):
    X, y = data
    est = FNORegressor(**{**TINY, **params})
    with pytest.raises(ValueError, match=name):
        est.fit(X, y)
    assert not hasattr(est, "net_")


@pytest.mark.parametrize("grid_shape", [(16.0, 16), (16.5, 16), (-16, -16), (0, 256), (True, 256)])
def test_grid_shape_must_be_positive_integers(grid_shape, data):
    X, y = data
    with pytest.raises(ValueError, match="grid_shape must be a pair of positive integers"):
        FNORegressor(**TINY, grid_shape=grid_shape).fit(X, y)
    est = FNORegressor(**TINY, grid_shape=[np.int64(8), 32]).fit(X, y)
    assert est.grid_shape_ == (8, 32)


def test_score_name_labels_the_budget_curve(data):
    X, y = data
    est = FNORegressor(**TINY).fit(X, y)
    assert FNORegressor.score_name == "$R^2$"
    assert est.score(X, y) == pytest.approx(r2_score(y, est.predict(X)))
    disp = IterationCurveDisplay.from_estimator(est, X[:4], y[:4], n_iter=[1, 2])
    assert disp.score_name == "$R^2$"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_and_predict(data):
    X, y = data
    est = FNORegressor(**TINY, device="cuda").fit(X, y)
    assert str(next(est.module_.parameters()).device).startswith("cuda")
    cpu = FNORegressor(**TINY, device="cpu").fit(X, y)
    np.testing.assert_allclose(
        est.predict(X[:3], n_iter=3), cpu.predict(X[:3], n_iter=3), atol=1e-3
    )
    assert est.lipschitz_curve(X[:2], n_iter=2, eps=0.1).lipschitz.shape == (2,)
