"""The TransformerLens 4.x adapter: hooks on a TransformerBridge's residual-stream hook points."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn
from transformer_lens.model_bridge import TransformerBridge

from emovec._batch import Reducer, keep
from emovec._edit import Edit
from emovec._provenance import origin_of
from emovec._site import Site
from emovec.adapterkit import (
    BackendBase,
    BoundEdit,
    ForwardOutput,
    SitePlan,
    list_holding,
    plan_sites,
    started_at,
    visit,
)


def hook_name(site: Site) -> str:
    """The bridge's hook point for a site (`blocks.{l}.hook_resid_post`)."""
    return f"blocks.{site.layer}.hook_{site.stream}"


class TransformerLensBackend(BackendBase):
    """Emotion-vector work on a TransformerLens `TransformerBridge`.

    Compatibility mode (folded, centred weights) moves activations to another basis: emovec
    never turns it on, and records it in `provenance.compatibility_mode` when the user did, so
    vector files say which basis they live in.
    """

    name = "transformer_lens"

    def __init__(
        self, bridge: TransformerBridge, tokenizer: Any = None, *, model_id: str | None = None
    ):
        if not isinstance(bridge, TransformerBridge):
            raise TypeError(f"Expected a TransformerBridge, got {type(bridge).__name__}.")
        cfg = bridge.cfg
        hf = getattr(getattr(bridge, "_driver", None), "underlying_model", None)
        origin = origin_of(hf)
        super().__init__(
            bridge,
            tokenizer if tokenizer is not None else bridge.tokenizer,
            d_model=int(cfg.d_model),
            n_layers=int(cfg.n_layers),
            model_id=model_id
            or (origin and origin.model_id)
            or getattr(cfg, "model_name", "unknown"),
            origin=origin,
        )

    @property
    def compatibility_mode(self) -> bool:
        """Whether the bridge is in TransformerLens compatibility mode (read from the bridge
        each time: the user may enable it after attaching)."""
        return bool(getattr(self.model, "compatibility_mode", False))

    def _compatibility_mode(self) -> bool | None:
        return self.compatibility_mode

    def _hooks(
        self, plans: dict[Site, SitePlan], mask: Tensor | None, reducer: Reducer, store: dict
    ):
        def make(plan: SitePlan):
            def hook(x: Tensor, hook: Any) -> Tensor:
                return visit(plan, x, mask, reducer, store)

            return hook

        return [(hook_name(site), make(plan)) for site, plan in plans.items()]

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
        hooks = self._hooks(plan_sites(edits, sites), attention_mask.bool(), reducer, store)
        extra: dict[str, Any] = {}
        if position_ids is not None:
            extra["position_ids"] = position_ids
        if last_logits_only:
            extra["logits_to_keep"] = 1
        with self._attached(hooks):
            if use_cache:
                logits, past = self.model(
                    input_ids,
                    return_type="logits_and_cache",
                    attention_mask=attention_mask,
                    past_key_values=past,
                    use_cache=True,
                    **extra,
                )
            else:
                logits = self.model(
                    input_ids, return_type="logits", attention_mask=attention_mask, **extra
                )
                past = None
        return ForwardOutput(logits, store, past)

    def _layer_list(self) -> nn.ModuleList | None:
        """The Hugging Face model's layer list, where the bridge put its block bridges."""
        hf = getattr(getattr(self.model, "_driver", None), "underlying_model", None)
        blocks = getattr(self.model, "blocks", None)
        if not isinstance(hf, nn.Module) or not blocks:
            return None
        return list_holding(hf, blocks[0])

    def _may_resume(self) -> bool:
        # Compatibility mode runs the bridge's own processed path; start part-way only without it.
        return not self.compatibility_mode and self._layer_list() is not None

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
        layers = self._layer_list()
        if layers is None:
            raise NotImplementedError("This bridge keeps no Hugging Face layer list to start in.")
        store: dict[Site, Tensor] = {}
        hooks = self._hooks(plan_sites(edits, sites), attention_mask.bool(), reducer, store)
        extra: dict[str, Any] = {"logits_to_keep": 1}
        if position_ids is not None:
            extra["position_ids"] = position_ids
        with started_at(layers, layer, hidden), self._attached(hooks):
            self.model(input_ids, return_type="logits", attention_mask=attention_mask, **extra)
        return store

    def _unembed(self, x: Tensor) -> Tensor:
        return self.model.unembed(self.model.ln_final(x))

    @contextmanager
    def _installed(self, edits: Sequence[Edit]) -> Iterator[None]:
        hooks = self._hooks(plan_sites([(e, None) for e in edits], ()), None, keep, {})
        with self._attached(hooks):
            yield

    @contextmanager
    def _attached(self, hooks: list[tuple[str, Any]]) -> Iterator[None]:
        """Forward hooks on the bridge's hook points for the duration of the block.

        The bridge's own `hooks()` context rebuilds its alias table on every entry, even with
        no hooks (about 6 ms on the default model, more than a decode step takes): this adds
        the same HookPoint hooks directly, through hook points resolved once, and removes
        exactly those it added. In compatibility mode the bridge's context is used as is.
        """
        if not hooks:
            yield
            return
        if self.compatibility_mode:
            with self.model.hooks(fwd_hooks=hooks):
                yield
            return
        points = getattr(self, "_points", None)
        if points is None or any(name not in points for name, _ in hooks):
            points = self._points = dict(self.model.hook_dict)
        added = []
        try:
            for name, fn in hooks:
                point = points[name]
                added.append((point, point.add_hook(fn, dir="fwd")))
            yield
        finally:
            for point, handle in added:
                handle.hook.remove()
                point.fwd_hooks[:] = [h for h in point.fwd_hooks if h is not handle]
