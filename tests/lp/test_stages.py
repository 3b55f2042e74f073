"""Training in stages (``LPGNNRegressor(stages=...)``) and equilibrium at test time."""

import pytest
import torch

from sklearn_implicit.backward import PhantomGradient, RandomDepth, Unroll
from sklearn_implicit.datasets import make_linear_programs
from sklearn_implicit.lp import LPGNNRegressor, lp_relative_error


@pytest.fixture(scope="module")
def data():
    return make_linear_programs(
        24, n_constraints=4, n_variables=8, nnz=12, cache=False, random_state=0
    )


def test_auto_stages_are_resolved_and_train_max_epochs_in_all(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, n_iter=5, max_epochs=8, lr=1e-2, random_state=0).fit(X, y)
    first, second = est.stages_
    assert first["n_iter"] == 3 and first["train_states"] == 1 and first["backward"] == "unroll"
    assert first["jacobian_penalty"] == 0.0 and first["max_epochs"] == 6
    assert second["n_iter"] == 5 and second["train_states"] == 1
    assert isinstance(second["backward"], RandomDepth) and second["backward"].k == 3
    assert second["jacobian_penalty"] == 0.0 and second["max_epochs"] == 2
    assert second["lr"] == pytest.approx(1e-3)
    assert len(est.loss_curve_) == est.n_epochs_ == 8
    # The model ends at the estimator's own depth, recipes and learning rate,
    # and with the refinement's backward mode (truncated, at random depths).
    module = est.net_.module_
    assert module.n_iter == 5 and module.train_states == 1 and module.jacobian_penalty == 0.0
    assert isinstance(module.backward, RandomDepth) and module.backward.last_depth is not None
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3)
    # Parameters are untouched by fit (scikit-learn's rule).
    assert est.get_params()["n_iter"] == 5 and est.get_params()["max_epochs"] == 8
    assert est.lr == 1e-2 and est.stages == "auto" and est.backward == "unroll"


@pytest.mark.parametrize(
    "params, mode",
    [({"backward": "phantom"}, PhantomGradient), ({"train_depth": "random"}, Unroll)],
)
def test_auto_refinement_keeps_a_chosen_backward_or_random_depth(data, params, mode):
    X, y = data
    est = LPGNNRegressor(emb_size=4, n_iter=4, max_epochs=4, random_state=0, **params).fit(X, y)
    assert all("backward" not in s or s["backward"] == est.backward for s in est.stages_)
    assert isinstance(est.net_.module_.backward, mode)


def test_a_stage_sets_the_backward_mode(data):
    X, y = data
    stages = [{"n_iter": 2, "max_epochs": 2}, {"backward": RandomDepth(k=1, depth=4)}]
    est = LPGNNRegressor(emb_size=4, n_iter=4, max_epochs=2, stages=stages, random_state=0)
    est.fit(X, y)
    backward = est.net_.module_.backward
    assert isinstance(backward, RandomDepth) and backward.last_depth == (3, 1)
    assert backward is not stages[1]["backward"]  # the parameter is not mutated


def test_custom_stages_and_one_stage(data):
    X, y = data
    stages = [{"n_iter": 2, "max_epochs": 2}, {"train_states": 2, "max_epochs": 3, "lr": 1e-3}]
    est = LPGNNRegressor(emb_size=4, n_iter=4, stages=stages, random_state=0).fit(X, y)
    assert [s["n_iter"] for s in est.stages_] == [2, 4]
    assert [s["max_epochs"] for s in est.stages_] == [2, 3]
    assert est.n_epochs_ == 5 and est.stages == stages
    one = LPGNNRegressor(emb_size=4, n_iter=4, max_epochs=3, stages=None, random_state=0)
    one.fit(X, y)
    assert len(one.stages_) == 1 and one.stages_[0]["n_iter"] == 4 and one.n_epochs_ == 3


def test_stage_with_no_epochs_is_skipped_and_max_epochs_zero_builds_only(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, max_epochs=0, random_state=0).fit(X, y)
    assert est.n_epochs_ == 0 and est.predict(X[:2]).shape == (2, 8)


