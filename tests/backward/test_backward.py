import pytest
import torch

from sklearn_implicit.backward import (
    ImplicitDifferentiation,
    JacobianFree,
    PhantomGradient,
    Unroll,
    get_backward,
)
from sklearn_implicit.solvers import anderson, picard

D = 5


def _params(seed=0, rho=0.7):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, D, generator=g, dtype=torch.float64)
    W = rho * W / torch.linalg.matrix_norm(W, 2)
    U = torch.randn(D, 3, generator=g, dtype=torch.float64)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64)
    return W.requires_grad_(), U.requires_grad_(), x


def _run(mode, W, U, x, solver=picard, max_iter=500, tol=1e-13):
    def f(z):
        return torch.tanh(z @ W.T + x @ U.T)

    z0 = torch.zeros(x.shape[0], D, dtype=W.dtype)
    return mode(f, z0, solver=solver, max_iter=max_iter, tol=tol)


@pytest.mark.parametrize("solver", [picard, anderson], ids=["picard", "anderson"])
def test_implicit_gradient_matches_finite_differences(solver):
    W, U, x = _params()
    mode = ImplicitDifferentiation()
    assert torch.autograd.gradcheck(
        lambda W, U: _run(mode, W, U, x, solver=solver).sum(dim=1),
        (W, U),
        eps=1e-6,
        atol=1e-6,
        rtol=1e-5,
    )


def test_implicit_gradient_matches_unrolled_to_convergence():
    W, U, x = _params(1, rho=0.8)
    target = torch.randn(4, D, dtype=torch.float64)
    grads = {}
    for name, mode in [("implicit", ImplicitDifferentiation()), ("unroll", Unroll())]:
        z = _run(mode, W, U, x, max_iter=300, tol=0 if name == "unroll" else 1e-13)
        loss = ((z - target) ** 2).sum()
        grads[name] = torch.autograd.grad(loss, (W, U))
    for a, b in zip(grads["implicit"], grads["unroll"]):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-7)


def test_inexact_modes_give_descent_directions():
    W, U, x = _params(2, rho=0.5)
    target = torch.randn(4, D, dtype=torch.float64)

    def grad_of(mode):
        z = _run(mode, W, U, x)
        loss = ((z - target) ** 2).sum()
        return torch.cat([g.flatten() for g in torch.autograd.grad(loss, (W, U))])

    exact = grad_of(ImplicitDifferentiation())
    for mode in (JacobianFree(), PhantomGradient(k=5, tau=0.5)):
        approx = grad_of(mode)
        cos = torch.dot(exact, approx) / (exact.norm() * approx.norm())
        assert cos > 0.5, (mode, cos)
    # Phantom with many steps approaches the exact gradient.
    many = grad_of(PhantomGradient(k=200, tau=1.0))
    torch.testing.assert_close(many, exact, atol=1e-8, rtol=1e-6)


def _saved_bytes(mode, n_iter):
    W, U, x = _params(3, rho=0.9)
    x = torch.randn(256, 3, dtype=torch.float64)
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        z = _run(mode, W, U, x, max_iter=n_iter, tol=0)
    z.sum().backward()
    return total


@pytest.mark.parametrize("name", ["implicit", "jacobian_free", "phantom"])
def test_memory_does_not_grow_with_n_iter(name):
    assert _saved_bytes(get_backward(name), 100) == _saved_bytes(get_backward(name), 10)


def test_unroll_memory_grows_with_n_iter():
    ratio = _saved_bytes(Unroll(), 100) / _saved_bytes(Unroll(), 10)
    assert 8 < ratio < 12


def test_no_graph_in_no_grad_mode():
    W, U, x = _params(4)
    with torch.no_grad():
        for mode in (ImplicitDifferentiation(), JacobianFree(), PhantomGradient()):
            assert not _run(mode, W, U, x).requires_grad


def test_get_backward():
    assert isinstance(get_backward("implicit"), ImplicitDifferentiation)
    assert get_backward("phantom", k=3).k == 3
    mode = JacobianFree()
    assert get_backward(mode) is mode
    with pytest.raises(ValueError, match="Unknown backward mode 'adjoint'"):
        get_backward("adjoint")
    with pytest.raises(ValueError, match="Unknown option"):
        get_backward("phantom", steps=3)
    with pytest.raises(ValueError, match="tau"):
        W, U, x = _params(5)
        _run(PhantomGradient(tau=2.0), W, U, x)
    assert "PhantomGradient(k=5, tau=0.5)" == repr(PhantomGradient())


@pytest.mark.parametrize("damping", [1.0, 0.5])
def test_random_depth_takes_the_solvers_steps_with_gradient(damping):
    # The last k steps (with gradient) and the one-step early states are the
    # solver's own steps: with a damped solver they are damped, so the state and
    # its gradient equal those of a full differentiable solve of the same depth.
    from functools import partial

    from sklearn_implicit.backward import RandomDepth

    solver = partial(picard, damping=damping)
    w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)

    def f(z):
        return w * torch.tanh(z) + 1.0

    z0 = torch.zeros(3, 2, dtype=torch.float64)
    mode = RandomDepth(k=2, depth=6)
    states = mode.trajectory(f, z0, solver=solver, max_iter=6, tol=0.0, depths=(2, 6))
    assert mode.last_depth == (4, 2) and len(states) == 2
    for depth, state in zip((2, 6), states, strict=True):
        reference, _ = solver(f, z0, max_iter=depth, tol=0.0)
        torch.testing.assert_close(state, reference)
    # The gradient flows through the last k solver steps only (truncated).
    (g,) = torch.autograd.grad(states[-1].sum(), w)
    z4 = solver(f, z0, max_iter=4, tol=0.0)[0].detach()
    (g_ref,) = torch.autograd.grad(solver(f, z4, max_iter=2, tol=0.0)[0].sum(), w)
    torch.testing.assert_close(g, g_ref)
