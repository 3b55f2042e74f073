"""The shared base: inference is read-only and thread-safe, fit is all-or-nothing,
interrupts and divergence leave a consistent estimator, nothing invalid passes."""

import pickle
import threading
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from sklearn_implicit import ImplicitRegressor
from sklearn_implicit.solvers import SOLVERS, picard, register_solver
from sklearn_implicit.theory import SufficiencyOperator

TINY = dict(operator__width=8, max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(64, 2))
    return X, np.sin(X[:, 0]) + X[:, 1]


@pytest.fixture(scope="module")
def fitted(data):
    return ImplicitRegressor(**TINY).fit(*data)


class Doubling(nn.Module):
    """G(z, x) = 2 z + x: diverges from z_0 = 0 for any x != 0."""

    def __init__(self, in_features, n_outputs):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, z, x):
        return 2.0 * self.w * z + x[:, :1] * 1e30


# ---------------------------------------------------------------- thread safety
def test_inference_never_changes_the_module_mode_or_buffers(fitted, data):
    X, _ = data
    module = fitted.net_.module_
    assert not module.training  # fit leaves the module in eval mode
    buffers = {k: v.clone() for k, v in module.state_dict().items()}

    def forbid(mode=True):
        raise AssertionError("inference toggled the module's mode")

    module.train, saved = forbid, module.train
    try:
        fitted.predict(X)
        fitted.solve(X[:5])
        list(fitted.staged_predict(X[:5], n_iter=3))
        fitted.lipschitz_curve(X[:5], n_iter=3, random_state=0)
        fitted.regularity_report(X[:3], random_state=0)
    finally:
        module.train = saved
    for k, v in module.state_dict().items():
        assert torch.equal(v, buffers[k]), k


def test_concurrent_predictions_equal_serial_ones(data):
    X, y = data
    est = ImplicitRegressor(**TINY).fit(X, y)
    # Even a module left in training mode must not change under inference.
    est.net_.module_.train()
    expected = est.predict(X, n_iter=10)
    results = []

    def work():
        for _ in range(5):
            results.append(est.predict(X, n_iter=10))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, expected) for r in results)
    assert np.array_equal(est.predict(X, n_iter=10), expected)


# ---------------------------------------------------------------- fit integrity
def test_ctrl_c_during_fit_leaves_a_consistent_estimator(data, monkeypatch):
    from sklearn_implicit._skorch import ImplicitNetRegressor

    X, y = data
    calls = {"n": 0}
    original = ImplicitNetRegressor.train_step

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ImplicitNetRegressor, "train_step", interrupted)
    est = ImplicitRegressor(operator__width=8, max_epochs=5, batch_size=32, random_state=0)
    with pytest.warns(UserWarning, match="interrupted after 1 complete epoch"):
        est.fit(X, y)
    assert est.loss_curve_ == [pytest.approx(est.net_.history[0, "train_loss"])]
    assert np.isfinite(est.predict(X)).all()


