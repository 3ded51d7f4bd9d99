import pytest
import torch

from emovec.analysis import heldout_identification, split_topics, topk_accuracy


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
