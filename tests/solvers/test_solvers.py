import math

import numpy as np
import pytest
import torch

from sklearn_implicit.solvers import SolverInfo, anderson, get_solver, picard, register_solver

SOLVERS = [picard, anderson]


def _affine(seed, n=6, batch=4, rho=0.8):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    A = rho * A / torch.linalg.matrix_norm(A, 2)
    b = torch.randn(batch, n, generator=g, dtype=torch.float64)
    z_star = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - A, b.T).T
    return (lambda z: z @ A.T + b), z_star, torch.zeros(batch, n, dtype=torch.float64)


def _cosine():
    # The Dottie number: the unique real fixed point of cos.
    return (
        torch.cos,
        torch.full((3, 1), 0.7390851332151607, dtype=torch.float64),
        torch.zeros(3, 1, dtype=torch.float64),
    )


def _reciprocal():
    x = torch.tensor([[0.3], [0.5], [0.9]], dtype=torch.float64)
    return (lambda y: y - 0.9 * (x * y - 1)), 1 / x, torch.zeros(3, 1, dtype=torch.float64)


def _babylonian():
    a = torch.tensor([[2.0], [9.0], [0.25]], dtype=torch.float64)
    return (lambda z: 0.5 * (z + a / z)), a.sqrt(), torch.ones(3, 1, dtype=torch.float64)


PROBLEMS = {
    "affine": lambda: _affine(0),
    "affine_slow": lambda: _affine(1, rho=0.97),
    "cosine": _cosine,
    "reciprocal": _reciprocal,
    "babylonian": _babylonian,
}


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_solvers_reach_known_fixed_points(solver, problem):
    f, z_star, z0 = PROBLEMS[problem]()
    z, info = solver(f, z0, max_iter=2000, tol=1e-10)
    assert isinstance(info, SolverInfo)
    assert info.status == "converged"
    torch.testing.assert_close(z, z_star, atol=1e-7, rtol=1e-7)
    assert np.all(info.residual <= 1e-10)


def test_anderson_needs_fewer_applications_on_slow_contraction():
    g = torch.Generator().manual_seed(2)
    Q, _ = torch.linalg.qr(torch.randn(20, 20, generator=g, dtype=torch.float64))
    A = Q @ torch.diag(torch.linspace(-0.5, 0.98, 20, dtype=torch.float64)) @ Q.T
    b = torch.randn(3, 20, generator=g, dtype=torch.float64)
    z0 = torch.zeros(3, 20, dtype=torch.float64)

    def f(z):
        return z @ A.T + b

    _, info_p = picard(f, z0, max_iter=5000, tol=1e-8)
    _, info_a = anderson(f, z0, max_iter=5000, tol=1e-8)
    assert info_a.n_steps.max() < 0.5 * info_p.n_steps.max()


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_fixed_budget_runs_exactly_max_iter_steps(solver):
    f, _, z0 = _affine(3)
    calls = []
    z, info = solver(lambda z: (calls.append(1), f(z))[1], z0, max_iter=7, tol=0)
    assert len(calls) == 7
    assert np.all(info.n_steps == 7)


def test_picard_fixed_budget_equals_manual_iteration():
    f, _, z0 = _affine(4)
    z = z0
    for _ in range(5):
        z = f(z)
    z5, _ = picard(f, z0, max_iter=5, tol=0)
    assert torch.equal(z5, z)


def test_first_two_anderson_steps_are_picard_steps():
    f, _, z0 = _affine(5)
    for t in (1, 2):
        za, _ = anderson(f, z0, max_iter=t, tol=0)
        zp, _ = picard(f, z0, max_iter=t, tol=0)
        torch.testing.assert_close(za, zp)


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_samples_are_independent_of_their_batch(solver):
    f_full, _, z0 = _affine(6, batch=8, rho=0.9)
    z_full, info_full = solver(f_full, z0, max_iter=200, tol=1e-6)
    g = torch.Generator().manual_seed(6)
    A = torch.randn(6, 6, generator=g, dtype=torch.float64)
    A = 0.9 * A / torch.linalg.matrix_norm(A, 2)
    b = torch.randn(8, 6, generator=g, dtype=torch.float64)
    for i in (0, 5):
        z_i, info_i = solver(
            lambda z, i=i: z @ A.T + b[i : i + 1], z0[i : i + 1], max_iter=200, tol=1e-6
        )
        torch.testing.assert_close(z_i[0], z_full[i], atol=1e-12, rtol=0)
        assert info_i.n_steps[0] == info_full.n_steps[i]


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_divergence_is_flagged_not_returned_as_nan(solver):
    x = torch.tensor([[0.5], [-3.0]], dtype=torch.float64)

    def f(y):  # the reciprocal operator diverges for negative x
        return y - 0.9 * (x * y - 1) if True else None

    def g(y):
        return f(y) * torch.where(x < 0, torch.full_like(y, 1e30), torch.ones_like(y))

    z, info = solver(g, torch.zeros(2, 1, dtype=torch.float64), max_iter=200, tol=1e-8)
    assert torch.isfinite(z).all()
    assert info.diverged.tolist() == [False, True]
    assert info.converged[0]
    assert info.status == "diverged"