def test_non_finite_weights_raise_like_mlp(data):
    X, y = data
    est = ImplicitRegressor(optimizer="sgd", lr=1e20, max_epochs=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            est.fit(X, y * 1e10)
    assert not hasattr(est, "net_")


@pytest.mark.parametrize("where", ["X", "y"])
def test_values_beyond_float32_are_refused(data, where):
    X, y = data
    X, y = X.copy(), y.copy()
    (X if where == "X" else y)[0] = 1e39
    with pytest.raises(ValueError, match=f"{where} holds values up to 1e\\+39"):
        ImplicitRegressor(**TINY).fit(X, y)


def test_refused_refit_leaves_the_fitted_state_untouched(data):
    X, y = data
    est = ImplicitRegressor(**TINY).fit(X, y)
    before = est.predict(X)
    est.set_params(solver="no-such-solver")
    with pytest.raises(ValueError, match="Unknown solver"):
        est.fit(np.hstack([X, X]), y)
    assert est.n_features_in_ == 2
    est.set_params(solver="picard")
    np.testing.assert_array_equal(est.predict(X), before)


def test_parameters_set_after_fit_are_validated_at_inference(fitted, data):
    X, _ = data
    est = pickle.loads(pickle.dumps(fitted))
    est.set_params(n_iter=0)
    with pytest.raises(ValueError, match="'n_iter' parameter"):
        est.predict(X)
    est.set_params(n_iter=5, tol=-1)
    with pytest.raises(ValueError, match="'tol' parameter"):
        est.lipschitz_curve(X)


# ---------------------------------------------------------------- parameters
def test_registered_solver_is_accepted_at_fit(data):
    X, y = data

    def mine(f, z0, *, max_iter, tol, track=False, callback=None):
        return picard(f, z0, max_iter=max_iter, tol=tol, track=track, callback=callback)

    register_solver("mine-for-test", mine)
    try:
        est = ImplicitRegressor(solver="mine-for-test", **TINY).fit(X, y)
        assert est.predict(X).shape == (len(X),)
    finally:
        SOLVERS.pop("mine-for-test")


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(encoder__bias=False), r"does not use the parameter\(s\) \['encoder__bias'\]"),
        (dict(solver__m=3), r"Unknown option\(s\) \['m'\] for solver 'picard'"),
        (dict(solver__max_iter=3), "cannot be routed"),
        (dict(device="bogus"), "is not a torch device"),
    ],
)
def test_unused_or_invalid_parameters_are_refused(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        ImplicitRegressor(**{**TINY, **params}).fit(X, y)


def test_operator_returning_the_wrong_shape_is_refused(data):
    X, y = data

    class Wide(nn.Module):
        def __init__(self, in_features, n_outputs):
            super().__init__()
            self.lin = nn.Linear(in_features, 3)

        def forward(self, z, x):
            return self.lin(x)

    with pytest.raises(ValueError, match="must return a state of the shape it is given"):
        ImplicitRegressor(Wide, max_epochs=1).fit(X, y)


def test_parameter_free_operator_needs_no_optimizer():
    X = np.linspace(0.2, 1.0, 20).reshape(-1, 1)
    G = SufficiencyOperator(lambda x: 1.0 / x, lambda x: 1.0 / x**2)
    est = ImplicitRegressor(G, max_epochs=0, n_iter=200, tol=1e-8).fit(X, 1.0 / X[:, 0])
    assert est.predict(X).shape == (20,)
    with pytest.raises(ValueError, match="no trainable parameter"):
        ImplicitRegressor(G, max_epochs=2).fit(X, 1.0 / X[:, 0])


def test_estimator_with_a_local_operator_class_pickles(data):
    X, y = data

    class Local(nn.Module):
        def __init__(self, in_features, n_outputs):
            super().__init__()
            self.lin = nn.Linear(in_features + n_outputs, n_outputs)

        def forward(self, z, x):
            return 0.5 * torch.tanh(self.lin(torch.cat([z, x], dim=1)))

    est = ImplicitRegressor(Local, max_epochs=2, random_state=0).fit(X, y)
    for dumps, loads in [(pickle.dumps, pickle.loads)]:
        again = loads(dumps(est))
        np.testing.assert_array_equal(again.predict(X), est.predict(X))
    path = joblib.dump(est, "/tmp/sklearn_implicit_local_operator.joblib")[0]
    np.testing.assert_array_equal(joblib.load(path).predict(X), est.predict(X))


# ---------------------------------------------------------------- divergence
def test_staged_predict_survives_a_diverging_sample(data):
    X, y = data
    est = ImplicitRegressor(Doubling, max_epochs=0, n_iter=5).fit(X, y)
    Xd = X.copy()
    Xd[:, 0] = np.where(np.arange(len(X)) == 0, 1.0, 0.0)  # only sample 0 diverges
    with pytest.warns(ConvergenceWarning, match="diverged"):
        stages = list(est.staged_predict(Xd, n_iter=40))
    assert len(stages) == 40 and all(np.isfinite(s).all() for s in stages)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in (1, 20, 40):
            np.testing.assert_array_equal(stages[t - 1], est.predict(Xd, n_iter=t))


def test_lipschitz_curve_warns_when_the_iteration_diverges(data):
    X, y = data
    est = ImplicitRegressor(Doubling, max_epochs=0, n_iter=5).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        est.lipschitz_curve(X[:4], n_iter=40, random_state=0)


@pytest.mark.parametrize("eps", [np.inf, np.nan, 0.0, -1.0])
def test_lipschitz_curve_refuses_bad_eps(fitted, data, eps):
    with pytest.raises(ValueError, match="eps must be a positive finite number"):
        fitted.lipschitz_curve(data[0][:4], eps=eps)
