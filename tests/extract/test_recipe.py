import pytest
import torch

from emovec import Site
from emovec.extract import (
    NeutralStatistics,
    Recipe,
    StoryStatistics,
    build_vectors,
    emotion_directions,
    extract_vectors,
    finish_vectors,
    neutral_components,
)
from tests.contract import identity_backend

from .conftest import EMOTIONS


def _orthonormal(k: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))
    return q.T


def test_directions_are_emotion_means_minus_the_mean_of_emotion_means():
    means = torch.randn(5, 7, dtype=torch.float64)
    out = emotion_directions(means)
    torch.testing.assert_close(out, means - means.mean(0))
    torch.testing.assert_close(out.sum(0), torch.zeros(7, dtype=torch.float64))


def test_finished_vectors_are_unit_and_orthogonal_to_the_removed_pcs():
    directions = torch.randn(6, 10, dtype=torch.float64)
    pcs = _orthonormal(3, 10, seed=1)
    unit, norms = finish_vectors(directions, pcs)
    torch.testing.assert_close(unit.norm(dim=-1), torch.ones(6, dtype=torch.float64))
    torch.testing.assert_close(unit @ pcs.T, torch.zeros(6, 3, dtype=torch.float64))
    kept = directions - (directions @ pcs.T) @ pcs
    torch.testing.assert_close(norms, kept.norm(dim=-1))


def test_a_zero_vector_is_refused():
    with pytest.raises(ValueError, match="at least two distinct"):
        finish_vectors(torch.zeros(2, 3), torch.zeros(0, 3))


def test_neutral_components_explain_the_requested_variance():
    basis = _orthonormal(4, 4, seed=2)
    cov = basis.T @ torch.diag(torch.tensor([6.0, 3.0, 1.0, 0.0], dtype=torch.float64)) @ basis
    comps, explained = neutral_components(cov, torch.zeros(4, dtype=torch.float64), variance=0.5)
    assert comps.shape[0] == 1 and explained == pytest.approx(0.6)
    assert abs(float(comps[0] @ basis[0])) == pytest.approx(1.0)
    comps, explained = neutral_components(cov, torch.zeros(4, dtype=torch.float64), variance=0.8)
    assert comps.shape[0] == 2 and explained == pytest.approx(0.9)
    assert neutral_components(cov, torch.zeros(4), variance=0.0)[0].shape == (0, 4)


def test_build_vectors_on_synthetic_statistics_follows_the_recipe():
    torch.manual_seed(0)
    d, sites, names = 8, [Site(0), Site(1)], ["calm", "afraid", "happy"]
    story = StoryStatistics(sites, d)
    neutral = NeutralStatistics(sites, d)
    rows = {s: torch.randn(9, d) for s in sites}
    labels = [names[i % 3] for i in range(9)]
    story.add(
        labels, {s: torch.cat([r, torch.ones(9, 1), torch.ones(9, 1)], 1) for s, r in rows.items()}
    )
    dialogues = {s: torch.randn(12, d) * torch.linspace(3, 0.1, d) for s in sites}
    neutral.add(
        {
            s: torch.cat([r, torch.full((12, 1), 2.0), torch.ones(12, 1)], 1)
            for s, r in dialogues.items()
        }
    )
    backend = identity_backend(d_model=d, n_layers=2, model_id="toy")
    ev = build_vectors(backend, story, neutral, Recipe(neutral_variance=0.5), {"sha256": "x"})
    assert ev.emotions == tuple(names)
    for site in sites:
        means = torch.stack([rows[site][i::3].double().mean(0) for i in range(3)])
        direction = means - means.mean(0)
        pcs = torch.linalg.eigh(dialogues[site].double().T.cov())[1].flip(1).T
        k = ev.metadata["neutral_pcs_removed"][str(site)]
        kept = direction - (direction @ pcs[:k].T) @ pcs[:k]
        expected = kept / kept.norm(dim=-1, keepdim=True)
        torch.testing.assert_close(ev.at(site).double(), expected, atol=1e-5, rtol=0)
        assert ev.residual_norm(site) == pytest.approx(2.0)
        assert 1 <= k < d


def test_extraction_on_the_tiny_model(backend, stories, neutral):
    ev = extract_vectors(backend, stories, neutral, start=4, progress=False)
    assert ev.emotions == EMOTIONS
    assert [str(s) for s in ev.sites] == ["resid_post.0", "resid_post.1", "resid_post.2"]
    torch.testing.assert_close(ev.vectors.norm(dim=-1), torch.ones(4, 3))
    meta = ev.metadata
    assert meta["d_model"] == 64 and meta["n_layers"] == 3
    assert meta["corpus"]["n_stories"] == len(stories) and meta["corpus"]["n_neutral"] == len(
        neutral
    )
    assert set(meta["residual_norms"]) == {str(s) for s in ev.sites}
    assert all(k >= 1 for k in meta["neutral_pcs_removed"].values())
    assert meta["recipe"]["start"] == 4 and meta["recipe"]["pca_mode"] == "dialogue"
    ev.check(backend)

    # Same corpus in other batches (and without a checkpoint): same vectors, same order.
    again = extract_vectors(
        backend, stories[::-1], neutral, start=4, batch_tokens=120, window=7, progress=False
    )
    again = again.select(ev.emotions)
    torch.testing.assert_close(again.vectors, ev.vectors, atol=1e-5, rtol=0)


def test_token_mode_and_no_denoising_run(backend, stories, neutral):
    few = stories[::3]
    tok = extract_vectors(
        backend, few, neutral[:4], sites="2", start=4, pca_mode="token", progress=False
    )
    assert tok.metadata["recipe"]["pca_mode"] == "token"
    raw = extract_vectors(backend, few, None, sites="2", start=4, progress=False)
    assert raw.metadata["neutral_pcs_removed"] == {"resid_post.2": 0}
    assert raw.metadata["residual_norm_source"] == "stories"


def test_bad_corpora_give_clear_errors(backend):
    story = {"id": "a", "emotion": "calm", "text": "She sat by the lake."}
    with pytest.raises(ValueError, match="Duplicate story record id 'a'"):
        extract_vectors(backend, [story, story], sites="0", progress=False)
    with pytest.raises(ValueError, match="needs 'emotion' and 'text'"):
        extract_vectors(backend, [{"text": "x"}], sites="0", progress=False)
    with pytest.raises(ValueError, match=r"No story for emotion\(s\) happy"):
        extract_vectors(backend, [story], sites="0", emotions=["calm", "happy"], progress=False)
    with pytest.raises(ValueError, match="pca_mode"):
        extract_vectors(backend, [story], sites="0", pca_mode="tokens", progress=False)


def test_records_may_be_objects_with_attributes():
    from types import SimpleNamespace as Rec

    from emovec.extract import neutral_items, story_items

    items = list(story_items([Rec(id="a", emotion="calm", text="t", topic="x")]))
    assert (items[0].id, items[0].label, items[0].text) == ("a", "calm", "t")
    assert [i.id for i in neutral_items(["n0", Rec(id="d1", text="dialogue")])] == [
        "neutral-0",
        "d1",
    ]
    with pytest.raises(ValueError, match="Story record 0 needs 'emotion' and 'text'"):
        list(story_items([Rec(text="no emotion")]))
