"""KV-cache generation is right: through the bridge (transformers 5.24 breaks it) and our loop."""

import pytest
import torch

from emovec import TokenBatch
from tests.conftest import ADAPTERS


@pytest.mark.real
def test_bridge_kv_cache_generation_matches_no_cache(real_backends):
    bridge = real_backends["transformer_lens"].model
    prompt = "The capital of France is"
    cached = bridge.generate(
        prompt, max_new_tokens=12, do_sample=False, use_past_kv_cache=True, verbose=False
    )
    uncached = bridge.generate(
        prompt, max_new_tokens=12, do_sample=False, use_past_kv_cache=False, verbose=False
    )
    assert cached == uncached
    assert "Paris" in cached
    assert "----" not in cached


@pytest.mark.real
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_our_cached_loop_matches_full_recompute(real_backends, adapter):
    backend = real_backends[adapter]
    prompt = "Name three colours of the rainbow."
    gen = backend.generate([prompt], max_new_tokens=10, chat=True)
    ids = backend.encode(prompt, chat=True)
    recomputed = []
    for _ in range(len(gen.token_ids[0])):
        row = torch.tensor([ids + recomputed])
        batch = TokenBatch(row, torch.ones_like(row))
        recomputed.append(int(backend.run(batch)[0, -1].argmax()))
    assert gen.token_ids[0] == recomputed
    assert gen.texts[0].strip(), "generated nothing"
