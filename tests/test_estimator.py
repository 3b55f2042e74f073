import copy
import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sklearn_implicit import ImplicitModule, ImplicitRegressor
from sklearn_implicit.backward import PhantomGradient

FAST = dict(max_epochs=20, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 1))
    y = np.sin(2 * X[:, 0]) + 0.3 * X[:, 0] ** 2
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return ImplicitRegressor(max_epochs=60, random_state=0).fit(X, y)


def test_default_model_fits_smooth_target(data):
    X, y = data
    est = ImplicitRegressor(random_state=0).fit(X, y)
    assert est.score(X, y) > 0.95
    assert len(est.loss_curve_) == 200
    assert est.n_features_in_ == 1 and est.n_outputs_ == 1
    assert est.device_ == ("cuda" if torch.cuda.is_available() else "cpu")


def test_predict_with_budget_equals_manual_iteration(fitted, data):
    X, _ = data
    module = fitted.module_
    x = torch.tensor(X[:10], dtype=torch.float32)
    with torch.no_grad():
        u = module.encoder(x)
        z = torch.zeros(10, *module.state_shape)
        for t in range(1, 8):
            z = module.operator(z, u)
            np.testing.assert_allclose(
                fitted.predict(X[:10], n_iter=t),
                module.decoder(z)[:, 0].numpy(),
                rtol=1e-6,
                atol=1e-7,
            )


def test_staged_predict_matches_predict(fitted, data):
    X, _ = data
    stages = list(fitted.staged_predict(X[:20], n_iter=6))
    assert len(stages) == 6
    for t, y_t in enumerate(stages, start=1):
        np.testing.assert_allclose(y_t, fitted.predict(X[:20], n_iter=t), atol=1e-7)


def test_predict_and_solve_do_not_mutate(fitted, data):
    X, _ = data
    state = copy.deepcopy(fitted.module_.state_dict())
    params = fitted.get_params()
    before = fitted.predict(X)
    fitted.predict(X, n_iter=3)
    _, info = fitted.solve(X, n_iter=50, tol=1e-6)
    fitted.lipschitz_curve(X[:10], n_iter=5)
    for k, v in fitted.module_.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert fitted.get_params() == params
    assert fitted.module_.n_iter == 30
    np.testing.assert_array_equal(before, fitted.predict(X))


def test_solve_reports_diagnostics(fitted, data):
    X, _ = data
    y, info = fitted.solve(X)
    np.testing.assert_array_equal(y, fitted.predict(X))
    assert info.status == "converged"
    assert info.n_samples == len(X)
    assert np.all(info.n_steps <= 30) and np.all(info.residual <= 1e-4)
    assert info.residual_trace.shape == (info.n_steps.max(), len(X))
    _, info5 = fitted.solve(X, n_iter=5)
    assert np.all(info5.n_steps == 5) and info5.tol == 0


def test_more_budget_means_smaller_residual_and_error(fitted, data):
    X, y = data
    errors = [np.mean((fitted.predict(X, n_iter=t) - y) ** 2) for t in (1, 5, 30)]
    assert errors[2] < errors[1] < errors[0]


def test_lipschitz_curve_matches_separate_predictions(fitted, data):
    X, _ = data
    Xs = X[:15]
    curve = fitted.lipschitz_curve(Xs, n_iter=8, eps=1e-2, n_directions=2, random_state=0)
    assert list(curve.n_iter) == list(range(1, 9))
    assert curve.lipschitz.shape == (8,) and curve.ratios.shape == (8, 30)
    # Recompute L_4 with four independent predictions and the same directions.
    Xp, norms = fitted._default_directions()(Xs, 1e-2, 2, np.random.RandomState(0))
    base = fitted.predict(Xs, n_iter=4)
    pert = fitted.predict(Xp, n_iter=4).reshape(2, 15)
    ratios = np.abs(pert - base[None]) / 1e-2
    np.testing.assert_allclose(curve.lipschitz[3], ratios.max(), rtol=1e-3)
    mean_curve = fitted.lipschitz_curve(
        Xs, n_iter=8, eps=1e-2, n_directions=2, reduce="mean", random_state=0
    )
    np.testing.assert_allclose(mean_curve.lipschitz[3], ratios.mean(), rtol=1e-3)
    assert np.all(mean_curve.lipschitz <= curve.lipschitz + 1e-12)


