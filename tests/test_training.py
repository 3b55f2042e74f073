"""Training controls of the base: callbacks, early stopping, sample weights, losses,
warm start and partial_fit."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, EpochScoring

from sklearn_implicit import ImplicitRegressor

TINY = dict(operator__width=8, max_epochs=4, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(80, 2))
    return X, np.sin(2 * X[:, 0]) + X[:, 1]


class Counter(Callback):
    def __init__(self, start=0):
        self.start = start

    def initialize(self):
        self.epochs_ = self.start
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1


def test_callbacks_run_and_are_routed(data):
    X, y = data
    est = ImplicitRegressor(
        callbacks=[("count", Counter()), Counter()], callbacks__count__start=10, verbose=1, **TINY
    ).fit(X, y)
    callbacks = dict(est.net_.callbacks_)
    assert callbacks["count"].epochs_ == 14
    assert callbacks["Counter_1"].epochs_ == 4
    assert "progress" in callbacks
    assert est.callbacks[1].__dict__.get("epochs_") is None  # the parameter is not trained


def test_skorch_scoring_callback_fills_history(data):
    X, y = data
    est = ImplicitRegressor(
        callbacks=[EpochScoring("neg_mean_squared_error", on_train=True, name="mse")], **TINY
    ).fit(X, y)
    assert len(est.net_.history[:, "mse"]) == 4


def test_early_stopping_records_scores_and_restores_the_best(data):
    X, y = data
    est = ImplicitRegressor(
        operator__width=8,
        max_epochs=60,
        lr=0.05,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X, y)
    assert est.n_epochs_ == len(est.loss_curve_) == len(est.validation_scores_)
    assert max(est.validation_scores_) - 1e-4 <= est.best_validation_score_
    assert est.best_validation_score_ in est.validation_scores_
    stopper = dict(est.net_.callbacks_)["early_stopping"]
    if est.n_epochs_ < 60:
        assert stopper.stopped_
        assert est.validation_scores_.index(est.best_validation_score_) <= est.n_epochs_ - 4
    best = stopper.best_state_
    for k, v in est.module_.state_dict().items():
        assert torch.equal(v, best[k]), k


def test_early_stopping_off_leaves_no_validation_scores(data):
    est = ImplicitRegressor(**TINY).fit(*data)
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert est.n_epochs_ == 4


def test_unit_sample_weights_are_the_unweighted_fit(data):
    X, y = data
    a = ImplicitRegressor(**TINY).fit(X, y)
    b = ImplicitRegressor(**TINY).fit(X, y, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.loss_curve_ == b.loss_curve_


def test_integer_weights_are_repetitions_and_zero_is_removal(data):
    X, y = data
    sw = np.random.RandomState(1).randint(0, 4, size=len(X))
    weighted = ImplicitRegressor(**TINY).fit(X, y, sample_weight=sw)
    repeated = ImplicitRegressor(**TINY).fit(np.repeat(X, sw, axis=0), np.repeat(y, sw))
    np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))


def test_weights_change_the_fit(data):
    X, y = data
    sw = np.where(X[:, 0] > 0, 10.0, 0.1)
    a = ImplicitRegressor(**TINY).fit(X, y)
    b = ImplicitRegressor(**TINY).fit(X, y, sample_weight=sw)
    assert not np.allclose(a.predict(X), b.predict(X))


@pytest.mark.parametrize("loss", ["absolute_error", "huber", torch.nn.SmoothL1Loss])
def test_losses(data, loss):
    X, y = data
    est = ImplicitRegressor(loss=loss, **TINY).fit(X, y, sample_weight=np.full(len(X), 2.0))
    assert np.isfinite(est.loss_curve_).all()
    squared = ImplicitRegressor(**TINY).fit(X, y, sample_weight=np.full(len(X), 2.0))
    assert est.loss_curve_ != squared.loss_curve_


def test_unknown_loss_is_refused(data):
    with pytest.raises(ValueError, match="'loss' parameter"):
        ImplicitRegressor(loss="hinge", **TINY).fit(*data)


def test_warm_start_continues_training(data):
    X, y = data
    est = ImplicitRegressor(warm_start=True, **TINY).fit(X, y)
    first = list(est.loss_curve_)
    net = est.net_
    est.fit(X, y)
    assert est.net_ is net and est.n_epochs_ == 8
    assert est.loss_curve_[:4] == first
    cold = ImplicitRegressor(**TINY).fit(X, y)
    cold.fit(X, y)
    assert cold.n_epochs_ == 4


def test_partial_fit_trains_one_epoch_at_a_time(data):
    X, y = data
    est = ImplicitRegressor(**TINY)
    for k in range(1, 4):
        est.partial_fit(X, y)
        assert est.n_epochs_ == k == len(est.loss_curve_)
    with pytest.raises(ValueError, match="X has 3 features"):
        est.partial_fit(np.hstack([X, X[:, :1]]), y)
    assert est.n_epochs_ == 3 and est.n_features_in_ == 2


def test_domain_estimator_without_weights_refuses_them():
    from sklearn_implicit.datasets import make_pointer_chasing
    from sklearn_implicit.looped import LoopedTransformerClassifier

    X, y = make_pointer_chasing(8, n_nodes=6, n_hops=2, random_state=0)
    est = LoopedTransformerClassifier(d_model=8, n_heads=2, max_epochs=1, random_state=0)
    with pytest.raises(ValueError, match="does not support sample_weight"):
        est.fit(X, y, sample_weight=np.ones(len(X)))


def test_warm_start_applies_the_new_depth_learning_rate_and_batch_size(data):
    X, y = data
    est = ImplicitRegressor(**TINY, n_iter=5, warm_start=True).fit(X, y)
    state = est.net_.optimizer_.state_dict()["state"]
    assert state  # Adam moments after the first fit
    est.set_params(n_iter=12, tol=1e-6, lr=1e-4, batch_size=16, max_epochs=1).fit(X, y)
    assert est.module_.n_iter == 12 and est.module_.tol == 1e-6
    assert est.net_.optimizer_.param_groups[0]["lr"] == 1e-4
    assert est.net_.batch_size == 16
    assert est.n_epochs_ == TINY["max_epochs"] + 1


def test_warm_start_applies_the_new_solver_and_backward_mode(data):
    X, y = data
    est = ImplicitRegressor(**TINY, n_iter=5, tol=0.0, warm_start=True).fit(X, y)
    weights = [p.detach().clone() for p in est.module_.parameters()]
    before = est.predict(X)
    est.set_params(solver="anderson", solver__m=3, backward="phantom", backward__k=2, max_epochs=0)
    est.fit(X, y)
    assert est.module_.solver.func.__name__ == "anderson"
    assert est.module_.solver.keywords == {"m": 3}
    assert est.module_.backward.name == "phantom" and est.module_.backward.k == 2
    # The weights stay: only the iteration changed.
    assert all(torch.equal(a, b) for a, b in zip(weights, est.module_.parameters(), strict=True))
    assert not np.allclose(est.predict(X), before)
    # Options are checked as when the model was built: Unroll takes no k.
    est.set_params(backward="unroll")
    with pytest.raises(ValueError, match="k"):
        est.fit(X, y)
