"""Dose-response: the random band is >= 20 norm-matched directions; a planted effect leaves it."""

import inspect
import json

import numpy as np
import pytest
import torch

from emovec import Site
from emovec.interventions import (
    LogitDiff,
    Steer,
    dose_response,
    next_token_logits,
    random_directions,
)
from emovec.vectors import EmotionVectors

PROMPTS = ["The weather today is", "My favourite food is"]
X, Y = 9071, 22415  # two token ids; the planted direction raises X over Y


@pytest.fixture(scope="module")
def planted(tiny_backends, tiny_bundle):
    """The bundle with 'calm' at the last site replaced by the unembedding direction X - Y."""
    backend = tiny_backends["hf"]
    w = backend.model.get_output_embeddings().weight.detach()
    direction = w[X] - w[Y]
    vectors = tiny_bundle.vectors.clone()
    vectors[tiny_bundle.index("calm"), 2] = direction / direction.norm()
    return EmotionVectors(vectors, tiny_bundle.emotions, tiny_bundle.sites, tiny_bundle.metadata)


def run(backend, bundle, emotion="calm", **kw):
    kw.setdefault("strengths", (-1.0, -0.5, 0.5, 1.0))
    return dose_response(
        backend,
        bundle,
        emotion,
        PROMPTS,
        metric=LogitDiff(X, Y),
        sites=[2],
        chat=False,
        neutral=None,
        generation_prompts=None,
        progress=False,
        **kw,
    )


def test_default_band_has_twenty_seeds():
    assert inspect.signature(dose_response).parameters["n_random"].default >= 20


def test_random_directions_are_seeded_unit_and_optionally_orthogonal():
    a = random_directions(64, 20, seed=3)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(20))
    torch.testing.assert_close(a, random_directions(64, 20, seed=3))
    assert not torch.allclose(a, random_directions(64, 20, seed=4))
    v = torch.randn(64)
    b = random_directions(64, 20, seed=3, orthogonal_to=v)
    assert (b @ (v / v.norm())).abs().max() < 1e-5
    torch.testing.assert_close(b.norm(dim=-1), torch.ones(20))


def test_planted_effect_leaves_the_band_and_a_random_vector_does_not(tiny_backends, planted):
    result = run(tiny_backends["hf"], planted)
    assert len(result.random[0][0]) == 20
    assert all(result.outside[0]), result.summary()
    assert (
        result.effect[0][0] < result.band[0][0][0] and result.effect[0][-1] > result.band[0][-1][1]
    )
    assert result.leaves_band["resid_post.2"] == {"positive": 0.5, "negative": -0.5}
    # 'hostile' is just another random unit vector: it stays with the crowd
    null = run(tiny_backends["hf"], planted, emotion="hostile")
    assert not all(null.outside[0])
    assert max(map(abs, null.effect[0])) < 0.5 * min(map(abs, result.effect[0]))


def test_random_directions_are_norm_matched_to_the_emotion(tiny_backends, planted):
    # Recompute one random direction's effect by hand: strength x residual norm along a unit
    # vector from random_directions(seed). A band of unscaled (unit) directions would differ.
    backend = tiny_backends["hf"]
    result = run(backend, planted, strengths=(0.5,), seed=7)
    direction = random_directions(64, 20, seed=7)[3]
    batch = backend.tokenize(PROMPTS)
    amount = 0.5 * planted.residual_norm(2)
    steered = next_token_logits(
        backend, batch, Steer(direction, amount, 2, relative=False).edits(None, backend)
    )
    plain = next_token_logits(backend, batch)
    by_hand = float(((steered[:, X] - steered[:, Y]) - (plain[:, X] - plain[:, Y])).mean())
    assert result.random[0][0][3] == pytest.approx(by_hand, abs=1e-4)
    unscaled = next_token_logits(
        backend, batch, Steer(direction, 1.0, 2, relative=False).edits(None, backend)
    )
    wrong = float(((unscaled[:, X] - unscaled[:, Y]) - (plain[:, X] - plain[:, Y])).mean())
    assert abs(wrong - by_hand) > 1e-3
    assert result.settings["n_random"] == 20


def test_emotion_effect_equals_a_plain_steer(tiny_backends, planted):
    backend = tiny_backends["hf"]
    result = run(backend, planted, strengths=(0.5,), n_random=3)
    batch = backend.tokenize(PROMPTS)
    steered = next_token_logits(backend, batch, Steer("calm", 0.5, 2).edits(planted, backend))
    plain = next_token_logits(backend, batch)
    by_hand = float(((steered[:, X] - steered[:, Y]) - (plain[:, X] - plain[:, Y])).mean())
    assert result.effect[0][0] == pytest.approx(by_hand, abs=1e-4)


def test_shuffled_controls(tiny_backends, planted):
    backend = tiny_backends["hf"]
    other = run(backend, planted, strengths=(1.0,), n_random=3, shuffled="hostile")
    hostile = run(backend, planted, emotion="hostile", strengths=(1.0,), n_random=3)
    assert other.shuffled[0][0] == pytest.approx(hostile.effect[0][0], abs=1e-5)
    perm = run(backend, planted, strengths=(1.0,), n_random=3, shuffled="permute")
    assert perm.shuffled_label == "permute"
    assert abs(perm.shuffled[0][0]) < abs(perm.effect[0][0])


def test_side_effects_grow_with_strength_and_results_save(tiny_backends, planted, tmp_path):
    backend = tiny_backends["hf"]
    result = dose_response(
        backend,
        planted,
        "calm",
        PROMPTS[:1],
        metric=LogitDiff(X, Y),
        sites=[Site(1), Site(2)],
        strengths=(0.2, 2.0),
        n_random=2,
        side_effect_randoms=1,
        chat=False,
        neutral=["The meeting is on Tuesday.", "Press the button twice."],
        generation_prompts=["Hello"],
        max_new_tokens=4,
        progress=False,
    )
    for row in result.kl_neutral:
        assert 0 <= row[0] < row[1]
    assert all(np.isfinite(v) and v > 1 for row in result.perplexity for v in row)
    paths = result.save(tmp_path)
    assert {p.name for p in paths} == {
        "dose_response.json",
        "dose_response.png",
        "dose_response.svg",
    }
    data = json.loads((tmp_path / "dose_response.json").read_text())
    assert data["sites"] == ["resid_post.1", "resid_post.2"] and len(data["random"][1][1]) == 2
    assert "leaves the random band" in result.summary()
