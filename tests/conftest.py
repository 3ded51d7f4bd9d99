"""Shared fixtures: the tiny random Llama (fast unit tests) and the real embedded model."""

import copy
import os

import pytest
import torch

import emovec

TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=49152,  # the real SmolLM2 tokenizer's vocabulary, so real text tokenises
    max_position_embeddings=512,
    tie_word_embeddings=True,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)

ADAPTERS = ("hf", "transformer_lens", "nnsight")
TINY_ORIGIN = emovec.Origin("tiny-random-llama")


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis profiles for tests outside tests/ops (which registers the same two).
    from hypothesis import settings

    # No deadlines: the machines are shared and noisy; speed lives in benchmarks/.
    settings.register_profile("dev", max_examples=25, deadline=None)
    settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def tokenizer():
    """The real SmolLM2 tokenizer (the model's fp32 copy is made by `emovec models fetch`)."""
    return emovec.load_model()[1]


def tiny_llama(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(**TINY)
    config._attn_implementation = "eager"
    model = LlamaForCausalLM(config).eval()
    emovec.remember_origin(model, TINY_ORIGIN)
    return model


def copy_of(model):
    """A deep copy of a tiny model, with the same recorded origin (copies carry none)."""
    twin = copy.deepcopy(model)
    origin = emovec.origin_of(model)
    if origin is not None:
        emovec.remember_origin(twin, origin)
    return twin


def wrap(model, tokenizer, adapter: str):
    """A backend of kind `adapter` over `model` (which the bridge rewires: pass a copy)."""
    if adapter == "hf":
        return emovec.attach(model, tokenizer=tokenizer)
    if adapter == "transformer_lens":
        from transformer_lens.model_bridge import TransformerBridge

        model.config.architectures = ["LlamaForCausalLM"]
        bridge = TransformerBridge.boot_transformers(
            "HuggingFaceTB/SmolLM2-135M-Instruct", hf_model=model, tokenizer=tokenizer, device="cpu"
        )
        return emovec.attach(bridge, tokenizer=tokenizer)
    if adapter == "nnsight":
        from nnsight.modeling.transformers import TransformersModel

        return emovec.attach(TransformersModel(model, tokenizer=tokenizer))
    raise ValueError(adapter)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tokenizer):
    """The tiny random Llama saved as a local checkpoint (what the CLI loads with --model)."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_llama().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_backends(tokenizer):
    """The same tiny random Llama behind every adapter (each on its own copy)."""
    base = tiny_llama()
    return {name: wrap(copy_of(base), tokenizer, name) for name in ADAPTERS}


@pytest.fixture(scope="session")
def real_backends():
    """The embedded default model behind every adapter (each a freshly loaded copy)."""
    return {name: emovec.load_backend(adapter=name) for name in ADAPTERS}
