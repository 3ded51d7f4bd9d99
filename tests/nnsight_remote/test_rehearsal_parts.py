"""The rehearsal's parts, in-process: shrinking a config, building the stand-in, narrowing the
request's tensors, and the block shape its verdicts are cached by."""

import types
from typing import Any

import pytest
import torch
from emovec_nnsight.remote import _standin
from emovec_nnsight.remote._compile import compile_forward
from emovec_nnsight.remote._rehearsal import StandInError, _shape, shrink, stand_in
from transformers import LlamaConfig

from emovec import Edit, MeanFrom, Site, keep

from .conftest import nnsight_model

HOSTED: dict[str, Any] = dict(  # Llama-3.1-8B's shape
    hidden_size=4096,
    intermediate_size=14336,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    num_hidden_layers=32,
    vocab_size=128256,
    bos_token_id=128000,
    eos_token_id=[128001, 128008, 128009],
)


def test_shrink_keeps_every_layer_and_shrinks_every_width():
    tiny, widths = shrink(LlamaConfig(**HOSTED))
    assert tiny.num_hidden_layers == 32
    assert (tiny.hidden_size, tiny.intermediate_size, tiny.vocab_size) == (16, 32, 256)
    assert (tiny.num_attention_heads, tiny.num_key_value_heads, tiny.head_dim) == (2, 1, 8)
    assert tiny.bos_token_id == 128000 % 256 and tiny.eos_token_id == [1, 8, 9]
    assert widths == [(4096, 16), (14336, 32), (128256, 256)]
    assert LlamaConfig(**HOSTED).hidden_size == 4096, "the hosted config is not touched"


def test_shrink_refuses_a_multimodal_config():
    config = LlamaConfig(**HOSTED)
    config.text_config = LlamaConfig(**HOSTED)
    with pytest.raises(StandInError, match="text_config"):
        shrink(config)


@pytest.fixture(scope="module")
def spec(tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(folder)
    return stand_in(nnsight_model(tokenizer), str(folder))


def test_stand_in_has_the_hosted_module_names_and_takes_any_token(spec):
    standin = _standin.build(spec)
    hosted = nnsight_model(standin.tokenizer)._module
    assert [n for n, _ in standin._module.named_modules()] == [n for n, _ in hosted.named_modules()]
    assert standin._module.config.hidden_size == 16
    ids = torch.tensor([[5, 49151]])  # 49151 is past the stand-in's 256 tokens
    logits = standin._module(input_ids=ids).logits
    assert logits.shape == (1, 2, 256)


def test_stand_in_with_other_module_names_is_refused(spec):
    with pytest.raises(LookupError, match=r"missing \['model.layers.3'\]"):
        _standin.build({**spec, "module_names": [*spec["module_names"], "model.layers.3"]})


def test_narrow_touches_only_floating_point_widths():
    basis, mask, ids = torch.ones(2, 64), torch.ones(1, 64, dtype=torch.bool), torch.ones(1, 64)
    frame = types.SimpleNamespace(
        f_locals={"edits": [(basis, 3.0)], "mask": mask, "ids": ids.long()}, f_globals={}
    )
    tracer = types.SimpleNamespace(
        info=types.SimpleNamespace(frame=frame), args=({"w": torch.ones(64, 64)},), kwargs={}
    )
    _standin.narrow(tracer, [(64, 16)])
    assert frame.f_locals["edits"][0][0].shape == (2, 16) and frame.f_locals["edits"][0][1] == 3.0
    assert frame.f_locals["mask"].shape == (1, 64) and frame.f_locals["ids"].shape == (1, 64)
    assert tracer.args[0]["w"].shape == (16, 16)


def request(reducer, n_tokens: int):
    mask = torch.ones(2, n_tokens, dtype=torch.long)
    edits = [(Edit.steer(Site(1), torch.ones(64), 1.0), None)]
    specs, _ = compile_forward(edits, [Site(1), Site(2)], reducer, mask)
    inputs = {"input_ids": torch.randint(0, 100, (2, n_tokens)), "attention_mask": mask}
    return [(inputs, specs, 0)]


def test_block_shape_ignores_data_but_not_settings():
    assert _shape(request(MeanFrom(0), 5), True, 0) == _shape(request(MeanFrom(0), 9), True, 0)
    assert _shape(request(MeanFrom(0), 5), True, 0) != _shape(request(keep, 5), True, 0)
    assert _shape([[1, 2], [3]], True, 0) == _shape([[7]], True, 0)  # lists hold data
    assert _shape((1, 2), True, 0) != _shape((1, 3), True, 0)  # tuples hold settings
