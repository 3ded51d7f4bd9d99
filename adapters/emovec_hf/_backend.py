"""The plain Hugging Face adapter: torch forward hooks on the decoder layers."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor

from emovec._batch import Reducer, keep
from emovec._edit import Edit
from emovec._provenance import origin_of
from emovec._site import Site
from emovec.adapterkit import (
    BackendBase,
    BoundEdit,
    ForwardOutput,
    decoder_layers,
    final_norm_and_head,
    hooked,
    started_at,
)


class HFBackend(BackendBase):
    """Emotion-vector work on a plain `transformers` causal LM."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any = None, *, model_id: str | None = None):
        self.layers = decoder_layers(model)
        config = model.config
        origin = origin_of(model)
        super().__init__(
            model,
            tokenizer,
            d_model=int(config.hidden_size),
            n_layers=len(self.layers),
            model_id=model_id
            or (origin and origin.model_id)
            or getattr(config, "_name_or_path", "")
            or "unknown",
            origin=origin,
        )

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
