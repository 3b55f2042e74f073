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

# Targets with a singularity at 0: (F, local Lipschitz bound L, domain, order p,
# constant c of the proof's hypothesis (H_p) |s'| (1 + |F|) <= c s^(p+1)). Poles need
# only the default order 1; the bounded steep maps sqrt and log need order 2.
TARGETS = {
    "reciprocal": (lambda x: 1 / x, lambda x: 1 / x[:, 0] ** 2, (1e-4, 1.0), 1.0, 4.0),
    "sqrt": (torch.sqrt, lambda x: 0.5 / torch.sqrt(x[:, 0]), (1e-6, 4.0), 2.0, 3.0),
    "log": (torch.log, lambda x: 1 / x[:, 0], (1e-6, 4.0), 2.0, 1.0),
}


def lip_bound(name, y):
    """The proof's bound on |G(y, x) - G(y, x')| / |x - x'|: p c + 1 + p c |y|."""
    *_, p, c = TARGETS[name]
    return p * c + 1 + p * c * abs(y)


def make_suff(name):
    F, L, _, p, _ = TARGETS[name]
    return SufficiencyOperator(F, L, order=p)


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
    G = make_suff(name)
    x = col(in_domain(name, u))
    mu = float(G.contraction_modulus(x))
    assert 0 <= mu < 1
    assert float(G.eps(x)) > 0
    diff = abs(float(G(col(y1), x) - G(col(y2), x)))
    assert diff <= mu * abs(y1 - y2) * (1 + 1e-12) + 1e-12


