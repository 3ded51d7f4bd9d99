"""Speaker and deflection vectors on the tiny model: token roles, reducers, the recipe."""

import random

import pytest
import torch

from emovec import Site
from emovec.analysis import speaker_report
from emovec.extract import (
    RoleMoments,
    deflection_vectors,
    extract_vectors,
    role_tokens,
    speaker_vectors,
    story_subspace,
    turn_spans,
)
from emovec.vectors import EmotionVectors
from tests.extract.conftest import toy_neutral, toy_stories

EMOTIONS = ("calm", "afraid", "angry")  # three of the toy stories' four emotions
MARK = {
    "calm": "sunshine picnic breeze",
    "afraid": "shadow scream alarm",
    "angry": "slam shout fist",
}
FILLER = "the a report table window morning coffee street paper train".split()


def dialogue(rng: random.Random, human: str, assistant: str, i: int) -> dict:
    def line(emotion: str) -> str:
        words = [rng.choice(FILLER) for _ in range(8)]
        if emotion != "neutral":
            words[2:2] = MARK[emotion].split()
        return " ".join(words)

    text = "\n".join(
        f"{who}: {line(e)}" for who, e in [("Human", human), ("Assistant", assistant)] * 2
    )
    return {"id": f"d{i}", "text": text, "human": human, "assistant": assistant}


def dialogues(per_pair: int = 2) -> list[dict]:
    rng = random.Random(0)
    pairs = [(h, a) for h in (*EMOTIONS, "neutral") for a in (*EMOTIONS, "neutral") if h != a]
    return [
        dialogue(rng, h, a, k * 100 + i) for k in range(per_pair) for i, (h, a) in enumerate(pairs)
    ]


def test_turns_and_token_roles(tokenizer):
    text = "Human: where is the station\nAssistant: two streets north"
    assert [r for r, _, _ in turn_spans(text)] == [0, 1]
    ids, roles = role_tokens(tokenizer, text)
    human = tokenizer.decode([t for t, r in zip(ids, roles, strict=True) if r == 0])
    assistant = tokenizer.decode([t for t, r in zip(ids, roles, strict=True) if r == 1])
    assert human.strip() == "where is the station" and assistant.strip() == "two streets north"
    assert -1 in roles  # the "Human:" and "Assistant:" labels belong to no one
    with pytest.raises(ValueError, match="Not a dialogue"):
        role_tokens(tokenizer, "just a sentence")


def test_role_moments_average_each_speaker_from_start():
    acts = torch.arange(12.0).reshape(1, 6, 2)
    roles = torch.tensor([[-1, 0, 0, 1, 1, -1]])
    mask = torch.tensor([[True] * 5 + [False]])
    out = RoleMoments(roles, start=2)(acts, mask)
    torch.testing.assert_close(out[0, 0, :2], acts[0, 2])  # Human from position 2: one token
    torch.testing.assert_close(out[0, 1, :2], acts[0, 3:5].mean(0))
    assert out[0, :, -1].tolist() == [1.0, 2.0]


def test_speaker_vectors_shapes_kinds_and_grid(backend):
    sv = speaker_vectors(
        backend, dialogues(), toy_neutral()[:4], sites="1:3", start=1, progress=False
    )
    assert sv.present.emotions == tuple(sorted(EMOTIONS)) == sv.other.emotions
    assert (
        sv.present.metadata["kind"] == "present-speaker"
        and sv.other.metadata["kind"] == "other-speaker"
    )
    assert set(sv.grid) == {(r, w) for r in ("Human", "Assistant") for w in ("own", "other")}
    for ev in (sv.present, sv.other, *sv.grid.values()):
        assert ev.vectors.shape == (3, 2, backend.d_model)
        torch.testing.assert_close(ev.vectors.norm(dim=-1), torch.ones(3, 2), rtol=0, atol=1e-5)
    report = speaker_report(sv, folds=3)
    assert len(report.rows) == 2 and report.chance == pytest.approx(1 / 3)
    # The planted words of a speaker's own emotion sit in their own tokens: readable held out.
    assert max(r.heldout_present for r in report.rows) >= 0.8
    for r in report.rows:
        assert -1 <= r.matching_cosine <= 1 and -1 <= r.rsa <= 1
        assert 0 <= r.heldout_other_clean <= 1 and 0 <= r.heldout_other <= 1
    assert "cos(pres,oth)" in report.table()
    with pytest.raises(ValueError, match="'human' and 'assistant'"):
        speaker_vectors(backend, [{"id": "x", "text": "Human: a\nAssistant: b"}], progress=False)


def test_deflection_vectors_are_orthogonal_to_the_story_subspace(backend):
    story = extract_vectors(
        backend, toy_stories(), toy_neutral()[:4], sites="1:3", start=4, progress=False
    )
    rng = random.Random(1)
    records = []
    for i, (felt, shown) in enumerate((f, s) for f in EMOTIONS for s in EMOTIONS if f != s):
        d = dialogue(rng, felt, "neutral", i)
        records.append({**d, "speaker": "human", "felt": felt, "shown": shown})
    out = deflection_vectors(backend, records, story, toy_neutral()[:4], start=1, progress=False)
    assert out.vectors.metadata["kind"] == "deflection"
    for site in story.sites:
        basis = story_subspace(story.at(site), 0.99)
        assert float((out.vectors.at(site).double() @ basis.T).abs().max()) < 1e-4
        for value in out.surviving[str(site)].values():
            assert 0.0 <= value <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="'speaker'"):
        deflection_vectors(backend, [{"id": "x", "text": "Human: a"}], story, progress=False)
    with pytest.raises(ValueError, match="no vectors at"):
        deflection_vectors(backend, records, story, sites=[Site(0)], progress=False)


def test_denial_check_runs_and_a_zero_strength_changes_nothing(backend):
    from emovec.interventions import denial_check

    story = extract_vectors(
        backend, toy_stories(), toy_neutral()[:4], sites="1:3", start=4, progress=False
    )
    deflection = EmotionVectors(
        story.vectors.flip(-1), story.emotions, story.sites, {"n_layers": 3}
    )
    check = denial_check(backend, deflection, story, emotions=story.emotions[:2], n_random=3)
    assert [r.emotion for r in check.rows] == list(story.emotions[:2])
    for r in check.rows:
        assert r.random_low <= r.random_high
        assert "inside" in r.verdict or "denial" in r.verdict
    assert "Positive = more denial" in check.table()
    still = denial_check(
        backend, deflection, story, emotions=story.emotions[:1], strength=0.0, n_random=2
    )
    row = still.rows[0]
    assert row.deflection == pytest.approx(0.0, abs=1e-4) and row.story == pytest.approx(
        0.0, abs=1e-4
    )
    with pytest.raises(ValueError, match="missing"):
        denial_check(backend, deflection, story, emotions=["nope"])