def test_multi_output(data):
    X, y = data
    Y = np.column_stack([y, -2 * y + 1])
    est = ImplicitRegressor(max_epochs=80, random_state=0).fit(X, Y)
    assert est.predict(X).shape == (300, 2)
    assert est.predict(X, n_iter=3).shape == (300, 2)
    assert est.score(X, Y) > 0.9
    assert est.lipschitz_curve(X[:5], n_iter=3).lipschitz.shape == (3,)


def test_determinism_under_random_state(data):
    X, y = data
    a = ImplicitRegressor(**FAST).fit(X, y).predict(X)
    b = ImplicitRegressor(**FAST).fit(X, y).predict(X)
    c = ImplicitRegressor(max_epochs=20, random_state=1).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_read_only_inputs_fit_without_warning(data, dtype):
    X, y = (a.astype(dtype) for a in data)
    X.flags.writeable = False
    y.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        a = ImplicitRegressor(max_epochs=3, random_state=0).fit(X, y).predict(X)
    b = ImplicitRegressor(max_epochs=3, random_state=0).fit(X.copy(), y.copy()).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not X.flags.writeable  # the caller's arrays are left as they were


def test_fit_does_not_touch_global_torch_rng(data):
    X, y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ImplicitRegressor(max_epochs=2, random_state=0).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_gridsearch_in_pipeline(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), ImplicitRegressor(max_epochs=10, random_state=0))
    grid = GridSearchCV(
        pipe,
        {"implicitregressor__n_iter": [5, 20], "implicitregressor__operator__width": [8, 16]},
        cv=2,
    )
    grid.fit(X, y)
    assert set(grid.best_params_) == {
        "implicitregressor__n_iter",
        "implicitregressor__operator__width",
    }
    best = grid.best_estimator_[-1]
    assert (
        best.module_.operator.state_shape[0]
        == grid.best_params_["implicitregressor__operator__width"]
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(solver="anderson", solver__m=4),
        dict(backward="jacobian_free"),
        dict(backward="phantom", backward__k=3, backward__tau=0.8),
        dict(backward="unroll", n_iter=10),
        dict(backward=PhantomGradient(k=2)),
        dict(optimizer="sgd", lr=0.05, optimizer__momentum=0.9),
        dict(encoder="linear", encoder__out_features=4, decoder="linear"),
    ],
    ids=lambda k: ",".join(k),
)
def test_configurations_train(data, kwargs):
    X, y = data
    est = ImplicitRegressor(max_epochs=40, random_state=0, **kwargs).fit(X, y)
    assert est.score(X, y) > 0.5


class ScalarOperator(nn.Module):
    """G(y, x) = y - eta (a x y - b): learns a, b with y* = b / (a x)."""

    def __init__(self, eta=0.5):
        super().__init__()
        self.eta = eta
        self.a = nn.Parameter(torch.tensor(0.5))
        self.b = nn.Parameter(torch.tensor(0.5))

    def forward(self, y, x):
        return y - self.eta * (self.a * x * y - self.b)


def test_custom_operator_class_and_instance():
    rng = np.random.RandomState(0)
    X = rng.uniform(0.5, 1.0, size=(200, 1))
    y = 1.0 / X[:, 0]
    est = ImplicitRegressor(
        ScalarOperator,
        operator__eta=0.9,
        n_iter=100,
        tol=1e-6,
        max_epochs=100,
        lr=0.05,
        random_state=0,
    ).fit(X, y)
    assert est.module_.state_shape == (1,)
    assert est.score(X, y) > 0.99
    inst = ScalarOperator()
    est2 = ImplicitRegressor(inst, n_iter=50, max_epochs=5, random_state=0).fit(X, y)
    # The instance given as a parameter is copied, never trained in place.
    assert inst.a.detach().item() == 0.5 and est2.module_.operator is not inst
    with pytest.raises(ValueError, match="cannot be applied to an already built"):
        ImplicitRegressor(inst, operator__eta=0.1, max_epochs=1).fit(X, y)


