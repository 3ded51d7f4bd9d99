"""Corpus checks that run before any model call: a bad corpus costs no forward and leaves no file."""

import pytest

from emovec.extract import check_corpus, extract_vectors

SETTINGS = dict(start=4, batch_tokens=200, window=8, progress=False)


class Forwarded(Exception):
    pass


@pytest.fixture
def no_forward(backend, monkeypatch):
    def capture(*args, **kwargs):
        raise Forwarded

    monkeypatch.setattr(backend, "capture", capture)
    return backend


@pytest.mark.parametrize(
    ("pick", "neutral_n", "variance", "message"),
    [
        (lambda s: [], 0, 0.0, "no stories"),
        (
            lambda s: [r for r in s if r["emotion"] == "calm"],
            4,
            0.5,
            "one emotion only \\('calm'\\)",
        ),
        (lambda s: s, 1, 0.5, "needs at least 2 neutral texts, got 1.*--neutral-variance 0"),
        (lambda s: s + s[:1], 4, 0.5, "Duplicate story record id 'calm-rent-0'"),
        (lambda s: s + [{"id": "x", "text": "no label"}], 4, 0.5, "needs 'emotion' and 'text'"),
    ],
)
def test_a_bad_corpus_fails_before_any_forward_and_leaves_no_checkpoint(
    no_forward, stories, neutral, tmp_path, pick, neutral_n, variance, message
):
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(ValueError, match=message):
        extract_vectors(
            no_forward,
            pick(stories),
            neutral[:neutral_n],
            neutral_variance=variance,
            checkpoint=ckpt,
            **SETTINGS,
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("sites", "message"), [("1,1", "named twice"), ("2:1", "is empty")])
def test_bad_sites_fail_before_any_forward(no_forward, stories, tmp_path, sites, message):
    with pytest.raises(ValueError, match=message):
        extract_vectors(
            no_forward, stories, None, sites=sites, checkpoint=tmp_path / "c", **SETTINGS
        )
    assert list(tmp_path.iterdir()) == []


def test_a_named_emotion_without_stories_is_reported():
    stories = [{"emotion": "calm", "text": "a"}, {"emotion": "afraid", "text": "b"}]
    with pytest.raises(ValueError, match="No story for emotion\\(s\\) happy"):
        check_corpus(stories, None, neutral_variance=0.0, emotions=["calm", "afraid", "happy"])


def test_a_good_corpus_gives_the_digest_the_bundle_records(backend, stories, neutral):
    summary = check_corpus(stories, neutral, neutral_variance=0.5)
    ev = extract_vectors(backend, stories, neutral, **SETTINGS)
    assert {k: ev.metadata["corpus"][k] for k in summary} == summary
