"""Backward modes under mixed precision (autocast to bfloat16 on the CPU)."""

import numpy as np
import pytest
import torch

from sklearn_implicit.backward import ImplicitDifferentiation
from sklearn_implicit.solvers import picard

D = 6


def _problem(seed=0, rho=0.6):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, D, generator=g)
    W = (rho * W / torch.linalg.matrix_norm(W, 2)).requires_grad_()
    U = torch.randn(D, 3, generator=g).requires_grad_()
    x = torch.randn(8, 3, generator=g)
    return W, U, x


def _loss(W, U, x):
    lin_z = torch.nn.functional.linear
    mode = ImplicitDifferentiation()

    def f(z):
        return torch.tanh(lin_z(z, W) + lin_z(x, U))

    z = mode(f, torch.zeros(x.shape[0], D), solver=picard, max_iter=200, tol=1e-6)
    return z.float().square().sum()


def test_implicit_gradient_under_bf16_autocast():
    """The adjoint hook hands back a gradient of the incoming dtype (it used to raise)."""
    W, U, x = _problem()
    loss = _loss(W, U, x)
    loss.backward()
    ref = W.grad.clone(), U.grad.clone()
    W.grad, U.grad = None, None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = _loss(W, U, x)
    loss.backward()  # "hook ... has changed the type of value" before the fix
    for got, want in zip((W.grad, U.grad), ref):
        assert got.dtype == torch.float32
        assert torch.isfinite(got).all()
        # bf16 has ~3 significant digits; the adjoint itself is solved in float32.
        assert torch.allclose(got, want, rtol=0.1, atol=0.05)


@pytest.fixture
def fresh_accelerate_state():
    """Accelerate keeps one global state; a test with its own precision resets it."""
    state = pytest.importorskip(
        "accelerate.state", reason="the 'distributed' extra (accelerate) is not installed"
    )
    state.AcceleratorState._reset_state(True)
    yield
    state.AcceleratorState._reset_state(True)


@pytest.mark.parametrize(
    "backward, tol",
    [
        ("implicit", 1e-4),
        ("phantom", 1e-4),
        ("implicit", 0.0),
    ],
)
def test_accelerate_bf16_fit_predicts_finite(fresh_accelerate_state, backward, tol):
    from accelerate import Accelerator

    from sklearn_implicit.distributed import AcceleratedImplicitRegressor

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(64, 2))
    y = X[:, 0] * X[:, 1]
    est = AcceleratedImplicitRegressor(
        accelerator=Accelerator(mixed_precision="bf16", cpu=True),
        backward=backward,
        n_iter=10,
        tol=tol,
        max_epochs=2,
        batch_size=32,
        device="cpu",
        random_state=0,
    )
    est.fit(X, y)
    assert len(est.loss_curve_) == 2
    assert np.isfinite(est.loss_curve_).all()
    pred = est.predict(X[:8])
    assert pred.shape == (8,)
    assert np.isfinite(pred).all()
