"""bfloat16 on the embedded default model: adapters agree within tolerance, and the residuals
stay close to float32's (the measured basis of `--dtype auto`)."""

import pytest
import torch

import emovec
from emovec import MeanFrom, Site

pytestmark = pytest.mark.real

TEXTS = [
    "Marta read the landlord's letter standing in the hallway, still in her coat, and her thumb"
    " kept sliding back to the same line about an inspection on Thursday. She checked the chain"
    " on the door. Then she checked it again. Her mouth had gone dry, and every creak on the"
    " stairs stopped her breath while she sat in the dark with the phone in her lap.",
    "Run python3.11 -m venv .venv in the project folder, then activate it and install the"
    " package with pip; the interpreter inside .venv/bin is the one the tests should use.",
]


@pytest.fixture(scope="module")
def pair():
    return {
        dtype: {a: emovec.load_backend(adapter=a, dtype=dtype) for a in ("hf", "transformer_lens")}
        for dtype in ("float32", "bfloat16")
    }


def test_bf16_story_means_track_float32_and_adapters_agree(pair):
    sites = [Site(10), Site(20), Site(25)]
    means = {}
    for dtype, backends in pair.items():
        for adapter, backend in backends.items():
            assert backend.dtype == emovec.resolve_dtype(dtype)
            batch = backend.tokenize(TEXTS)
            got = backend.capture(batch, sites, MeanFrom(start=20))
            means[dtype, adapter] = torch.stack([got[s].float() for s in sites])
    # float32: bit-identical across adapters (as everywhere else in the suite).
    assert torch.equal(means["float32", "hf"], means["float32", "transformer_lens"])
    # bfloat16 vs float32 per-text means: cosine >= 0.995 at every site.
    cos = torch.nn.functional.cosine_similarity(
        means["bfloat16", "hf"], means["float32", "hf"], dim=-1
    )
    assert float(cos.min()) >= 0.995, cos
    # bfloat16 across adapters: within 1% of the mean's norm.
    a, b = means["bfloat16", "hf"], means["bfloat16", "transformer_lens"]
    rel = (a - b).norm(dim=-1) / a.norm(dim=-1)
    assert float(rel.max()) < 0.01, rel
