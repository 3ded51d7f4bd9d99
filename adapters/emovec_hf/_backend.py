"""The plain Hugging Face adapter: torch forward hooks on the decoder layers."""

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from emovec._backend import BackendBase, BoundEdit, ForwardOutput
from emovec._batch import Reducer, keep
from emovec._edit import Edit
from emovec._site import Site
from emovec._torchhooks import final_norm_and_head, hooked

from ._resume import started_at

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
        self._resumable: bool | None = None

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

    @property
    def resumable(self) -> bool:
        """Checked once per backend: starting half-way reproduces a full forward's last residual.

        The stand-in layers rely on the model's loop handing each layer's output to the next;
        a model whose loop does more between layers fails this check and keeps full forwards.
        """
        if self._resumable is None:
            self._resumable = self._resume_matches()
            if not self._resumable:
                warnings.warn(
                    f"emovec: starting a forward part-way does not reproduce {self.model_id}'s full"
                    " forward; sweeps over many edits will run full forwards (slower, same results).",
                    stacklevel=2,
                )
        return self._resumable

    @torch.no_grad()
    def _resume_matches(self) -> bool:
        vocab = int(getattr(self.model.config, "vocab_size", 2) or 2)
        ids = (torch.arange(1, 7) % vocab).reshape(1, 6).to(self.device)
        mask = torch.ones_like(ids)
        middle, last = Site(self.n_layers // 2), Site(self.n_layers - 1)
        full = self._forward(ids, mask, sites=[middle, last], last_logits_only=True).captured
        try:
            resumed = self._forward_from(middle.layer, full[middle], ids, mask, sites=[last])
        except Exception:  # an architecture the stand-ins cannot serve
            return False
        if last not in resumed:
            return False
        scale = float(full[last].abs().max()) or 1.0
        return bool((resumed[last] - full[last]).abs().max() <= 1e-4 * scale)

    def _unembed(self, x: Tensor) -> Tensor:
        norm, head = final_norm_and_head(self.model)
        return head(norm(x))

    @contextmanager
    def _installed(self, edits: Sequence[Edit]) -> Iterator[None]:
        with hooked(self.layers, edits):
            yield
