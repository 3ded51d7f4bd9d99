import pytest
import torch

from emovec.extract import TEMPLATES, template_records, template_vectors


def test_template_records_name_each_emotion_in_each_template():
    records = template_records(["calm", "afraid"])
    assert len(records) == 2 * len(TEMPLATES)
    assert all(r["emotion"] in r["text"] for r in records)
    assert len({r["id"] for r in records}) == len(records)
    with pytest.raises(ValueError, match="must contain"):
        template_records(["calm"], ["No placeholder here."])


def test_template_control_runs_through_the_same_recipe(backend, neutral):
    ev = template_vectors(
        backend, ["calm", "afraid", "happy"], neutral[:4], sites="1:3", progress=False
    )
    assert ev.emotions == ("calm", "afraid", "happy")
    assert [str(s) for s in ev.sites] == ["resid_post.1", "resid_post.2"]
    torch.testing.assert_close(ev.vectors.norm(dim=-1), torch.ones(3, 2))
    assert ev.metadata["control"]["templates"] == list(TEMPLATES)
    assert ev.metadata["corpus"]["n_stories"] == 3 * len(TEMPLATES)