@fast
@given(name=target_names, u=st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_sufficiency_fixed_point_is_F(name, u):
    F = TARGETS[name][0]
    G = make_suff(name)
    x = torch.tensor([[in_domain(name, v)] for v in u], dtype=DT)
    torch.testing.assert_close(G(F(x), x), F(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(G.fixed_point(x), F(x))


def test_sufficiency_iteration_converges_where_F_is_tame():
    F = TARGETS["sqrt"][0]
    G = make_suff("sqrt")
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
    G = make_suff(name)
    x1, x2 = in_domain(name, u1), in_domain(name, u2)
    if x1 == x2:
        return
    yy = col(y)
    slope = abs(float(G(yy, col(x1)) - G(yy, col(x2)))) / abs(x1 - x2)
    assert slope <= lip_bound(name, y) * (1 + 1e-6) + 1e-9


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_naive_operator_is_steep_where_sufficiency_is_not(name):
    # The contrast that makes the bound above meaningful.
    F, _, (lo, _), _, _ = TARGETS[name]
    x1, x2 = col(lo), col(2 * lo)
    y = col(0.0)
    naive = NaiveOperator(F, eta=0.5)
    suff = make_suff(name)
    bound = lip_bound(name, 0.0)
    naive_slope = abs(float(naive(y, x1) - naive(y, x2))) / lo
    suff_slope = abs(float(suff(y, x1) - suff(y, x2))) / lo
    assert naive_slope > 10 * bound
    assert suff_slope <= bound


def test_steepness_and_validation():
    F, L, *_ = TARGETS["reciprocal"]
    x = torch.tensor([[0.1], [2.0]], dtype=DT)
    torch.testing.assert_close(steepness(F, L, x), torch.tensor([100.0, 1.0], dtype=DT))
    for order in (0.5, 0.999, 0, -1):
        with pytest.raises(ValueError, match="'order' parameter"):
            SufficiencyOperator(F, L, order=order)
    with pytest.raises(ValueError, match="'F' parameter .* must be a callable"):
        SufficiencyOperator(1.0, L)
    G = SufficiencyOperator(F, L)
    for rtol in (0, 1, -0.1, np.nan):
        with pytest.raises(ValueError, match="'rtol' parameter"):
            G.iterations_to_rtol(x, rtol=rtol)


def test_sufficiency_vector_valued():
    def F(x):
        return torch.stack([1 / x[:, 0], torch.log(x[:, 1])], dim=1)

    def L(x):
        return torch.maximum(1 / x[:, 0] ** 2, 1 / x[:, 1])

    G = SufficiencyOperator(F, L, order=2)
    x = torch.tensor([[0.5, 0.2], [1.0, 3.0]], dtype=DT)
    torch.testing.assert_close(G(F(x), x), F(x))
    assert G(torch.zeros(2, 2, dtype=DT), x).shape == (2, 2)


# ------------------------------------------- sufficiency: 1/x at the default order
RECIP_F, RECIP_L = TARGETS["reciprocal"][:2]
# Picard steps from y_0 = 0 to 1 % relative error for F = 1/x (eps = x^2), as documented.
ITERS_TO_1PCT = {0.1: 459, 0.01: 46050, 0.001: 4605168}


def test_sufficiency_default_order_is_one():
    G = SufficiencyOperator(RECIP_F, RECIP_L)
    assert G.order == 1.0
    x = torch.tensor([[1e-3], [0.1], [0.5], [1.0], [7.0]], dtype=DT)
    # eps = s^-1 = min(1, x^2) for 1/x.
    torch.testing.assert_close(G.eps(x), torch.clamp(x[:, 0] ** 2, max=1.0), rtol=1e-14, atol=0)


@settings(max_examples=100, deadline=None)
@given(u=st.floats(0, 1))
def test_sufficiency_reciprocal_is_a_contraction_numerically(u):
    # 1 - eps < 1 after rounding, in float64 and float32, on the whole of [1e-3, 1e3].
    x = 1e-3 * 1e6**u
    G = SufficiencyOperator(RECIP_F, RECIP_L)
    for dtype in (torch.float64, torch.float32):
        xx = torch.tensor([[x]], dtype=dtype)
        mu = G.contraction_modulus(xx)
        assert mu.dtype == dtype
        assert 0 <= float(mu) < 1


def test_former_default_order_underflowed():
    # eps = s^-4 = x^8 (the former default): 1 - eps rounds to 1 at x = 1e-3 in float64
    # (and at x = 0.1 in float32) -- not a contraction numerically; the new default is.
    old = SufficiencyOperator(RECIP_F, RECIP_L, order=4)
    new = SufficiencyOperator(RECIP_F, RECIP_L)
    assert float(old.contraction_modulus(col(1e-3))) == 1.0
    assert float(old.contraction_modulus(torch.tensor([[0.1]]))) == 1.0
    assert float(new.contraction_modulus(col(1e-3))) < 1.0
    assert float(new.contraction_modulus(torch.tensor([[1e-3]]))) < 1.0


@settings(max_examples=40, deadline=None)
@given(y=st.floats(-1e4, 1e4))
def test_sufficiency_reciprocal_globally_lipschitz_on_a_grid(y):
    # Slopes between neighbours of a log grid on [1e-3, 1e3] (and across x = 1) are
    # bounded by C (1 + |y|): exactly 1 + 2|y| (dG/dx = 1 - 2xy on (0, 1]), within the
    # proof's 5 + 4|y| (p = 1, c = 4).
    G = SufficiencyOperator(RECIP_F, RECIP_L)
    x = torch.logspace(-3, 3, 4001, dtype=DT).reshape(-1, 1)
    g = G(torch.full_like(x, y), x)[:, 0]
    slopes = ((g[1:] - g[:-1]).abs() / (x[1:, 0] - x[:-1, 0])).max().item()
    assert slopes <= (1 + 2 * abs(y)) * (1 + 1e-6) + 1e-6
    assert slopes <= lip_bound("reciprocal", y)
    # and it is attained (|1 - 2y| at x = 1): the grid does not miss the steep part
    assert slopes >= 0.99 * abs(1 - 2 * y) - 1e-6


def test_sufficiency_iterations_to_one_percent_formula_and_measured():
    G = SufficiencyOperator(RECIP_F, RECIP_L)
    xs = sorted(ITERS_TO_1PCT, reverse=True)
    x = torch.tensor([[v] for v in xs], dtype=DT)
    # The closed form t = ceil(log(0.01) / log(1 - eps)).
    formula = G.iterations_to_rtol(x, rtol=0.01).tolist()
    assert formula == [float(ITERS_TO_1PCT[v]) for v in xs]
    eps = G.eps(x)
    ref = [int(np.ceil(np.log(0.01) / np.log1p(-float(e)))) for e in eps]
    assert ref == [ITERS_TO_1PCT[v] for v in xs]

    # Measured: iterate the operator itself in float64 from its default start (zeros)
    # for the two larger x ...
    fx = RECIP_F(x)
    tol = 0.01 * fx.abs()
    y = torch.zeros_like(x)
    n_module = ITERS_TO_1PCT[0.01]
    above = torch.zeros_like(x, dtype=torch.int64)  # steps with error > 1 % (it decreases)
    with torch.no_grad():
        for _ in range(n_module):
            y = G(y, x)
            above += (y - fx).abs() > tol
    hit = (above[:, 0] + 1).tolist()
    assert hit[:2] == [ITERS_TO_1PCT[0.1], ITERS_TO_1PCT[0.01]]
    assert hit[2] > n_module
    # ... and continue x = 1e-3 with the same float64 update y + eps (F - y) on Python
    # floats (4.6 million module calls would take minutes); first check that the
    # scalar update reproduces the module bit for bit.
    e, f, yv = float(eps[2]), float(fx[2, 0]), float(y[2, 0])
    y_mod = y.clone()
    with torch.no_grad():
        for _ in range(50):
            y_mod = G(y_mod, x)
            yv = yv + e * (f - yv)
            assert yv == float(y_mod[2, 0])
    t = n_module + 50
    while abs(yv - f) > 0.01 * abs(f):
        yv = yv + e * (f - yv)
        t += 1
    assert t == ITERS_TO_1PCT[0.001]


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