def test_divergence_warns_and_returns_finite(data):
    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(3.0))

        def forward(self, y, x):
            return self.w * y + x

    X, y = data
    est = ImplicitRegressor(Exploding, max_epochs=0, n_iter=200).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        pred = est.predict(X)
    assert np.all(np.isfinite(pred))
    with pytest.warns(ConvergenceWarning, match="did not reach tol"):
        est2 = ImplicitRegressor(Exploding, max_epochs=0, n_iter=5).fit(X, y)
        est2.predict(X)


def test_not_reaching_tol_warns_but_fixed_budget_does_not(fitted, data):
    X, _ = data
    with pytest.warns(ConvergenceWarning, match="did not reach tol=1e-12"):
        fitted.predict(X, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.predict(X, n_iter=2)


def test_pickle_and_joblib_round_trip(fitted, data):
    X, _ = data
    expected = fitted.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(X), expected)
    buf = io.BytesIO()
    joblib.dump(fitted, buf)
    buf.seek(0)
    np.testing.assert_array_equal(
        joblib.load(buf).predict(X, n_iter=3), fitted.predict(X, n_iter=3)
    )


def test_not_fitted():
    est = ImplicitRegressor()
    for method in ("predict", "solve", "lipschitz_curve"):
        with pytest.raises(NotFittedError):
            getattr(est, method)(np.zeros((2, 1)))
    with pytest.raises(NotFittedError):
        est.module_


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[np.nan], [1.0]]), "NaN"),
        (np.array([[np.inf], [1.0]]), "infinity"),
        (np.zeros((0, 1)), "0 sample"),
        (np.array([[1 + 1j], [2.0]]), "Complex data not supported"),
        (sp.csr_matrix(np.ones((2, 1))), "Sparse data was passed"),
    ],
    ids=["nan", "inf", "empty", "complex", "sparse"],
)
def test_bad_training_inputs(X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ImplicitRegressor(max_epochs=1).fit(X, np.ones(X.shape[0]))


def test_bad_prediction_inputs(fitted):
    with pytest.raises(ValueError, match="X has 3 features, but ImplicitRegressor is expecting 1"):
        fitted.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(np.array([[np.nan]]))
    for kw, match in [
        (dict(n_iter=0), "n_iter must be an integer >= 1"),
        (dict(n_iter=2.5), "n_iter must be an integer >= 1"),
        (dict(tol=-1.0), "tol must be a non-negative number"),
    ]:
        with pytest.raises(ValueError, match=match):
            fitted.predict(np.zeros((2, 1)), **kw)
    with pytest.raises(ValueError, match="reduce must be"):
        fitted.lipschitz_curve(np.zeros((2, 1)), reduce="median")
    with pytest.raises(ValueError, match="eps must be a positive"):
        fitted.lipschitz_curve(np.zeros((2, 1)), eps=0)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_iter=0), "'n_iter' parameter"),
        (dict(tol=-1e-3), "'tol' parameter"),
        (dict(solver="newton"), "Unknown solver 'newton'"),
        (dict(backward="adjoint"), "'backward' parameter"),
        (dict(operator="transformer"), "Unknown operator 'transformer'"),
        (dict(operator__widht=3), r"Unknown option\(s\) \['widht'\]"),
        (dict(lr=0.0), "'lr' parameter"),
        (dict(encoder__bias=False), r"does not use the parameter\(s\) \['encoder__bias'\]"),
        (dict(solver__m=3), r"Unknown option\(s\) \['m'\] for solver 'picard'"),
        (dict(learning_rate=0.1), "unknown parameter"),
    ],
)
def test_bad_parameters_raise_in_fit(data, params, match):
    X, y = data
    est = ImplicitRegressor(max_epochs=1, **params)  # construction never raises
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_set_params_routes_and_rejects(data):
    est = ImplicitRegressor()
    est.set_params(operator__width=8, n_iter=7)
    assert est.get_params()["operator__width"] == 8 and est.n_iter == 7
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(n_iters=3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_predict_and_cpu_load(data):
    X, y = data
    est = ImplicitRegressor(max_epochs=20, device="cuda", random_state=0).fit(X, y)
    assert est.device_ == "cuda"
    assert next(est.module_.parameters()).is_cuda
    pred = est.predict(X)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(restored.predict(X), pred, atol=1e-6)


def test_module_is_an_implicit_module(fitted):
    assert isinstance(fitted.module_, ImplicitModule)
    assert fitted.net_.module_ is fitted.module_
