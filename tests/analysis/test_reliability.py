"""Split-half reliability: the agreement measures, and the halves built from one pass."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emovec.analysis import heldout_identification, split_half_agreement
from emovec.analysis._reliability import topic_halves


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 10))
def test_identical_structure_agrees_fully_under_rotation_and_scale(seed, scale):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(8, 16, generator=g, dtype=torch.float64)
    structure, match, top1 = split_half_agreement(a, scale * a)
    assert structure == pytest.approx(1.0) and match == pytest.approx(1.0) and top1 == 1.0
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))
    # A rotated copy keeps the similarity structure but not the matching vectors.
    structure_r, match_r, _ = split_half_agreement(a, a @ q)
    assert structure_r == pytest.approx(1.0)
    assert match_r < 0.9


def test_unrelated_halves_agree_at_chance():
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(60, 200, generator=g, dtype=torch.float64) for _ in range(2))
    structure, match, top1 = split_half_agreement(a, b)
    assert abs(structure) < 0.1 and abs(match) < 0.1 and top1 < 0.1


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same"):
        split_half_agreement(torch.zeros(4, 3), torch.zeros(5, 3))


def test_halves_are_disjoint_cover_every_topic_and_are_seeded(stories):
    a, b = topic_halves(stories, seed=0)
    topics = {s["topic"] for s in stories}
    assert set(a) | set(b) == topics and not set(a) & set(b)
    assert topic_halves(stories, seed=0) == (a, b)
    with pytest.raises(ValueError, match="at least 2 topics"):
        topic_halves([{"topic": "x"}], seed=0)


def test_heldout_reports_split_half_from_the_same_pass(backend, stories, neutral):
    result = heldout_identification(
        backend, stories, neutral[:4], sites="1:3", start=4, test_fraction=0.34,
        templates=None, lexical=False, progress=False,
    )  # fmt: skip
    rel = result.reliability
    assert rel is not None and [str(r.site) for r in rel.rows] == ["resid_post.1", "resid_post.2"]
    assert rel.n_emotions == 4
    for row in rel.rows:
        assert -1.0 <= row.structure_r <= 1.0 and -1.0 <= row.matching_cosine <= 1.0
        assert 0.0 <= row.matching_top1 <= 1.0
    assert "split-half" in result.table()
    off = heldout_identification(
        backend, stories, neutral[:4], sites="1:3", start=4, test_fraction=0.34,
        templates=None, lexical=False, split_half=False, progress=False,
    )  # fmt: skip
    assert off.reliability is None
    # Splitting changes nothing else that was measured.
    assert [r.story_top1 for r in off.rows] == [r.story_top1 for r in result.rows]


def test_halves_match_vectors_extracted_from_each_half_directly(backend, stories, neutral):
    from emovec.analysis._reliability import TopicHalves
    from emovec.extract import Recipe, build_vectors, collect_statistics, extract_vectors

    result = heldout_identification(
        backend, stories, neutral[:4], sites="1:3", start=4, test_fraction=0.34,
        templates=None, lexical=False, progress=False,
    )  # fmt: skip
    first, _ = topic_halves(stories, seed=0)
    half = [s for s in stories if s["topic"] in first]
    direct = extract_vectors(backend, half, neutral[:4], sites="1:3", start=4, progress=False)
    # Rebuild half A the way heldout does, and compare with the direct extraction.
    halves = TopicHalves(stories, direct.sites, backend.d_model, direct.emotions, seed=0)
    stats, neutral_stats, _ = collect_statistics(
        backend, stories, neutral[:4], list(direct.sites), Recipe(start=4),
        emotions=direct.emotions, progress=False, observe=halves.add,
    )  # fmt: skip
    del stats
    rebuilt = build_vectors(backend, halves.stats[0], neutral_stats, Recipe(start=4), {})
    torch.testing.assert_close(rebuilt.vectors, direct.vectors, rtol=0, atol=1e-5)
    assert result.reliability is not None
