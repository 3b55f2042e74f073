"""Tests of the measurement helpers: empirical Lipschitz, contraction modulus, necessity bound."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_implicit import ImplicitRegressor, RegularityReport, regularity_report
from sklearn_implicit.lipschitz import (
    contraction_modulus,
    empirical_lipschitz,
    lipschitz_in_x,
    necessity_bound,
)
from sklearn_implicit.theory import ReciprocalOperator, iterate

DT = torch.float64


def test_empirical_lipschitz_of_linear_map_is_between_singular_values():
    rng = np.random.RandomState(0)
    A = rng.randn(3, 4)
    s = np.linalg.svd(A, compute_uv=False)
    X = rng.randn(20, 4)
    L = empirical_lipschitz(lambda x: x @ A.T, X, n_directions=8, random_state=0)
    assert s[-1] - 1e-9 <= L <= s[0] + 1e-9
    per_sample = empirical_lipschitz(lambda x: x @ A.T, X, reduce=None, random_state=0)
    assert per_sample.shape == (20,)
    mean = empirical_lipschitz(lambda x: x @ A.T, X, reduce="mean", random_state=0)
    assert mean <= L


def test_empirical_lipschitz_tensor_input_and_errors():
    x = torch.linspace(0.5, 1.0, 5, dtype=DT).reshape(-1, 1)
    L = empirical_lipschitz(lambda v: 1 / v, x, eps=1e-7, n_directions=1, random_state=0)
    assert L == pytest.approx(4.0, rel=1e-4)
    with pytest.raises(ValueError, match="eps"):
        empirical_lipschitz(lambda v: v, x, eps=0)
    with pytest.raises(ValueError, match="n_directions"):
        empirical_lipschitz(lambda v: v, x, n_directions=0)
    with pytest.raises(ValueError, match="reduce"):
        empirical_lipschitz(lambda v: v, x, reduce="median")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5), width=st.integers(1, 5))
def test_contraction_modulus_is_per_sample_spectral_norm(seed, n, width):
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, width, width, generator=gen, dtype=DT)  # one matrix per sample

    def G(z, x):
        return torch.einsum("nij,nj->ni", A, z) + x

    z = torch.randn(n, width, generator=gen, dtype=DT)
    mu = contraction_modulus(G, z, torch.zeros(n, width, dtype=DT), n_power_iter=200)
    expected = torch.linalg.matrix_norm(A, ord=2).numpy()
    np.testing.assert_allclose(mu, expected, rtol=1e-3)


def test_lipschitz_in_x_of_reciprocal_operator():
    x = torch.tensor([[0.1], [0.5], [1.0]], dtype=DT)
    z = torch.tensor([[3.0], [-2.0], [0.0]], dtype=DT)
    G = ReciprocalOperator(0.7)
    np.testing.assert_allclose(lipschitz_in_x(G, z, x), 0.7 * np.abs(z[:, 0].numpy()))
    np.testing.assert_allclose(contraction_modulus(G, z, x), np.abs(1 - 0.7 * x[:, 0].numpy()))


def test_jacobian_norm_of_constant_map_is_zero():
    x = torch.randn(4, 2, dtype=DT)
    np.testing.assert_array_equal(lipschitz_in_x(lambda z, x: z, torch.ones(4, 2), x), 0.0)


def test_necessity_bound_values():
    np.testing.assert_allclose(necessity_bound([1.0, 3.0], [0.0, 0.5]), [1.0, 6.0])
    assert np.isinf(necessity_bound(1.0, 1.0))
    assert np.isinf(necessity_bound([2.0], [1.5])[0])


def _random_regular_operator(seed, d, k, a):
    """``G(z, x) = a tanh(W z + U x + b)`` with ``||W||_2 = 1``: an a-contraction in z."""
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(k, k, generator=gen, dtype=DT)
    W = W / torch.linalg.matrix_norm(W, ord=2)
    U = torch.randn(k, d, generator=gen, dtype=DT)
    b = torch.randn(k, generator=gen, dtype=DT)

    def G(z, x):
        return a * torch.tanh(z @ W.T + x @ U.T + b)

    return G, a * float(torch.linalg.matrix_norm(U, ord=2))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    d=st.integers(1, 4),
    k=st.integers(1, 5),
    a=st.floats(0.1, 0.95),
)
def test_necessity_bound_holds_on_random_regular_operators(seed, d, k, a):
    G, lip_global = _random_regular_operator(seed, d, k, a)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(6, d, generator=gen, dtype=DT)
    n_iter = int(np.ceil(np.log(1e-13) / np.log(a))) + 5

    def z_star(v):
        return iterate(G, v, n_iter=n_iter, y0=torch.zeros(v.shape[0], k, dtype=DT))

    z = z_star(x)
    mu = contraction_modulus(G, z, x, n_power_iter=100, random_state=0)
    lip_x = lipschitz_in_x(G, z, x, n_power_iter=100, random_state=0)
    assert np.all(mu <= a + 1e-9)
    assert np.all(lip_x <= lip_global + 1e-9)
    bound = necessity_bound(lip_x, mu)
    measured = empirical_lipschitz(z_star, x, eps=1e-6, reduce=None, random_state=seed)
    # Local bound (first order) and the global one of the necessity argument.
    assert np.all(measured <= bound * (1 + 1e-3) + 1e-8)
    x2 = torch.randn(6, d, generator=gen, dtype=DT)
    dz = torch.linalg.vector_norm(z_star(x2) - z, dim=1).numpy()
    dx = torch.linalg.vector_norm(x2 - x, dim=1).numpy()
    assert np.all(dz <= lip_global / (1 - a) * dx * (1 + 1e-9) + 1e-12)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(80, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    est = ImplicitRegressor(operator__width=8, max_epochs=3, random_state=0, device="cpu")
    return est.fit(X, y), X


def test_regularity_report_on_fitted_estimator(fitted):
    est, X = fitted
    rep = regularity_report(est, X[:15], random_state=0)
    assert isinstance(rep, RegularityReport)
    for name in ("mu", "lip_x", "bound", "lipschitz_z", "lipschitz_y", "bound_y", "z_norm"):
        assert getattr(rep, name).shape == (15,)
    # The default MLP operator caps ||W|| at 0.9 and tanh is 1-Lipschitz.
    assert np.all(rep.mu <= 0.9 + 1e-3)
    assert rep.is_contraction.all()
    assert rep.bound_holds().all()
    assert np.all(rep.lipschitz_y <= rep.bound_y * 1.05 + 1e-6)
    s = rep.summary()
    assert s["fraction_bound_holds"] == 1.0
    assert "mu_max" in repr(rep)


def test_regularity_report_matches_known_operator():
    # An untrained ReciprocalOperator: mu = |1 - eta x|, Lip_x = eta / x, bound = 1 / x^2.
    X = np.array([[0.25], [0.5], [1.0]])
    est = ImplicitRegressor(
        operator=ReciprocalOperator(0.8), max_epochs=0, n_iter=300, tol=1e-7, device="cpu"
    ).fit(X, 1 / X[:, 0])
    rep = regularity_report(est, X, eps=1e-3, random_state=0)
    x = X[:, 0]
    np.testing.assert_allclose(rep.mu, 1 - 0.8 * x, rtol=1e-4)
    np.testing.assert_allclose(rep.lip_x, 0.8 / x, rtol=1e-4)
    np.testing.assert_allclose(rep.bound, 1 / x**2, rtol=1e-3)
    np.testing.assert_allclose(rep.lipschitz_z, 1 / x**2, rtol=0.02)


def test_regularity_report_errors(fitted):
    est, X = fitted
    with pytest.raises(ValueError, match="eps"):
        regularity_report(est, X, eps=-1)
    with pytest.raises(ValueError, match="n_directions"):
        regularity_report(est, X, n_directions=0)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        regularity_report(ImplicitRegressor(), X)


def test_regularity_report_method(fitted):
    est, X = fitted
    rep = est.regularity_report(X[:5], random_state=0)
    ref = regularity_report(est, X[:5], random_state=0)
    np.testing.assert_allclose(rep.mu, ref.mu)


class _LinearOperator(torch.nn.Module):
    """``G(z, x) = A z + x`` with a fixed matrix ``A``."""

    def __init__(self, A):
        super().__init__()
        self.register_buffer("A", torch.as_tensor(A, dtype=torch.float32))
        self.state_shape = (self.A.shape[0],)

    def forward(self, z, x):
        return z @ self.A.T + x


@pytest.mark.parametrize(
    "A, n_power_iter, rtol",
    [
        ([[0.5, 3.0], [0.0, -0.3]], 30, 1e-3),  # real eigenvalues 0.5, -0.3
        ([[0.3, 2.0], [-0.1, 0.3]], 200, 0.03),  # a complex pair, |lambda| = sqrt(0.29)
    ],
)
def test_regularity_radius_of_a_non_normal_operator(A, n_power_iter, rtol):
    # ||A||_2 > 1 > max |lambda|: not a one-step contraction, yet the iteration converges.
    A = np.array(A)
    X = np.random.RandomState(0).randn(6, 2)
    est = ImplicitRegressor(operator=_LinearOperator(A), max_epochs=0, device="cpu")
    rep = regularity_report(est.fit(X, X[:, 0]), X, n_power_iter=n_power_iter, random_state=0)
    radius = np.max(np.abs(np.linalg.eigvals(A)))
    norm = np.linalg.norm(A, 2)
    assert radius < 1 < norm
    np.testing.assert_allclose(rep.radius, radius, rtol=rtol)
    np.testing.assert_allclose(rep.mu, norm, rtol=1e-3)
    assert rep.converged.all() and rep.tol == 1e-6
    assert not rep.is_contraction.any() and np.isinf(rep.bound).all()
    # The solve grows before it contracts: some step ratio exceeds 1.
    assert np.nanmax(rep.step_ratio) > 1
    assert rep.summary()["radius_max"] == pytest.approx(radius, rel=rtol)


def test_regularity_solves_to_tol_before_linearising():
    # Reciprocal operator: z_k - z_{k-1} = 0.8 q^(k-1), so every step ratio is q = 1 - 0.8 x.
    X = np.array([[0.02], [1.0]])
    est = ImplicitRegressor(
        operator=ReciprocalOperator(0.8), max_epochs=0, n_iter=10, device="cpu"
    ).fit(X, 1 / X[:, 0])
    q = 1 - 0.8 * X[:, 0]
    rep = regularity_report(est, X, random_state=0)  # up to 1000 steps, tol 1e-6
    assert rep.converged.all()
    np.testing.assert_allclose(rep.mu, q, rtol=1e-4)
    np.testing.assert_allclose(rep.radius, q, rtol=1e-4)
    np.testing.assert_allclose(rep.step_ratio[:20, 0], q[0], rtol=1e-3)
    assert np.isnan(rep.step_ratio[-1, 1])  # x = 1 stopped long before x = 0.02
    short = regularity_report(est, X, n_iter=100, random_state=0)
    np.testing.assert_array_equal(short.converged, [False, True])
    assert short.step_ratio.shape == (99, 2)
    loose = regularity_report(est, X, tol=None, n_iter=20, random_state=0)
    assert loose.tol == est.tol
