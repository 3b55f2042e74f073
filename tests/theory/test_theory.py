"""Property tests of the theory module: regular operators and their fixed points."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_implicit.theory import (
    GatedLinearOperator,
    NaiveOperator,
    ReciprocalOperator,
    SufficiencyOperator,
    iterate,
    steepness,
)

torch.set_default_dtype(torch.float32)
DT = torch.float64

# Targets with a singularity at 0 and (F, local Lipschitz bound L, domain).
TARGETS = {
    "reciprocal": (lambda x: 1 / x, lambda x: 1 / x[:, 0] ** 2, (1e-4, 1.0)),
    "sqrt": (torch.sqrt, lambda x: 0.5 / torch.sqrt(x[:, 0]), (1e-6, 4.0)),
    "log": (torch.log, lambda x: 1 / x[:, 0], (1e-6, 4.0)),
}
# The proof's constant: r = s^(-2) is c-Lipschitz with c <= 4 for the three
# targets, so |G(y, x) - G(y, x')| <= (2c + 1 + 2c |y|) |x - x'|.
C = 4.0

fast = settings(max_examples=60, deadline=None)
target_names = st.sampled_from(sorted(TARGETS))


def col(v):
    return torch.tensor([[float(v)]], dtype=DT)


def in_domain(name, u):
    lo, hi = TARGETS[name][2]
    return lo * (hi / lo) ** u  # log-uniform: many points near the singularity


# ----------------------------------------------------------------- reciprocal
@fast
@given(
    eta=st.floats(0.01, 0.99),
    x=st.floats(1e-3, 1.0),
    y1=st.floats(-1e3, 1e3),
    y2=st.floats(-1e3, 1e3),
)
def test_reciprocal_contraction_in_y(eta, x, y1, y2):
    G = ReciprocalOperator(eta)
    xx = col(x)
    mu = float(G.contraction_modulus(xx))
    assert mu < 1
    diff = abs(float(G(col(y1), xx) - G(col(y2), xx)))
    assert diff <= mu * abs(y1 - y2) * (1 + 1e-9) + 1e-9


@fast
@given(eta=st.floats(0.01, 0.99), x=st.floats(1e-3, 1.0))
def test_reciprocal_fixed_point_and_rate(eta, x):
    G = ReciprocalOperator(eta)
    xx = col(x)
    assert torch.allclose(G(1 / xx, xx), 1 / xx, rtol=1e-12)
    # y_t - 1/x = (1 - eta x)^t (y_0 - 1/x) exactly.
    for t in (1, 5, 20):
        y_t = float(iterate(G, xx, n_iter=t))
        assert y_t - 1 / x == pytest.approx(-((1 - eta * x) ** t) / x, rel=1e-8, abs=1e-10)


def test_reciprocal_diverges_for_negative_x():
    G = ReciprocalOperator(0.5)
    y = iterate(G, col(-0.5), n_iter=200)
    assert abs(float(y)) > 1e10


@fast
@given(eta=st.floats(0.05, 0.99), lo=st.floats(0.01, 0.5))
def test_reciprocal_lipschitz_grows_monotonically_with_t(eta, lo):
    # L_t of x -> y_t(x) from one trajectory (finite differences, float64).
    G = ReciprocalOperator(eta)
    x = torch.linspace(lo, 1.0, 25, dtype=DT).reshape(-1, 1)
    d = 1e-7
    traj = iterate(G, x, n_iter=60, return_trajectory=True)
    traj_p = iterate(G, x + d, n_iter=60, return_trajectory=True)
    L = ((traj_p - traj).abs() / d).amax(dim=(1, 2)).numpy()
    assert np.all(np.diff(L) >= -1e-6 * L[1:])
    assert L[-1] > 5 * L[0]


def test_reciprocal_lipschitz_curve_of_estimator_is_monotone():
    # The same through the estimator's one-trajectory lipschitz_curve.
    from sklearn_implicit import ImplicitRegressor

    X = np.linspace(0.1, 1.0, 30)[:, None]
    est = ImplicitRegressor(operator=ReciprocalOperator(0.8), max_epochs=0, device="cpu")
    est.fit(X, 1 / X[:, 0])
    curve = est.lipschitz_curve(X, n_iter=40, eps=1e-3, n_directions=1, random_state=0)
    L = curve.lipschitz
    assert np.all(np.diff(L) >= -1e-3 * L[1:])
    assert L[-1] > 10 * L[0]
    np.testing.assert_allclose(est.predict(X, n_iter=200), 1 / X[:, 0], rtol=1e-4)


@pytest.mark.parametrize("eta", [0, -0.5, np.inf, np.nan, "0.5", None])
def test_reciprocal_rejects_bad_eta(eta):
    with pytest.raises(ValueError, match="'eta' parameter"):
        ReciprocalOperator(eta)


@pytest.mark.parametrize(
    "make, param",
    [
        (lambda: ReciprocalOperator(0.5, trainable="yes"), "trainable"),
        (lambda: SufficiencyOperator(torch.log, torch.abs, order=np.inf), "order"),
        (lambda: SufficiencyOperator(torch.log, torch.abs, order=np.nan), "order"),
        (lambda: NaiveOperator(torch.log, eta=np.inf), "eta"),
        (lambda: NaiveOperator(torch.log, eta=np.nan), "eta"),
        (lambda: NaiveOperator(1.0), "F"),
        (lambda: GatedLinearOperator(in_features=0), "in_features"),
        (lambda: GatedLinearOperator(in_features=1.5), "in_features"),
        (lambda: GatedLinearOperator(in_features=1, width=2.7), "width"),
        (lambda: GatedLinearOperator(in_features=1, width=0), "width"),
        (lambda: GatedLinearOperator(in_features=1, max_contraction=np.nan), "max_contraction"),
        (lambda: GatedLinearOperator(in_features=1, init_contraction=np.inf), "init_contraction"),
        (lambda: GatedLinearOperator(in_features=1, init_contraction=-1.0), "init_contraction"),
        (lambda: iterate(ReciprocalOperator(), col(1.0), n_iter=2.5), "n_iter"),
        (lambda: iterate(ReciprocalOperator(), col(1.0), n_iter=-1), "n_iter"),
    ],
)
def test_operator_parameters_are_validated(make, param):
    with pytest.raises(ValueError, match=f"'{param}' parameter"):
        make()


def test_valid_parameters_are_accepted():
    assert float(ReciprocalOperator(np.float32(1.5)).eta) == 1.5
    assert NaiveOperator(torch.log, eta=1).eta == 1.0
    G = GatedLinearOperator(in_features=np.int64(2), width=np.int64(3), init_contraction=1)
    assert G.state_shape == (3,)
    assert iterate(ReciprocalOperator(), col(1.0), n_iter=np.int64(0)).item() == 0.0


# ----------------------------------------------------------------- sufficiency
@fast
@given(
    name=target_names,
    u=st.floats(0, 1),
    y1=st.floats(-1e3, 1e3),
    y2=st.floats(-1e3, 1e3),
)
def test_sufficiency_contraction_in_y(name, u, y1, y2):
    F, L, _ = TARGETS[name]
    G = SufficiencyOperator(F, L)
    x = col(in_domain(name, u))
    mu = float(G.contraction_modulus(x))
    assert 0 <= mu <= 1
    assert float(G.eps(x)) > 0  # mu < 1 exactly, even where it rounds to 1
    diff = abs(float(G(col(y1), x) - G(col(y2), x)))
    assert diff <= mu * abs(y1 - y2) * (1 + 1e-12) + 1e-12


@fast
@given(name=target_names, u=st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_sufficiency_fixed_point_is_F(name, u):
    F, L, _ = TARGETS[name]
    G = SufficiencyOperator(F, L)
    x = torch.tensor([[in_domain(name, v)] for v in u], dtype=DT)
    torch.testing.assert_close(G(F(x), x), F(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(G.fixed_point(x), F(x))


def test_sufficiency_iteration_converges_where_F_is_tame():
    F, L, _ = TARGETS["sqrt"]
    G = SufficiencyOperator(F, L)
    x = torch.tensor([[0.3], [1.0], [3.0]], dtype=DT)
    torch.testing.assert_close(iterate(G, x, n_iter=400), F(x), rtol=1e-8, atol=1e-8)


@settings(max_examples=150, deadline=None)
@given(
    name=target_names,
    u1=st.floats(0, 1),
    u2=st.floats(0, 1),
    y=st.floats(-1e4, 1e4),
)
def test_sufficiency_slope_in_x_bounded_near_singularity(name, u1, u2, y):
    F, L, _ = TARGETS[name]
    G = SufficiencyOperator(F, L)
    x1, x2 = in_domain(name, u1), in_domain(name, u2)
    if x1 == x2:
        return
    yy = col(y)
    slope = abs(float(G(yy, col(x1)) - G(yy, col(x2)))) / abs(x1 - x2)
    assert slope <= (2 * C + 1 + 2 * C * abs(y)) * (1 + 1e-6) + 1e-9


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_naive_operator_is_steep_where_sufficiency_is_not(name):
    # The contrast that makes the bound above meaningful.
    F, L, (lo, _) = TARGETS[name]
    x1, x2 = col(lo), col(2 * lo)
    y = col(0.0)
    naive = NaiveOperator(F, eta=0.5)
    suff = SufficiencyOperator(F, L)
    bound = 2 * C + 1
    naive_slope = abs(float(naive(y, x1) - naive(y, x2))) / lo
    suff_slope = abs(float(suff(y, x1) - suff(y, x2))) / lo
    assert naive_slope > 10 * bound
    assert suff_slope <= bound


def test_steepness_and_validation():
    F, L, _ = TARGETS["reciprocal"]
    x = torch.tensor([[0.1], [2.0]], dtype=DT)
    torch.testing.assert_close(steepness(F, L, x), torch.tensor([100.0, 1.0], dtype=DT))
    with pytest.raises(ValueError, match="order"):
        SufficiencyOperator(F, L, order=0.5)
    with pytest.raises(ValueError, match="'F' parameter .* must be a callable"):
        SufficiencyOperator(1.0, L)


def test_sufficiency_vector_valued():
    def F(x):
        return torch.stack([1 / x[:, 0], torch.log(x[:, 1])], dim=1)

    def L(x):
        return torch.maximum(1 / x[:, 0] ** 2, 1 / x[:, 1])

    G = SufficiencyOperator(F, L)
    x = torch.tensor([[0.5, 0.2], [1.0, 3.0]], dtype=DT)
    torch.testing.assert_close(G(F(x), x), F(x))
    assert G(torch.zeros(2, 2, dtype=DT), x).shape == (2, 2)


# ----------------------------------------------------------------- gated linear
@fast
@given(seed=st.integers(0, 10_000), g=st.floats(0.0, 1.0), width=st.integers(1, 6))
def test_gated_linear_operator_is_regular(seed, g, width):
    from sklearn_implicit.lipschitz import contraction_modulus

    torch.manual_seed(seed)
    G = GatedLinearOperator(in_features=2, width=width, max_contraction=0.9).double()
    with torch.no_grad():  # push W far beyond the caps: they must still hold
        G.W0.mul_(10)
        G.W1.mul_(10)
    for _ in range(30):  # let the spectral caps' power iterations settle
        G(torch.zeros(1, width, dtype=DT), torch.zeros(1, 2, dtype=DT))
    G.eval()
    x = torch.full((3, 2), g, dtype=DT)
    z = torch.randn(3, width, dtype=DT)
    mu = contraction_modulus(G, z, x, n_power_iter=50, random_state=0)
    assert np.all(mu <= 1 - 0.1 * g + 1e-6)
