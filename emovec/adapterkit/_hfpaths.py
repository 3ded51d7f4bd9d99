"""Where Hugging Face causal LMs keep their decoder layers, final norm and output head.

Knowledge of `transformers` module layouts, by attribute path only (nothing imports
`transformers`): shared by the adapters that reach into a Hugging Face model, whether they hold
it directly (HF), through a wrapper (nnsight's `_module`) or a bridge.
"""

from typing import Any

from torch import nn

# Where decoder layers live in the common causal-LM families (the bare "layers" last).
LAYER_PATHS = (
    "model.layers",
    "model.decoder.layers",
    "transformer.h",
    "gpt_neox.layers",
    "layers",
)

FINAL_NORMS = (
    "model.norm",
    "model.decoder.final_layer_norm",
    "transformer.ln_f",
    "gpt_neox.final_layer_norm",
)


def find_path(obj: Any, path: str) -> Any:
    """`obj.a.b.c` for `path` "a.b.c", or None where a link is missing."""
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def layer_path(model: Any, paths: tuple[str, ...] = LAYER_PATHS) -> str | None:
    """The first of `paths` that leads to a `ModuleList` inside `model`."""
    for path in paths:
        if isinstance(find_path(model, path), nn.ModuleList):
            return path
    return None


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a Hugging Face causal LM.

    Raises:
        ValueError: none of `LAYER_PATHS` leads to a `ModuleList` (not a causal LM).
    """
    path = layer_path(model)
    if path is None:
        raise ValueError(
            f"Cannot find the decoder layers of {type(model).__name__} (looked at"
            f" {', '.join(LAYER_PATHS)}). Pass a causal language model such as LlamaForCausalLM."
        )
    return find_path(model, path)


def final_norm_and_head(model: Any) -> tuple[nn.Module, nn.Module]:
    """The final norm and output head of a Hugging Face causal LM (for the logit lens)."""
    head: Any = getattr(model, "get_output_embeddings", lambda: None)()
    for path in FINAL_NORMS:
        norm = find_path(model, path)
        if isinstance(norm, nn.Module) and isinstance(head, nn.Module):
            return norm, head
    raise ValueError(
        f"Cannot find the final norm and output head of {type(model).__name__}"
        f" (looked at {', '.join(FINAL_NORMS)} and get_output_embeddings())."
    )
