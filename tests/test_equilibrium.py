"""Equilibrium training recipes: trajectory loss, Jacobian penalty, random training depth."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_implicit import ImplicitModule, ImplicitRegressor
from sklearn_implicit._equilibrium import (
    EquilibriumLossMixin,
    TrainingOutput,
    jacobian_penalty,
    random_depth,
    spaced_depths,
)
from sklearn_implicit.backward import get_backward
from sklearn_implicit.solvers import picard

TINY = dict(operator__width=8, max_epochs=4, n_iter=8, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(96, 3))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]


@settings(deadline=None, max_examples=60)
@given(n_iter=st.integers(1, 60), n_states=st.integers(1, 80))
def test_spaced_depths_end_at_the_budget_and_increase(n_iter, n_states):
    depths = spaced_depths(n_iter, n_states)
    assert depths[-1] == n_iter
    assert all(a < b for a, b in zip(depths, depths[1:]))
    assert depths[0] >= 1
    assert len(depths) == min(n_iter, n_states)


def test_spaced_depths_refuses_empty_requests():
    with pytest.raises(ValueError, match="n_states >= 1"):
        spaced_depths(5, 0)


def test_random_depth_has_the_requested_mean():
    g = torch.Generator().manual_seed(0)
    draws = np.array([random_depth(8, generator=g) for _ in range(4000)])
    assert draws.min() >= 1
    assert abs(draws.mean() - 8) < 0.3
    assert random_depth(1) == 1


def test_hutchinson_penalty_estimates_the_frobenius_norm():
    torch.manual_seed(0)
    W = torch.randn(5, 5, dtype=torch.float64)
    z = torch.randn(4000, 5, dtype=torch.float64)
    estimate = jacobian_penalty(lambda z: z @ W.T, z)
    exact = (W**2).sum() / 5
    assert float(estimate) == pytest.approx(float(exact), rel=0.05)
    # Differentiable in the operator's parameters, not in the detached state.
    Wp = W.clone().requires_grad_()
    jacobian_penalty(lambda z: z @ Wp.T, z[:10]).backward()
    assert Wp.grad is not None and float(Wp.grad.abs().sum()) > 0


class Affine(torch.nn.Module):
    """G(z, u) = A z + u with a trainable contraction A (shape (d, d))."""

    def __init__(self, d=3, scale=0.5):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.A = torch.nn.Parameter(scale * torch.randn(d, d, generator=g) / d**0.5)

    def forward(self, z, u):
        return z @ self.A.T + u


def _module(backward, **recipes):
    return ImplicitModule(
        Affine(),
        state_shape=(3,),
        solver=picard,
        backward=get_backward(backward),
        n_iter=9,
        tol=0.0,
        **recipes,
    )


@pytest.mark.parametrize("backward", ["implicit", "jacobian_free", "phantom", "unroll"])
def test_trajectory_loss_sees_every_selected_state(backward):
    torch.manual_seed(0)
    module = _module(backward, train_states=3)
    x = torch.randn(6, 3)
    out = module(x)
    assert isinstance(out, TrainingOutput)
    depths = spaced_depths(9, 3)
    assert len(out.outputs) == len(depths)
    for d, y in zip(depths[:-1], out.outputs[:-1]):
        expected, _, _ = module.solve(x, max_iter=d, tol=0.0)
        torch.testing.assert_close(y.detach(), expected)
        assert y.requires_grad
    assert out.outputs[-1].requires_grad


def test_trajectory_loss_is_the_mean_of_the_state_losses():
    class Net(EquilibriumLossMixin):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return super().get_loss(y_pred, y_true, X=X, training=training)

    class Plain:
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return ((y_pred - y_true) ** 2).mean()

    class Both(Net, Plain):
        pass

    y = torch.zeros(2, 1)
    out = TrainingOutput([torch.ones(2, 1), 3 * torch.ones(2, 1)], penalty=torch.tensor(0.5))
    assert float(Both().get_loss(out, y)) == pytest.approx((1 + 9) / 2 + 0.5)
    assert float(Both().get_loss(torch.ones(2, 1), y)) == 1.0


def test_random_depth_backward_gives_states_within_its_draw():
    mode = get_backward("random_depth", k=2, depth=10)
    A = torch.nn.Parameter(torch.eye(2) * 0.5)
    states = mode.trajectory(
        lambda z: z @ A.T + 1.0,
        torch.zeros(3, 2),
        solver=picard,
        max_iter=5,
        tol=0.0,
        depths=(1, 3, 5),
    )
    # depths rescaled to the draw r=10: 2, 6, 10; the last two inside the k=2 window? no:
    # the window is steps 9..10, so 2 and 6 get one differentiable step each.
    assert len(states) == 3
    z = torch.zeros(3, 2)
    for t in range(1, 11):
        z = 0.5 * z + 1.0
        if t in (2, 6, 10):
            torch.testing.assert_close(states[(2, 6, 10).index(t)].detach(), z)
    assert all(s.requires_grad for s in states)


def _frobenius_at_fixed_points(est, X):
    module = est.module_
    x = torch.tensor(X, dtype=torch.float32)
    with torch.no_grad():
        u = module.encode(x)
        z, _ = module.solver(
            lambda z: module.step(z, u), module.init_state(u), max_iter=200, tol=1e-7
        )
    total = 0.0
    for i in range(len(X)):
        ui = u[i : i + 1]
        J = torch.autograd.functional.jacobian(lambda zi, ui=ui: module.step(zi[None], ui)[0], z[i])
        total += float((J**2).sum()) / z.shape[1]
    return total / len(X)


def test_jacobian_penalty_lowers_the_measured_jacobian_norm(data):
    X, y = data
    params = {**TINY, "max_epochs": 20, "operator__init_contraction": 0.9}
    plain = ImplicitRegressor(**params).fit(X, y)
    penalised = ImplicitRegressor(**params, jacobian_penalty=10.0).fit(X, y)
    assert _frobenius_at_fixed_points(penalised, X[:16]) < 0.5 * _frobenius_at_fixed_points(
        plain, X[:16]
    )


def test_random_training_depth_varies_per_batch(data):
    X, y = data
    calls = []

    class Counting(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, z, u):
            calls.append(z.shape[0])
            return self.inner(z, u)

    est = ImplicitRegressor(**{**TINY, "max_epochs": 1}, train_depth="random", batch_size=8)
    est.fit(X, y)
    module = est.module_
    module.operator = Counting(module.operator)
    module.train()
    depths = []
    for _ in range(30):
        calls.clear()
        out = module(torch.tensor(X[:8], dtype=torch.float32))
        assert isinstance(out, TrainingOutput)
        depths.append(len(calls))  # the solve's steps and one differentiable step
    assert len(set(depths)) > 3
    assert abs(np.mean(depths) - 1 - 8) < 3


@pytest.mark.parametrize(
    "recipes",
    [
        dict(train_states=3),
        dict(jacobian_penalty=0.1),
        dict(train_depth="random"),
        dict(train_states=2, jacobian_penalty=0.1, train_depth="random", backward="unroll"),
        dict(train_states=2, backward="random_depth"),
    ],
)
def test_recipes_train_and_are_reproducible(data, recipes):
    X, y = data
    a = ImplicitRegressor(**TINY, **recipes).fit(X, y)
    b = ImplicitRegressor(**TINY, **recipes).fit(X, y)
    assert np.isfinite(a.loss_curve_).all()
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_recipes_change_training(data):
    X, y = data
    base = ImplicitRegressor(**TINY).fit(X, y).predict(X)
    other = ImplicitRegressor(**TINY, train_states=4).fit(X, y).predict(X)
    assert not np.allclose(base, other)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(train_states=0), "train_states"),
        (dict(train_depth="poisson"), "train_depth"),
        (dict(jacobian_penalty=-1.0), "jacobian_penalty"),
        (dict(train_depth="random", backward="random_depth"), "both draw"),
        (
            dict(
                train_states=2,
                backward=lambda f, z0, *, solver, max_iter, tol: solver(
                    f, z0, max_iter=max_iter, tol=tol
                )[0],
            ),
            "trajectory",
        ),
    ],
)
def test_invalid_recipes_raise(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        ImplicitRegressor(**TINY, **params).fit(X, y)


def test_warm_start_applies_the_current_recipes(data):
    X, y = data
    est = ImplicitRegressor(**TINY, warm_start=True).fit(X, y)
    est.set_params(train_states=3, max_epochs=1).fit(X, y)
    assert est.module_.train_states == 3
