"""Starting a forward part-way: the decoder layers up to a site are swapped for stand-ins.

Experiments that try many edits at one site (a steering sweep: every condition, every random
direction) share everything before that site. Running the model with its first layers replaced
by stand-ins that hand on a residual captured once makes each condition cost only the layers
after the site: the model's own forward still builds the masks, positions and rotary tables,
so nothing about the architecture is re-implemented here. Plain torch; used by the adapters
whose forward is a Hugging Face model's loop over a `ModuleList` of layers (the HF adapter's,
and the TransformerLens bridge's, which puts its block bridges into that list).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn


class _StandIn(nn.Module):
    """Takes a decoder layer's place: returns `hidden` (the first stand-in) or its input.

    Attribute reads the model's loop makes on its layers (Gemma's `attention_type`, for one)
    fall through to the layer it replaces.
    """

    def __init__(self, layer: nn.Module, hidden: Tensor | None):
        super().__init__()
        object.__setattr__(self, "_layer", layer)  # not a submodule: parameters stay out
        object.__setattr__(self, "_start", hidden)

    def forward(self, hidden_states: Tensor | None = None, *args: Any, **kwargs: Any) -> Tensor:
        if self._start is not None:
            return self._start
        return kwargs["hidden_states"] if hidden_states is None else hidden_states

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "_layer"), name)


@contextmanager
def started_at(layers: nn.ModuleList, layer: int, hidden: Tensor) -> Iterator[None]:
    """Inside the block, the model's forward computes layers after `layer` only.

    Its residual after `layer` is `hidden` (`[batch, pos, d_model]`, the batch the forward is
    given; edits at that site are applied to it beforehand by `BackendBase.capture_from`). The
    original layers are back in place on exit, even on error.
    """
    originals = [layers[i] for i in range(layer + 1)]
    try:
        for i, original in enumerate(originals):
            layers[i] = _StandIn(original, hidden if i == 0 else None)
        yield
    finally:
        for i, original in enumerate(originals):
            layers[i] = original


def list_holding(root: nn.Module, first: nn.Module) -> nn.ModuleList | None:
    """The `ModuleList` inside `root` whose first entry is `first` (a model's layer list)."""
    for module in root.modules():
        if isinstance(module, nn.ModuleList) and len(module) and module[0] is first:
            return module
    return None
