"""Levenshtein distance: known values and metric properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_implicit.looped import levenshtein, levenshtein_rows


def reference(a, b):
    """Textbook O(mn) dynamic programme."""
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, start=1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[len(b)]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("intention", "execution", 5),
        ("saturday", "sunday", 3),
        ("", "", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("abc", "abc", 0),
        ("abc", "cba", 2),
        ("gumbo", "gambol", 2),
    ],
)
def test_known_values(a, b, expected):
    assert levenshtein(a, b) == expected
    assert levenshtein(b, a) == expected


def test_word_level_as_in_the_paper():
    assert levenshtein("charge and voltage".split(), "charge and pay".split()) == 1
    assert levenshtein("the cat sat".split(), "a cat sat down".split()) == 2


def test_rows_ignore_padding_and_match_reference():
    A = np.array([[1, 2, 3, -1, -1], [5, -1, 6, 7, -1], [-1, -1, -1, -1, -1]])
    B = np.array([[1, 3, -1], [5, 6, 7], [1, 2, -1]])
    assert levenshtein_rows(A, B).tolist() == [1, 0, 2]
    assert levenshtein_rows(A, B, pad=None).tolist() == [
        reference(list(a), list(b)) for a, b in zip(A, B, strict=True)
    ]


def test_rows_shape_errors():
    with pytest.raises(ValueError, match="2-D"):
        levenshtein_rows(np.zeros(3), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="rows"):
        levenshtein_rows(np.zeros((2, 3)), np.zeros((1, 3)))


tokens = st.lists(st.integers(0, 3), max_size=12)


@settings(max_examples=150, deadline=None)
@given(tokens, tokens)
def test_matches_reference_and_is_symmetric(a, b):
    d = levenshtein(a, b)
    assert d == reference(a, b)
    assert d == levenshtein(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))


@settings(max_examples=100, deadline=None)
@given(tokens, tokens, tokens)
def test_triangle_inequality_and_identity(a, b, c):
    assert levenshtein(a, a) == 0
    assert (levenshtein(a, b) == 0) == (a == b)
    assert levenshtein(a, c) <= levenshtein(a, b) + levenshtein(b, c)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(tokens, tokens), min_size=1, max_size=6))
def test_batched_rows_equal_pairwise(pairs):
    width = 12
    A = np.full((len(pairs), width), -1)
    B = np.full((len(pairs), width), -1)
    for i, (a, b) in enumerate(pairs):
        A[i, : len(a)] = a
        B[i, : len(b)] = b
    assert levenshtein_rows(A, B).tolist() == [reference(a, b) for a, b in pairs]
