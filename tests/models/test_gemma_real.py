"""The second shipped model, gemma-3-270m, loads and runs through the hf adapter and a
TransformerLens bridge (skipped until `emovec models fetch gemma-3-270m` has run)."""

import copy

import pytest
import torch

import emovec
from emovec.models import SHIPPED
from emovec.models._fetch import gguf_path

GEMMA = SHIPPED["gemma-3-270m"]

pytestmark = [
    pytest.mark.real,
    pytest.mark.slow,
    pytest.mark.skipif(
        not gguf_path(GEMMA).is_file(),
        reason="gemma-3-270m is not fetched: run `emovec models fetch gemma-3-270m` (Gemma terms)",
    ),
]


@pytest.fixture(scope="module")
def gemma():
    return emovec.load_model(GEMMA.name)


def test_gemma_loads_and_runs_a_forward_through_the_hf_adapter(gemma):
    model, tokenizer = gemma
    backend = emovec.attach(model, tokenizer=tokenizer)
    assert (backend.d_model, backend.n_layers, backend.model_id) == (640, 18, GEMMA.hf_id)
    text = "The cat sat on the mat by the fire. It was warm, and soon the cat was fast asleep."
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], 262144) and bool(torch.isfinite(logits).all())
    # A working language model predicts plain English far better than chance (ln 262144 = 12.5
    # nats per token); mis-mapped or garbled weights land near or above chance.
    nll = torch.nn.functional.cross_entropy(logits[0, :-1].float(), ids[0, 1:])
    assert float(nll) < 6.0


def test_gemma_boots_a_transformer_lens_bridge_with_the_same_logits(gemma):
    from transformer_lens.model_bridge import TransformerBridge

    model, tokenizer = gemma
    copied = copy.deepcopy(model)
    copied.config.architectures = [GEMMA.architecture]
    bridge = TransformerBridge.boot_transformers(
        GEMMA.hf_id, hf_model=copied, tokenizer=tokenizer, device="cpu"
    )
    ids = tokenizer("A quiet morning by the lake", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model(ids).logits
        got = bridge(ids)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
