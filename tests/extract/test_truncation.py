"""Texts longer than the token limit are cut, warned about once, and counted in the bundle."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emovec.extract import (
    DEFAULT_MAX_TOKENS,
    Truncation,
    TruncationWarning,
    extract_vectors,
    token_limit,
)

SETTINGS = dict(start=4, batch_tokens=200, window=8, progress=False, neutral_variance=0.0)


@given(st.integers(1, 50), st.lists(st.integers(0, 120), max_size=20))
def test_truncation_keeps_the_head_and_counts_every_dropped_token(limit, lengths):
    t = Truncation(limit)
    rows = [list(range(n)) for n in lengths]
    cut = [t.cut(r) for r in rows]
    assert all(c == r[:limit] for c, r in zip(cut, rows, strict=True))
    assert t.texts == sum(n > limit for n in lengths)
    assert t.tokens == sum(len(r) for r in rows) - sum(len(c) for c in cut)


def test_the_limit_is_max_tokens_else_the_default_and_never_beyond_the_context():
    class WithContext:
        n_ctx = 512

    assert token_limit(object(), None) == DEFAULT_MAX_TOKENS
    assert token_limit(object(), 10_000) == 10_000
    assert token_limit(WithContext(), None) == 512
    assert token_limit(WithContext(), 10_000) == 512
    with pytest.raises(ValueError, match="max_tokens must be a positive number"):
        token_limit(object(), 0)


def test_a_long_story_is_cut_with_one_warning_and_recorded(backend, stories):
    long = dict(stories[0], id="long", text=" ".join(["the rain fell"] * 400))
    n_long = len(backend.encode(long["text"]))
    assert max(len(backend.encode(s["text"])) for s in stories) <= 100 < n_long
    with pytest.warns(TruncationWarning, match=r"1 text\(s\) were longer than 100 tokens") as seen:
        ev = extract_vectors(backend, [long, *stories], max_tokens=100, **SETTINGS)
    assert len([w for w in seen if w.category is TruncationWarning]) == 1
    assert ev.metadata["corpus"]["truncation"] == {
        "limit": 100,
        "texts_cut": 1,
        "tokens_cut": n_long - 100,
        "longest": n_long,
    }


def test_nothing_cut_means_no_warning_and_zero_counts(backend, stories):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        ev = extract_vectors(backend, stories, **SETTINGS)
    assert ev.metadata["corpus"]["truncation"]["texts_cut"] == 0
    assert ev.metadata["corpus"]["truncation"]["limit"] == DEFAULT_MAX_TOKENS


def test_long_dialogues_are_cut_with_their_roles(backend):
    from emovec import Site
    from emovec.extract import capture_role_means

    text = "Human: " + "hello there " * 40 + "\nAssistant: " + "fine thanks " * 40
    with pytest.warns(TruncationWarning, match=r"1 text\(s\) were longer than 30 tokens"):
        means = capture_role_means(
            backend, [{"id": "d", "text": text}], [Site(0)], start=0, max_tokens=30, progress=False
        )
    counts = means.packed[Site(0)][0, :, -1]  # tokens per speaker that entered the means
    assert 0 < float(counts[0]) <= 30 and float(counts[1]) == 0  # the Assistant's turn was cut
