"""The toy adapter's backend: the `Backend` contract from `BackendBase` and three methods."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor

from emovec import Edit, Site, origin_of
from emovec._batch import Reducer, keep
from emovec.adapterkit import (
    BackendBase,
    BoundEdit,
    ForwardOutput,
    decoder_layers,
    final_norm_and_head,
    hooked,
)

from ._framework import ToyWrapped


class ToyBackend(BackendBase):
    """Edits and captures through torch hooks on the wrapped network's decoder layers."""

    name = "toy"

    def __init__(self, wrapped: ToyWrapped, tokenizer: Any = None, *, model_id: str | None = None):
        net = wrapped.network
        self.layers = decoder_layers(net)
        origin = origin_of(net)
        super().__init__(
            wrapped,
            tokenizer if tokenizer is not None else wrapped.tokenizer,
            d_model=int(net.config.hidden_size),
            n_layers=len(self.layers),
            model_id=model_id or (origin and origin.model_id) or "toy-model",
            origin=origin,
        )
        self.net = net

    @property
    def device(self):  # type: ignore[override]
        return next(self.net.parameters()).device

    @property
    def dtype(self):  # type: ignore[override]
        return next(self.net.parameters()).dtype

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
            out = self.net(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=past,
                use_cache=use_cache,
                **({"logits_to_keep": 1} if last_logits_only else {}),
            )
        return ForwardOutput(out.logits, store, out.past_key_values if use_cache else None)

    def _unembed(self, x: Tensor) -> Tensor:
        norm, head = final_norm_and_head(self.net)
        return head(norm(x))

    @contextmanager
    def _installed(self, edits: Sequence[Edit]) -> Iterator[None]:
        with hooked(self.layers, edits):
            yield
