"""Infinite variable bounds through ``LPGNNRegressor``: how they are encoded, and that
finite-bound models are untouched by it."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from sklearn_implicit.datasets import make_linear_programs
from sklearn_implicit.lp import LinearPrograms, LPGNNRegressor
from sklearn_implicit.lp._gnn import LPEncoder, unflatten_lp

ARCHITECTURES = ("implicit", "explicit")


@pytest.fixture(scope="module")
def data():
    return make_linear_programs(
        16, n_constraints=4, n_variables=8, nnz=12, cache=False, random_state=0
    )


@pytest.fixture(scope="module", params=ARCHITECTURES)
def fitted(request, data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, architecture=request.param, max_epochs=3, random_state=0)
    return est.fit(X, y)


def _without_upper_bounds(X):
    """The same LPs through SciPy's form, every upper bound removed (None)."""
    args = []
    for i in range(len(X)):
        kw = X.to_linprog(i)
        kw["bounds"] = [(lo, None) for lo in kw["bounds"][:, 0]]
        args.append(kw)
    return LinearPrograms.from_linprog(**{key: [kw[key] for kw in args] for key in args[0]})


def test_predicts_lps_with_infinite_upper_bounds(fitted, data):
    X, _ = data
    Z = _without_upper_bounds(X[:3])
    assert np.isinf(Z.block("upper")).all()
    pred = fitted.predict(Z)
    assert pred.shape == (3, 8) and np.isfinite(pred).all()
    assert not np.array_equal(pred, fitted.predict(X[:3]))  # the bounds are read


def test_predicts_scipy_default_bounds_of_an_unseen_size(fitted):
    rng = np.random.RandomState(0)
    A_ub = np.abs(rng.randn(5, 12))
    Z = LinearPrograms.from_linprog(c=rng.randn(12), A_ub=A_ub, b_ub=np.ones(5))  # x >= 0
    pred = fitted.predict(Z)
    assert pred.shape == (1, 12) and np.isfinite(pred).all()


def test_infinite_bound_reads_as_the_clipping_limit(fitted, data):
    X, _ = data
    Z = _without_upper_bounds(X[:3])
    limit = float(fitted.module_.encoder.bound_limit * fitted.module_.encoder.var_scale[2])
    huge = Z.with_block("upper", np.where(Z.variable_mask(), 10 * limit, 0.0))
    at_limit = Z.with_block("upper", np.where(Z.variable_mask(), limit, 0.0))
    np.testing.assert_array_equal(fitted.predict(Z), fitted.predict(huge))
    np.testing.assert_allclose(fitted.predict(Z), fitted.predict(at_limit), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("normalize", [True, False])
def test_bound_limit_is_beyond_every_training_bound(data, normalize):
    X, y = data
    est = LPGNNRegressor(emb_size=4, max_epochs=0, normalize=normalize).fit(X, y)
    enc = est.module_.encoder
    limit = float(enc.bound_limit * enc.var_scale[2])  # in raw units
    bounds = np.concatenate(
        [X.block("lower")[X.variable_mask()], X.block("upper")[X.variable_mask()]]
    )
    expected = np.abs(bounds).max() + 10 * bounds.std()
    assert limit == pytest.approx(expected, rel=1e-5)


def test_finite_bounds_are_encoded_exactly_as_before(data):
    X, _ = data
    x = torch.from_numpy(X.to_flat())
    batch = unflatten_lp(x)
    enc = LPEncoder(4).set_scales([0.5, 1.0], [0.01, 7.0, 7.0], 0.8)
    enc.set_bound_limit(float((batch.var[..., 1:] / 7.0).abs().max()))  # the largest bound
    before = enc.var_embedding(batch.var / enc.var_scale)  # the encoding without clipping
    assert torch.equal(enc(x).var, before)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_finite_bound_predictions_do_not_depend_on_the_limit(data, architecture):
    X, y = data
    est = LPGNNRegressor(emb_size=4, architecture=architecture, max_epochs=2, random_state=0)
    est.fit(X, y)
    before = est.predict(X)
    est.module_.encoder.bound_limit.fill_(torch.finfo(torch.float32).max)  # no clipping
    np.testing.assert_array_equal(est.predict(X), before)


@pytest.mark.parametrize(
    "emb, implicit, explicit",
    [(4, 722, 580), (8, 2350, 2088), (16, 8390, 7888), (32, 31606, 30624)],
)
def test_parameter_counts_with_infinite_bounds_match_paper_table_1(data, emb, implicit, explicit):
    X, y = data
    Z = _without_upper_bounds(X[:2])
    imp = LPGNNRegressor(emb_size=emb, max_epochs=0).fit(Z, y[:2])
    exp = LPGNNRegressor(emb_size=emb, architecture="explicit", max_epochs=0).fit(Z, y[:2])
    assert (imp.n_params_, exp.n_params_) == (implicit, explicit)


def test_training_on_infinite_bounds():
    rng = np.random.RandomState(0)
    args, targets = [], []
    while len(args) < 8:
        kw = {"c": rng.uniform(0.1, 1.0, 5), "A_ub": -np.abs(rng.randn(3, 5)), "b_ub": -np.ones(3)}
        kw["bounds"] = [(0, None)] * 4 + [(0, 2.0)]
        res = linprog(**kw, method="highs")
        if res.status == 0:
            args.append(kw)
            targets.append(res.x)
    X = LinearPrograms.from_linprog(**{key: [kw[key] for kw in args] for key in args[0]})
    est = LPGNNRegressor(emb_size=4, max_epochs=3, random_state=0).fit(X, np.array(targets))
    assert np.isfinite(est.loss_curve_).all() and np.isfinite(est.predict(X)).all()


def test_bounds_beyond_float32_are_refused_but_infinite_ones_pass(fitted, data):
    X, _ = data
    with pytest.raises(ValueError, match="float32"):
        fitted.predict(X[:2].with_block("upper", X[:2].block("upper") * 1e40))
    fitted.predict(X[:2].with_block("upper", np.full_like(X[:2].block("upper"), np.inf)))
