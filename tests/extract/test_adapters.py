import pytest
import torch

from emovec.extract import extract_vectors

from .conftest import toy_neutral, toy_stories


@pytest.mark.slow
def test_every_adapter_extracts_the_same_vectors(tiny_backends):
    stories, neutral = toy_stories(per_cell=1)[::2], toy_neutral(4)
    results = {
        name: extract_vectors(b, stories, neutral, sites="1:3", start=4, progress=False)
        for name, b in tiny_backends.items()
    }
    reference = results.pop("hf")
    for name, ev in results.items():
        assert ev.emotions == reference.emotions, name
        torch.testing.assert_close(ev.vectors, reference.vectors, atol=1e-5, rtol=0, msg=name)
        assert ev.metadata["adapter"] == name
        for site, norm in reference.metadata["residual_norms"].items():
            assert ev.residual_norm(site) == pytest.approx(norm, rel=1e-5), name
