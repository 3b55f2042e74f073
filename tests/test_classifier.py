"""ImplicitClassifier: labels, probabilities, budgets, weights and training controls."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_moons

from sklearn_implicit import ImplicitClassifier, ImplicitRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = dict(operator__width=8, max_epochs=5, n_iter=8, random_state=0)


@pytest.fixture(scope="module")
def moons():
    return make_moons(120, noise=0.15, random_state=0)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(90, centers=3, n_features=2, cluster_std=0.8, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted_multiclass(blobs):
    X, y = blobs
    return ImplicitClassifier(operator__width=16, max_epochs=60, random_state=0).fit(X, y)


def test_fit_predict_learns_easy_data(moons):
    X, y = moons
    clf = ImplicitClassifier(operator__width=16, max_epochs=80, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert clf.predict(X).dtype == y.dtype
    assert clf.score(X, y) > 0.9
    assert clf.n_epochs_ == 80 and len(clf.loss_curve_) == 80


def test_predict_proba_rows_sum_to_one_and_log_proba(fitted_multiclass, blobs):
    X, _ = blobs
    for n_iter in (None, 1, 4):
        proba = fitted_multiclass.predict_proba(X, n_iter=n_iter)
        assert proba.shape == (len(X), 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        assert (proba >= 0).all()
        log_proba = fitted_multiclass.predict_log_proba(X, n_iter=n_iter)
        np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-10, atol=1e-15)
        labels = fitted_multiclass.predict(X, n_iter=n_iter)
        np.testing.assert_array_equal(fitted_multiclass.classes_[proba.argmax(axis=1)], labels)


def test_decision_function_shapes(fitted_multiclass, blobs, moons):
    X, _ = blobs
    scores = fitted_multiclass.decision_function(X, n_iter=3)
    assert scores.shape == (len(X), 3)
    np.testing.assert_array_equal(
        fitted_multiclass.classes_[scores.argmax(axis=1)],
        fitted_multiclass.predict(X, n_iter=3),
    )
    Xb, yb = moons
    binary = ImplicitClassifier(**TINY).fit(Xb, yb)
    scores = binary.decision_function(Xb)
    assert scores.shape == (len(Xb),)
    np.testing.assert_array_equal(binary.classes_[(scores > 0).astype(int)], binary.predict(Xb))
    log_proba = binary.predict_log_proba(Xb)
    np.testing.assert_allclose(scores, log_proba[:, 1] - log_proba[:, 0], atol=1e-6)


def test_budget_matches_staged_predict(fitted_multiclass, blobs):
    X, _ = blobs
    stages = list(fitted_multiclass.staged_predict(X, n_iter=6))
    assert len(stages) == 6
    for t, labels in enumerate(stages, start=1):
        assert set(np.unique(labels)) <= set(fitted_multiclass.classes_)
        np.testing.assert_array_equal(labels, fitted_multiclass.predict(X, n_iter=t))
    labels, info = fitted_multiclass.solve(X, n_iter=4)
    np.testing.assert_array_equal(labels, fitted_multiclass.predict(X, n_iter=4))
    assert info.n_samples == len(X)


def test_string_labels(moons):
    X, y = moons
    names = np.array(["no", "yes"], dtype=object)[y]
    clf = ImplicitClassifier(**TINY).fit(X, names)
    np.testing.assert_array_equal(clf.classes_, ["no", "yes"])
    assert set(clf.predict(X)) <= {"no", "yes"}
    as_ints = ImplicitClassifier(**TINY).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), as_ints.predict_proba(X))


def test_unit_sample_weights_are_the_unweighted_fit(moons):
    X, y = moons
    a = ImplicitClassifier(**TINY).fit(X, y)
    b = ImplicitClassifier(**TINY).fit(X, y, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ == b.loss_curve_


def test_integer_weights_are_repetitions(blobs):
    X, y = blobs
    sw = np.random.RandomState(1).randint(0, 4, size=len(X))
    weighted = ImplicitClassifier(**TINY).fit(X, y, sample_weight=sw)
    repeated = ImplicitClassifier(**TINY).fit(np.repeat(X, sw, axis=0), np.repeat(y, sw))
    np.testing.assert_array_equal(weighted.predict_proba(X), repeated.predict_proba(X))
    assert weighted.loss_curve_ == repeated.loss_curve_


def test_weights_change_the_fit(moons):
    X, y = moons
    a = ImplicitClassifier(**TINY).fit(X, y)
    b = ImplicitClassifier(**TINY).fit(X, y, sample_weight=np.where(y == 1, 10.0, 0.1))
    assert b.predict_proba(X)[:, 1].mean() > a.predict_proba(X)[:, 1].mean()


def test_regression_targets_and_column_y(moons):
    X, y = moons
    with pytest.raises(ValueError, match="Unknown label type"):
        ImplicitClassifier(**TINY).fit(X, X[:, 0])
    with pytest.warns(Warning, match="column-vector y"):
        ImplicitClassifier(**TINY).fit(X, y[:, None])


def test_early_stopping_scores_accuracy(moons):
    X, y = moons
    clf = ImplicitClassifier(
        operator__width=8,
        max_epochs=200,
        lr=0.05,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=5,
        random_state=0,
    ).fit(X, y)
    assert clf.n_epochs_ < 200
    scores = clf.validation_scores_
    assert len(scores) == clf.n_epochs_ and all(0 <= s <= 1 for s in scores)
    assert clf.best_validation_score_ == max(scores)


def test_partial_fit_needs_classes_first(blobs):
    X, y = blobs
    clf = ImplicitClassifier(**TINY)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "classes_")
    first = y != 2  # the first batch lacks class 2
    clf.partial_fit(X[first], y[first], classes=[0, 1, 2])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (len(X), 3)
    clf.partial_fit(X, y)
    assert clf.n_epochs_ == 2
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, np.where(y == 2, 5, y))
    assert clf.n_epochs_ == 2


def test_warm_start_keeps_the_classes(blobs):
    X, y = blobs
    clf = ImplicitClassifier(warm_start=True, **TINY).fit(X, y)
    net = clf.net_
    clf.fit(X[y != 2], y[y != 2])
    assert clf.net_ is net and clf.n_epochs_ == 10
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    cold = ImplicitClassifier(**TINY).fit(X, y).fit(X[y != 2], y[y != 2])
    np.testing.assert_array_equal(cold.classes_, [0, 1])


def test_pickle_and_clone(fitted_multiclass, blobs):
    X, _ = blobs
    again = pickle.loads(pickle.dumps(fitted_multiclass))
    np.testing.assert_array_equal(
        again.predict_proba(X, n_iter=3), fitted_multiclass.predict_proba(X, n_iter=3)
    )
    np.testing.assert_array_equal(again.classes_, fitted_multiclass.classes_)
    fresh = clone(fitted_multiclass)
    assert not hasattr(fresh, "classes_") and not hasattr(fresh, "net_")


def test_lipschitz_curve_measures_probabilities(fitted_multiclass, blobs):
    X, _ = blobs
    curve = fitted_multiclass.lipschitz_curve(X[:10], n_iter=6, random_state=0)
    assert curve.lipschitz.shape == (6,)
    assert np.isfinite(curve.ratios).all() and (curve.ratios >= 0).all()
    # Distances of probability vectors are at most sqrt(2): L_t <= sqrt(2) / eps.
    assert (curve.ratios <= np.sqrt(2) / curve.eps * (1 + 1e-6)).all()


def test_regressor_unchanged_by_the_shared_base():
    X = np.random.RandomState(0).uniform(-1, 1, size=(40, 2))
    reg = ImplicitRegressor(**TINY).fit(X, X[:, 0])
    assert not hasattr(reg, "classes_")
    assert reg.predict(X).shape == (40,)
