"""The HF adapter's copy-free grouped-query attention equals transformers' eager kernel."""

import copy

import pytest
import torch

import emovec
from tests.conftest import TINY, tiny_llama


@pytest.fixture(scope="module")
def pair(tokenizer):
    from emovec_hf._attention import register

    eager = tiny_llama()
    assert eager.config.num_key_value_heads < eager.config.num_attention_heads  # really grouped
    grouped = copy.deepcopy(eager)
    grouped.set_attn_implementation(register())
    return emovec.attach(eager, tokenizer=tokenizer), emovec.attach(grouped, tokenizer=tokenizer)


def test_left_padded_forward_matches_eager(pair):
    eager, grouped = pair
    batch = eager.tokenize(["one short prompt", "a much longer prompt with many more words in it"])
    site = emovec.Site(TINY["num_hidden_layers"] - 1)
    a, b = eager.capture(batch, [site])[site], grouped.capture(batch, [site])[site]
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_cached_sampling_matches_eager(pair):
    eager, grouped = pair
    kwargs = dict(max_new_tokens=12, temperature=0.8, top_p=0.95, seed=3, stop_at_eos=False)
    prompts = ["tell me", "a longer prompt that pads the other row"]
    assert (
        grouped.generate(prompts, **kwargs).token_ids == eager.generate(prompts, **kwargs).token_ids
    )


@pytest.mark.real
def test_default_model_loads_with_grouped_attention():
    backend = emovec.load_backend(attn_implementation="emovec_grouped")
    reference = emovec.load_backend()
    prompts = ["Write one sentence about rain.", "Hi"]
    kwargs = dict(max_new_tokens=8, temperature=0.0)
    assert (
        backend.generate(prompts, **kwargs).token_ids
        == reference.generate(prompts, **kwargs).token_ids
    )
