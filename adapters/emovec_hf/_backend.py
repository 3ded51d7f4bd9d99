"""The plain Hugging Face adapter: torch forward hooks on the decoder layers."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from emovec._backend import BackendBase, BoundEdit, ForwardOutput
from emovec._batch import Reducer, keep
from emovec._edit import Edit
from emovec._site import Site
from emovec._startat import started_at
from emovec._torchhooks import final_norm_and_head, hooked

# Where decoder layers live in the common causal-LM families.
_LAYER_PATHS = (
    "model.layers",
    "model.decoder.layers",
    "transformer.h",
    "gpt_neox.layers",
    "layers",
)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    for path in _LAYER_PATHS:
        obj: Any = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(
        f"Cannot find the decoder layers of {type(model).__name__} (looked at {', '.join(_LAYER_PATHS)})."
        " Pass a causal language model such as LlamaForCausalLM."
    )


class HFBackend(BackendBase):
    """Emotion-vector work on a plain `transformers` causal LM."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any = None, *, model_id: str | None = None):
        self.layers = decoder_layers(model)
        config = model.config
        source = getattr(model, "emovec_source", {}) or {}
        super().__init__(
            model,
            tokenizer,
            d_model=int(config.hidden_size),
            n_layers=len(self.layers),
            model_id=model_id
            or source.get("model_id")
            or getattr(config, "_name_or_path", "")
            or "unknown",
        )
        self.source = source

    def _forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        *,
        edits: Sequence[BoundEdit] = (),
        sites: Sequence[Site] = (),
        reducer: Reducer = keep,
        position_ids: Tensor | None = None,
        past: Any = None,
        use_cache: bool = False,
        last_logits_only: bool = False,
    ) -> ForwardOutput:
        store: dict[Site, Tensor] = {}
        with hooked(self.layers, edits, sites, attention_mask.bool(), reducer, store):
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=past,
                use_cache=use_cache,
                **({"logits_to_keep": 1} if last_logits_only else {}),
            )
        return ForwardOutput(out.logits, store, out.past_key_values if use_cache else None)

    def _forward_from(
        self,
        layer: int,
        hidden: Tensor,
        input_ids: Tensor,
        attention_mask: Tensor,
        *,
        edits: Sequence[BoundEdit] = (),
        sites: Sequence[Site] = (),
        reducer: Reducer = keep,
        position_ids: Tensor | None = None,
    ) -> dict[Site, Tensor]:
        store: dict[Site, Tensor] = {}
        with (
            started_at(self.layers, layer, hidden),
            hooked(self.layers, edits, sites, attention_mask.bool(), reducer, store),
        ):
            self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                logits_to_keep=1,
            )
        return store

    def _unembed(self, x: Tensor) -> Tensor:
        norm, head = final_norm_and_head(self.model)
        return head(norm(x))

    @contextmanager
    def _installed(self, edits: Sequence[Edit]) -> Iterator[None]:
        with hooked(self.layers, edits):
            yield