@pytest.mark.parametrize(
    "stages, match",
    [
        ([], "non-empty list"),
        ([{"n_iter": 2}, "x"], "non-empty list"),
        ([{"emb_size": 8}], "may set"),
        ([{"n_iter": 0}], r"stages\[0\]\['n_iter'\]"),
        ([{"lr": -1.0}], r"stages\[0\]\['lr'\]"),
        ([{}, {"train_depth": "deep"}], r"stages\[1\]\['train_depth'\]"),
        ([{"max_epochs": True}], r"stages\[0\]\['max_epochs'\]"),
        ([{"backward": "nope"}], r"stages\[0\]\['backward'\] is not a backward mode"),
        ([{"backward": 3}], r"stages\[0\]\['backward'\] is not a backward mode"),
    ],
)
def test_invalid_stages_are_refused_at_fit(data, stages, match):
    X, y = data
    est = LPGNNRegressor(emb_size=4, max_epochs=2, stages=stages)  # __init__ stores only
    assert est.stages is stages
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_stages_string_other_than_auto_is_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="stages"):
        LPGNNRegressor(emb_size=4, max_epochs=1, stages="paper").fit(X, y)


def test_partial_fit_trains_one_epoch_from_scratch(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, max_epochs=8, random_state=0).partial_fit(X, y)
    assert est.n_epochs_ == 1 and est.net_.module_.n_iter == est.n_iter


def test_explicit_architecture_ignores_stages_and_recipes(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, architecture="explicit", max_epochs=4, random_state=0)
    est.fit(X, y)
    assert len(est.stages_) == 1 and est.n_epochs_ == 4


def test_warm_start_continues_at_the_new_depth_and_learning_rate(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, n_iter=3, max_epochs=4, random_state=0).fit(X, y)
    est.set_params(warm_start=True, n_iter=6, lr=5e-4, train_states=3, max_epochs=2)
    est.fit(X, y)
    assert est.n_epochs_ == 6
    assert est.net_.module_.n_iter == 6 and est.net_.module_.train_states == 3
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(5e-4)
    est.partial_fit(X, y)
    assert est.n_epochs_ == 7


def test_a_continued_fit_of_no_epochs_damps_the_fitted_iteration(data):
    X, y = data
    est = LPGNNRegressor(emb_size=4, n_iter=4, max_epochs=4, random_state=0).fit(X, y)
    weights = [p.detach().clone() for p in est.net_.module_.parameters()]
    est.set_params(warm_start=True, max_epochs=0, solver__damping=0.5).fit(X, y)
    module = est.net_.module_
    assert module.solver.keywords == {"damping": 0.5} and est.n_epochs_ == 4
    assert all(torch.equal(a, b) for a, b in zip(weights, module.parameters(), strict=True))


@pytest.mark.slow
def test_error_holds_far_beyond_the_training_depth():
    # The equilibrium contract, on a tiny problem: trained with the default
    # stages at mean depth 10, the test error at 5x that depth is not worse
    # than at the training depth by more than a small margin. The check can
    # fail: a model trained in one plain stage (fixed depth, full unroll)
    # drifts away past its depth by more than the margin.
    X, y = make_linear_programs(
        80, n_constraints=4, n_variables=8, nnz=12, cache=False, random_state=0
    )
    X_train, y_train, X_test, y_test = X[:60], y[:60], X[60:], y[60:]
    margin = 0.03

    def errors(est):
        depth = est.n_iter
        staged = list(est.staged_predict(X_test, n_iter=5 * depth))
        return lp_relative_error(y_test, staged[depth - 1]), lp_relative_error(y_test, staged[-1])

    common = dict(max_epochs=200, random_state=0)
    est = LPGNNRegressor(emb_size=16, n_iter=10, **common).fit(X_train, y_train)
    at_depth, far = errors(est)
    assert far <= at_depth + margin, (at_depth, far)
    plain = LPGNNRegressor(emb_size=8, n_iter=4, stages=None, train_states=1, **common)
    plain_at_depth, plain_far = errors(plain.fit(X_train, y_train))
    assert plain_far > plain_at_depth + margin, (plain_at_depth, plain_far)
