import pytest
import torch

from emovec.analysis import heldout_identification, split_topics, topk_accuracy
from tests.contract import BackendDouble


def test_split_is_by_topic_and_seeded(stories):
    train, test, topics = split_topics(stories, test_fraction=0.34, seed=3)
    assert len(topics) == 1 and {s["topic"] for s in test} == set(topics)
    assert not {s["topic"] for s in train} & set(topics)
    assert len(train) + len(test) == len(stories)
    assert split_topics(stories, test_fraction=0.34, seed=3)[2] == topics
    with pytest.raises(ValueError, match="'topic' on every story"):
        split_topics([{"emotion": "calm", "text": "x"}] * 3, test_fraction=0.5, seed=0)


def test_topk_accuracy():
    logits = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    labels = torch.tensor([0, 1, 1])
    assert topk_accuracy(logits, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(logits, labels, 2) == pytest.approx(1.0)


def test_heldout_identification_runs_with_the_template_control(backend, stories, neutral):
    result = heldout_identification(
        backend, stories, neutral[:4], sites="1:3", start=4, test_fraction=0.34, progress=False
    )
    assert [str(r.site) for r in result.rows] == ["resid_post.1", "resid_post.2"]
    assert result.chance == pytest.approx(1 / 4) and result.n_emotions == 4
    assert result.n_test == 8 and result.n_train == 16
    for row in result.rows:
        for acc in (row.story_top1, row.story_top5, row.template_top1, row.template_top5):
            assert 0.0 <= acc <= 1.0
        assert row.story_top5 == 1.0  # only 4 emotions
    assert "chance@1 = 0.2500" in result.table()
    assert all(t != p and n >= 1 for t, p, n in result.confusions)


def test_the_same_pass_yields_the_whole_corpus_bundle(backend, stories, neutral):
    from emovec.extract import extract_vectors

    result = heldout_identification(
        backend, stories, neutral[:4], sites="1:3", start=4, test_fraction=0.34,
        templates=None, return_vectors=True, corpus_info={"source": "toy"}, progress=False,
    )  # fmt: skip
    direct = extract_vectors(
        backend, stories, neutral[:4], sites="1:3", start=4, corpus_info={"source": "toy"},
        progress=False,
    )  # fmt: skip
    fused = result.vectors
    assert fused is not None and fused.emotions == direct.emotions and fused.sites == direct.sites
    torch.testing.assert_close(fused.vectors, direct.vectors, rtol=0, atol=1e-6)
    assert fused.metadata["corpus"] == direct.metadata["corpus"]
    assert fused.metadata["neutral_pcs_removed"] == direct.metadata["neutral_pcs_removed"]
    assert fused.metadata["residual_norms"] == pytest.approx(direct.metadata["residual_norms"])
    assert (
        heldout_identification(
            backend, stories, neutral[:4], sites="1:3", start=4, test_fraction=0.34, progress=False
        ).vectors
        is None
    )


def test_an_emotion_with_only_held_out_stories_is_refused_before_any_model_call(stories):
    lonely = [*stories, {"emotion": "lonely", "text": "x " * 20, "topic": stories[0]["topic"]}]
    train, held, topics = split_topics(lonely, test_fraction=0.34, seed=0)
    if stories[0]["topic"] not in topics:  # put the lone story's topic on the held-out side
        lonely[-1]["topic"] = topics[0]
    with pytest.raises(ValueError, match="lonely.*held-out topics"):
        heldout_identification(BackendDouble(), lonely, None, test_fraction=0.34, seed=0)


def test_heldout_carries_the_words_alone_baseline(backend, stories, neutral):
    result = heldout_identification(
        backend, stories, neutral[:4], sites="1:2", start=4, test_fraction=0.34,
        templates=None, progress=False,
    )  # fmt: skip
    assert result.lexical is not None and 0.0 <= result.lexical.top1 <= 1.0
    assert "words alone" in result.table()
    off = heldout_identification(
        backend, stories, neutral[:4], sites="1:2", start=4, test_fraction=0.34,
        templates=None, lexical=False, progress=False,
    )  # fmt: skip
    assert off.lexical is None and "words alone" not in off.table()


def _corpus(n_emotions: int, topics: int, planted: bool):
    import random

    rng = random.Random(0)
    filler = "the a of to and in was on she he it that with for as at by from".split()
    return [
        {
            "emotion": f"e{e}",
            "topic": f"t{t}",
            "text": " ".join(rng.choice(filler) for _ in range(30))
            + (f" marker{e} marker{e}" if planted else ""),
        }
        for e in range(n_emotions)
        for t in range(topics)
    ]


@pytest.mark.parametrize("planted", [True, False])
def test_words_alone_find_a_planted_word_and_nothing_in_filler(planted):
    from emovec.analysis import lexical_identification

    stories = _corpus(20, 8, planted)
    train, held, _ = split_topics(stories, test_fraction=0.25, seed=0)
    result = lexical_identification(train, held, [f"e{e}" for e in range(20)])
    if planted:
        assert result.top1 == 1.0
    else:
        assert result.top1 < 0.25  # chance is 0.05; 40 held-out stories