def test_residual_trace_is_recorded():
    f, _, z0 = _affine(7)
    _, info = picard(f, z0, max_iter=50, tol=1e-6, track=True)
    assert info.residual_trace.shape[1] == z0.shape[0]
    assert info.residual_trace.shape[0] == info.n_steps.max()
    # Contraction: the residual decreases geometrically.
    assert info.residual_trace[-1].max() < info.residual_trace[0].min()


def test_anderson_singular_system_falls_back():
    # A constant map makes every residual after the first step vanish, so the
    # least-squares system is singular once lam=0.
    c = torch.ones(2, 3)
    z, info = anderson(lambda z: c.clone(), torch.zeros(2, 3), max_iter=6, tol=0, lam=0.0)
    assert torch.equal(z, c)
    assert not info.diverged.any()


def test_callback_sees_every_iterate():
    f, _, z0 = _affine(8)
    seen = []
    picard(f, z0, max_iter=4, tol=0, callback=lambda k, z: seen.append((k, z.clone())))
    assert [k for k, _ in seen] == [1, 2, 3, 4]
    torch.testing.assert_close(seen[0][1], f(z0))


def test_damping_and_validation():
    f, z_star, z0 = _affine(9)
    z, info = picard(f, z0, max_iter=3000, tol=1e-10, damping=0.5)
    torch.testing.assert_close(z, z_star, atol=1e-7, rtol=1e-7)
    with pytest.raises(ValueError, match="damping"):
        picard(f, z0, max_iter=3, tol=0, damping=0.0)
    with pytest.raises(ValueError, match="memory"):
        anderson(f, z0, max_iter=3, tol=0, m=0)


def test_registry():
    assert get_solver("picard") is picard
    with pytest.raises(ValueError, match="Unknown solver 'newton'"):
        get_solver("newton")

    def my_solver(f, z0, *, max_iter, tol, track=False, callback=None):
        return picard(f, z0, max_iter=max_iter, tol=tol, track=track, callback=callback)

    register_solver("mine", my_solver)
    assert get_solver("mine") is my_solver
    assert get_solver(my_solver) is my_solver


def test_info_concatenate_pads_traces():
    f, _, z0 = _affine(10)
    _, a = picard(f, z0, max_iter=30, tol=1e-3, track=True)
    f2, _, z02 = _affine(11, batch=2)
    _, b = picard(f2, z02, max_iter=30, tol=1e-8, track=True)
    c = SolverInfo.concatenate([a, b])
    assert c.n_samples == 6
    assert c.residual_trace.shape == (max(a.residual_trace.shape[0], b.residual_trace.shape[0]), 6)
    assert math.isfinite(float(c.residual_trace.max()))
    assert "SolverInfo(" in repr(c)


def test_fixed_depth_info_describes_one_explicit_pass():
    info = SolverInfo.fixed_depth(5, 3, max_iter=10, tol=1e-4, solver="untied")
    assert info.n_samples == 5 and info.status == "converged"
    assert (info.n_steps == 3).all() and (info.residual == 0).all()
    assert not info.diverged.any() and info.residual_trace.shape == (0, 5)
    assert (info.max_iter, info.tol, info.solver) == (10, 1e-4, "untied")
    both = SolverInfo.concatenate(
        [info, SolverInfo.fixed_depth(2, 3, max_iter=10, tol=1e-4, solver="untied")]
    )
    assert both.n_samples == 7


@pytest.mark.parametrize("solver", [picard, anderson])
@pytest.mark.parametrize("tol", [0.0, 1e-6])
def test_callback_sees_every_step_once_when_a_sample_diverges(solver, tol):
    # Sample 0 doubles until it overflows; sample 1 contracts.
    scale = torch.tensor([[2.0], [0.5]])
    steps = []
    z, info = solver(
        lambda z: scale * z + 1e30 * (scale > 1) + (scale < 1),
        torch.zeros(2, 1),
        max_iter=60,
        tol=tol,
        callback=lambda k, z: steps.append(k),
    )
    assert steps == list(range(1, len(steps) + 1))
    assert info.diverged.tolist() == [True, False]
    assert torch.isfinite(z).all()


@pytest.mark.parametrize("solver", [picard, anderson])
@pytest.mark.parametrize("tol", [0.0, 1e-6])
def test_unrolled_solve_is_differentiable_past_the_history(solver, tol):
    # Backpropagation through the solver's own steps (Unroll, RandomDepth's last
    # steps): more steps than Anderson's history, and samples freezing at tol,
    # must not break autograd; the gradient matches central differences (float64).
    A = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.3

    def solve(w):
        def f(z):
            return w * torch.tanh(z @ A) + 1.0

        z0 = torch.zeros(4, 3, dtype=torch.float64)
        return solver(f, z0, max_iter=9, tol=tol, **({"m": 3} if solver is anderson else {}))[0]

    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(solve(w).sum(), w)
    h = 1e-6
    fd = (
        solve(torch.tensor(0.5 + h, dtype=torch.float64)).sum()
        - solve(torch.tensor(0.5 - h, dtype=torch.float64)).sum()
    ) / (2 * h)
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-8)
