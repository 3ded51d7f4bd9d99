"""The nnsight 0.8 adapter: local traces over a TransformersModel or an NNsight-wrapped module."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor

from emovec._batch import Reducer, keep
from emovec._edit import Edit
from emovec._provenance import origin_of
from emovec._site import Site
from emovec.adapterkit import (
    LAYER_PATHS,
    BackendBase,
    BoundEdit,
    ForwardOutput,
    final_norm_and_head,
    find_path,
    hooked,
    layer_path,
    plan_sites,
    visit,
)

# The bare "layers" of `LAYER_PATHS` is left out: a wrapped module must be a full causal LM.
_LAYER_PATHS = LAYER_PATHS[:-1]


class NNsightBackend(BackendBase):
    """Emotion-vector work on an nnsight model, traced locally.

    Each forward is one `model.trace(...)`: edits replace a layer's input or output inside the
    trace, and reductions are `.save()`d. (Remote execution on NDIF needs trace bodies free of
    emovec code; see the remote module.)
    """

    name = "nnsight"

    def __init__(self, model: Any, tokenizer: Any = None, *, model_id: str | None = None):
        inner = getattr(model, "_module", None)
        if inner is None:
            raise TypeError(
                f"Expected an nnsight model (TransformersModel/NNsight), got {type(model).__name__}."
            )
        path = layer_path(inner, _LAYER_PATHS)
        if path is None:
            raise ValueError(
                f"Cannot find the decoder layers of {type(inner).__name__} inside the nnsight model."
            )
        self._layer_path = path
        self.layers = find_path(model, path)  # Envoys, one per decoder layer
        origin = origin_of(inner)
        super().__init__(
            model,
            tokenizer if tokenizer is not None else getattr(model, "tokenizer", None),
            d_model=int(inner.config.hidden_size),
            n_layers=len(find_path(inner, path)),
            model_id=model_id
            or (origin and origin.model_id)
            or getattr(inner.config, "_name_or_path", "unknown"),
            origin=origin,
        )
        self._wrapper = any(
            cls.__name__ == "HuggingFaceModel" and cls.__module__.startswith("nnsight.")
            for cls in type(model).__mro__
        )

    @property
    def device(self):  # type: ignore[override]
        return next(self.model._module.parameters()).device

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
        args, kwargs = self._trace_inputs(
            input_ids, attention_mask, position_ids, past, use_cache, last_logits_only
        )
        if edits and not sites:
            return self._steered(args, kwargs, edits, use_cache)
        mask = attention_mask.bool()
        plans = plan_sites(edits, sites)
        saved: dict[Site, Any] = {}  # nnsight proxies until the trace exits
        with self.model.trace(*args, **kwargs):
            for site, plan in plans.items():
                layer = self.layers[site.layer]
                store: dict[Site, Tensor] = {}
                if site.stream == "resid_pre":
                    layer.input = visit(plan, layer.input, mask, reducer, store)
                else:
                    layer.output = visit(plan, layer.output, mask, reducer, store)
                if site in store:
                    proxy: Any = store[site]
                    saved[site] = proxy.save()
            output = self.model.output.save()
        return ForwardOutput(
            output.logits, dict(saved), output.past_key_values if use_cache else None
        )

    def _trace_inputs(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        position_ids: Tensor | None,
        past: Any,
        use_cache: bool,
        last_logits_only: bool,
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments of `model.trace` for one forward."""
        inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if position_ids is not None:
            inputs["position_ids"] = position_ids
        if past is not None:
            inputs["past_key_values"] = past
        extra = {"use_cache": use_cache, **({"logits_to_keep": 1} if last_logits_only else {})}
        # Hugging Face wrappers take the tokenised batch as one argument; a bare `NNsight`
        # calls the module itself, which wants keyword arguments.
        return ((inputs,), extra) if self._wrapper else ((), {**inputs, **extra})

    def _steered(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        edits: Sequence[BoundEdit],
        use_cache: bool,
    ) -> ForwardOutput:
        """Edits with nothing to capture: torch hooks on the wrapped model's layers around a
        trace with an empty body. nnsight's interleaver costs several milliseconds for each
        module a trace body touches, most of a decode step on a small model, and an edit needs
        nothing from it; the numbers are the trace's own (the conformance tests compare them)."""
        with hooked(find_path(self.model._module, self._layer_path), edits):
            with self.model.trace(*args, **kwargs):
                output = self.model.output.save()
        return ForwardOutput(output.logits, {}, output.past_key_values if use_cache else None)

    def _unembed(self, x: Tensor) -> Tensor:
        norm, head = final_norm_and_head(self.model._module)
        return head(norm(x))

    @contextmanager
    def _installed(self, edits: Sequence[Edit]) -> Iterator[None]:
        # nnsight edits live inside a trace; for the user's own calls, hook the wrapped module.
        with hooked(find_path(self.model._module, self._layer_path), edits):
            yield
