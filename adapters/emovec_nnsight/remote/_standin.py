"""A tiny stand-in of a hosted model, on which the sandbox rehearses a request (server side).

`_server.py` loads this file by path (the sandbox refuses emovec's packages, and this
folder is one of them), so it imports only the standard library, torch, transformers and
nnsight, and never emovec. The client (`_rehearsal.stand_in`) says what to build: the
architecture class and its config with every layer but tiny widths, the nnsight wrapper, the
hosted model's module names (which must come out the same, or the request's references to
modules would resolve to different ones), a tokenizer folder, and which widths shrank.

Two adaptations let an unchanged request run on it:

* token ids are folded into the tiny vocabulary by the input embedding (`ids % vocab`);
* floating-point tensors the request carries are narrowed along every dimension whose size is
  a width that shrank (a `[k, d_model]` basis becomes `[k, 16]`). Integer and boolean tensors
  (token ids, masks, indices) are left alone: their sizes are lengths, not widths.
"""

import importlib
import json
from typing import Any

_DEPTH = 8


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target


def build(spec: dict):
    """The stand-in model, wrapped in the client's nnsight class.

    Raises:
        LookupError: the stand-in's module names differ from the hosted model's.
    """
    import torch

    architecture = _load(spec["architecture"])
    config = _load(spec["config_class"]).from_dict(json.loads(spec["config"]))
    torch.manual_seed(0)
    module = architecture._from_config(config, dtype=torch.float32, attn_implementation="eager")
    module.eval()
    names = {name for name, _ in module.named_modules()}
    hosted = set(spec["module_names"])
    if names != hosted:
        missing, extra = sorted(hosted - names)[:5], sorted(names - hosted)[:5]
        raise LookupError(
            f"the tiny {architecture.__name__} does not have the hosted model's module names"
            f" (missing {missing}, extra {extra})"
        )
    _fold_token_ids(module)
    tokenizer = None
    if spec.get("tokenizer"):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer"])
    return _load(spec["wrapper"])(module, tokenizer=tokenizer)


def _fold_token_ids(module) -> None:
    """Make the input embedding take any token id of the hosted vocabulary."""
    embedding = module.get_input_embeddings()
    base = type(embedding)

    def forward(self, input_ids, *args, **kwargs):
        return base.forward(self, input_ids % self.weight.shape[0], *args, **kwargs)

    embedding.__class__ = type(base.__name__, (base,), {"forward": forward})


def narrow(tracer, widths: list) -> None:
    """Narrow the request's floating-point tensors from the hosted widths to the tiny ones."""
    sizes = {int(hosted): int(tiny) for hosted, tiny in widths}
    if not sizes:
        return
    frame = tracer.info.frame
    for scope in (frame.f_locals, frame.f_globals):
        for name, value in list(scope.items()):
            scope[name] = _narrowed(value, sizes, 0)
    if getattr(tracer, "args", None):
        tracer.args = _narrowed(tuple(tracer.args), sizes, 0)
    if getattr(tracer, "kwargs", None):
        tracer.kwargs = _narrowed(dict(tracer.kwargs), sizes, 0)


def _narrowed(value, sizes: dict, depth: int):
    import torch

    if depth > _DEPTH:
        return value
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return value
        for dim, size in enumerate(value.shape):
            if size in sizes:
                value = value.narrow(dim, 0, sizes[size])
        return value
    if type(value) is list:
        return [_narrowed(item, sizes, depth + 1) for item in value]
    if type(value) is tuple:
        return tuple(_narrowed(item, sizes, depth + 1) for item in value)
    if type(value) is dict:
        return {key: _narrowed(item, sizes, depth + 1) for key, item in value.items()}
    return value
