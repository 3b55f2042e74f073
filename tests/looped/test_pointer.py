"""``positions="pointer"``: node codes, pointer tokens of any value, sequences longer than in fit."""

import numpy as np
import pytest
import torch

from sklearn_implicit.datasets import make_pointer_chasing
from sklearn_implicit.looped import (
    LoopedTransformerClassifier,
    PointerCoda,
    PointerPrelude,
    node_codes,
)

SMALL = {"d_model": 16, "n_heads": 2, "mean_recurrence": 3, "backprop_depth": 2}


@pytest.fixture(scope="module")
def data():
    return make_pointer_chasing(96, n_nodes=(5, 8), n_hops=3, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    est = LoopedTransformerClassifier(**SMALL, positions="pointer", n_iter=4, max_epochs=1)
    return est.set_params(random_state=0).fit(X, y)


def test_node_codes_orthogonal_then_nearly_so_and_prefix_stable():
    c8 = node_codes(3, 8, 8, fresh=False)
    assert torch.allclose(c8[0] @ c8[0].T, 8 * torch.eye(8), atol=1e-4)
    assert torch.equal(c8[0], c8[2])  # inference: the same codes for every sequence
    assert torch.equal(node_codes(1, 5, 8, fresh=False)[0], c8[0, :5])  # length-independent
    long = node_codes(1, 20, 8, fresh=False)[0]
    assert torch.allclose(long.norm(dim=-1), torch.full((20,), 8**0.5))
    torch.manual_seed(0)
    fresh = node_codes(2, 6, 8, fresh=True)
    assert not torch.allclose(fresh[0], fresh[1])  # training: new codes per sequence


def test_parts_accept_any_length():
    prelude, coda = PointerPrelude(16, 2, 32).eval(), PointerCoda(16, 2, 32).eval()
    for L in (4, 11):
        x = torch.arange(L).roll(1)[None].repeat(2, 1)
        x[1, -1] = -1
        u = prelude(x)
        out = coda(u.e, u)
        assert out.shape == (2, L, L + 1)  # one class per position, plus padding
        assert (out[1, -1].argmax() == L).item()  # padded position -> padding class
        assert (out[1, :-1, :].argmax(-1) != L - 1).all()  # a padded position is no answer


def test_predicts_longer_sequences_than_fit(fitted, data):
    X, y = data
    assert fitted.n_features_in_ == 8
    assert np.array_equal(fitted.classes_, np.arange(8))
    X_long, y_long = make_pointer_chasing(5, n_nodes=13, n_hops=12, random_state=1)
    assert X_long.max() >= 8  # pointers beyond anything seen in fit
    pred = fitted.predict(X_long, n_iter=3)
    assert pred.shape == X_long.shape
    assert ((pred >= 0) & (pred < 13)).all()
    proba = fitted.predict_proba(X_long, n_iter=3)
    assert proba.shape == (5, 13, 13)
    assert np.allclose(proba.sum(-1), 1.0)
    assert 0.0 <= fitted.score(X_long, y_long) <= 1.0
    stages = list(fitted.staged_predict(X_long, n_iter=3))
    assert np.array_equal(stages[-1], pred)
    # Shorter, padded, and the same rows inside a longer padded array.
    X_pad = np.full((2, 16), -1)
    X_pad[:, :13] = X_long[:2]
    assert np.array_equal(fitted.predict(X_pad, n_iter=3)[:, :13], pred[:2])
    assert (fitted.predict(X_pad, n_iter=3)[:, 13:] == -1).all()
    assert fitted.predict(X[:3, :6].clip(max=5), n_iter=2).shape == (3, 6)


def test_prediction_is_deterministic_and_batch_independent(fitted):
    X_long, _ = make_pointer_chasing(9, n_nodes=12, n_hops=11, random_state=2)
    full = fitted.predict(X_long, n_iter=4)
    assert np.array_equal(full, fitted.predict(X_long, n_iter=4))
    assert np.array_equal(full[3:5], fitted.predict(X_long[3:5], n_iter=4))


def test_pointer_errors(fitted, data):
    X, y = data
    with pytest.raises(ValueError, match="not a position"):
        fitted.predict(np.full_like(X, 8))  # beyond the sequence, not the vocabulary
    with pytest.raises(ValueError, match="not a position"):
        LoopedTransformerClassifier(**SMALL, positions="pointer").fit(X, y + 8)
    with pytest.raises(ValueError, match="negative tokens"):
        fitted.predict(np.full_like(X, -3))
    with pytest.raises(ValueError, match="positions"):
        LoopedTransformerClassifier(positions="sinusoidal").fit(X, y)


def test_explicit_architecture_with_pointers(data):
    X, y = data
    est = LoopedTransformerClassifier(
        **SMALL, positions="pointer", architecture="explicit", max_epochs=1, random_state=0
    ).fit(X, y)
    X_long, _ = make_pointer_chasing(3, n_nodes=11, n_hops=10, random_state=3)
    assert est.predict(X_long).shape == (3, 11)


def test_learns_and_extrapolates_an_easy_instance():
    X, y = make_pointer_chasing(600, n_nodes=6, n_hops=2, random_state=1)
    est = LoopedTransformerClassifier(
        d_model=32,
        n_heads=2,
        positions="pointer",
        mean_recurrence=2,
        max_epochs=6,
        lr=3e-3,
        random_state=0,
    ).fit(X, y)
    X_long, y_long = make_pointer_chasing(50, n_nodes=12, n_hops=2, random_state=2)
    # Chance is well below 1/3 (four roots or more per 12-node sequence).
    assert est.score(X_long, y_long) > 0.6
