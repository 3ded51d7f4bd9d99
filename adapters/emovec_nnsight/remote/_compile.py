"""Compile edits and reducers, client-side, into the plain tensors a remote block may carry.

A remote block may hold only torch operations on tensors and numbers captured as values, so
nothing of emovec travels: an `Edit` becomes `(basis, scale, offset, mask, when)` and the
block applies `x + ((x @ basis.T) * scale + offset) @ basis` (times the mask) itself; a reducer
becomes a kind number and the tensors it needs (for `MeanFrom`, the `[batch, pos]` selection of
tokens, computed here from the attention mask, and an `einsum` there). Each site of a forward
is one tuple `(layer, is_resid_post, edits, reduce)`, in forward order.
"""

from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Bool
from torch import Tensor

from emovec._batch import MeanFrom, keep, last_token
from emovec._edit import Edit
from emovec._site import Site
from emovec.adapterkit import BoundEdit, plan_sites

# When an edit applies during generation (in a single forward it always applies).
EVERY_STEP, PROMPT_STEP, DECODE_STEPS = 0, 1, 2
# What a captured site sends back; the numbers are what the remote block switches on.
KEEP, GATHER, MEAN, ROW_MOMENTS, TOKEN_MOMENTS, WEIGHTS = 1, 2, 3, 4, 5, 6

EditSpec = tuple[Tensor, Tensor | None, Tensor, Tensor | None, int]
ReduceSpec = tuple[int, Tensor | None, Tensor | None]
SiteSpec = tuple[int, bool, list[EditSpec], Any]

SUPPORTED_REDUCERS = (
    "keep, last_token, MeanFrom, RowMoments, TokenMoments, and any reducer with a"
    " `token_weights(mask)` method"
)


def compile_edit(edit: Edit, mask: Tensor | None = None, when: int = EVERY_STEP) -> EditSpec:
    """The tensors of one edit, as the remote block applies them.

    Example:
        >>> spec = compile_edit(Edit.steer(Site(0), torch.ones(4), 2.0))
        >>> [None if t is None else tuple(t.shape) for t in spec[:4]], spec[4]
        ([(1, 4), None, (1,), None], 0)
    """
    scale = None if edit.scale is None else edit.scale.detach().cpu()
    return (
        edit.basis.detach().cpu(),
        scale,
        edit.offset.detach().cpu(),
        None if mask is None else mask.detach().bool().cpu(),
        when,
    )


def _selection(mask: Bool[Tensor, "batch pos"], start: int, min_tokens: int = 8) -> Tensor:
    # MeanFrom's own rule (public `first`), so the remote selection cannot drift from it.
    lengths = mask.long().sum(-1)
    pos = torch.arange(mask.shape[1], device=mask.device)
    return mask & (pos[None, :] >= MeanFrom(start, min_tokens).first(lengths)[:, None])


def compile_reducer(reducer: Any, mask: Bool[Tensor, "batch pos"]) -> ReduceSpec:
    """A reducer as `(kind, tensor, tensor)`, its token selection computed here.

    Raises:
        ValueError: a reducer the remote block cannot run (named, with the supported ones).

    Example:
        >>> m = torch.tensor([[True, True, True, False]])
        >>> kind, use, _ = compile_reducer(MeanFrom(1, min_tokens=1), m)
        >>> kind == MEAN, use.tolist()
        (True, [[False, True, True, False]])
    """
    mask = mask.bool().cpu()
    if reducer is keep:
        return (KEEP, None, None)
    if reducer is last_token:
        rows = torch.arange(mask.shape[0])
        return (GATHER, rows, mask.long().sum(-1) - 1)
    if type(reducer) is MeanFrom:
        return (MEAN, _selection(mask, reducer.start, reducer.min_tokens), None)
    from emovec.extract import RowMoments, TokenMoments

    if type(reducer) is RowMoments:
        return (ROW_MOMENTS, _selection(mask, reducer.start), None)
    if type(reducer) is TokenMoments:
        return (TOKEN_MOMENTS, _selection(mask, reducer.start), None)
    weights = getattr(reducer, "token_weights", None)
    if callable(weights):
        # The protocol for other reducers that are weighted means over tokens: `[batch, pos]`
        # or `[batch, slot, pos]` weights; the block returns einsum(x, w) / w.sum(-1).
        w = torch.as_tensor(weights(mask)).detach().cpu()
        if w.dim() not in (2, 3) or w.shape[0] != mask.shape[0] or w.shape[-1] != mask.shape[1]:
            raise ValueError(
                f"{reducer!r}.token_weights(mask) must be [batch, pos] or [batch, slot, pos] for a"
                f" {tuple(mask.shape)} mask, got {tuple(w.shape)}."
            )
        return (WEIGHTS, w, None)
    raise ValueError(
        f"Reducer {reducer!r} cannot run in a remote block: it is emovec code, and NDIF runs only"
        f" torch. Remote capture supports {SUPPORTED_REDUCERS}; use one of them, or capture"
        " with `keep` and reduce client-side (this ships every activation back)."
    )


def compile_forward(
    edits: Sequence[BoundEdit],
    sites: Sequence[Site],
    reducer: Any,
    attention_mask: Tensor,
) -> tuple[list[SiteSpec], list[Site]]:
    """The per-site work of one forward over prompt tokens, in forward order, and its sites."""
    mask = attention_mask.bool()
    reduce = compile_reducer(reducer, mask) if sites else None
    specs: list[SiteSpec] = []
    order = []
    for site, plan in plan_sites(edits, sites).items():
        compiled = [compile_edit(edit, positions) for edit, positions in plan.edits]
        post = site.stream == "resid_post"
        specs.append((site.layer, post, compiled, reduce if plan.capture else None))
        order.append(site)
    return specs, order


def compile_generation(
    edits: Sequence[Edit], sites: Sequence[Site]
) -> tuple[list[SiteSpec], list[Site]]:
    """Per-site work for every step of a generation, and the captured sites in step order.

    Edits are tagged by step; captured sites send their whole activation back.

    `positions` map to steps as in the local decode loop: a mask or "prompt" applies to the
    prompt forward only, "generated" to decode steps only, "all" to every forward.
    """
    bound: list[BoundEdit] = [(edit, None) for edit in edits]
    specs: list[SiteSpec] = []
    captured = []
    for site, plan in plan_sites(bound, sites).items():
        compiled = []
        for edit, _ in plan.edits:
            if isinstance(edit.positions, Tensor):
                compiled.append(compile_edit(edit, edit.positions, PROMPT_STEP))
            else:
                when = {"all": EVERY_STEP, "prompt": PROMPT_STEP, "generated": DECODE_STEPS}
                compiled.append(compile_edit(edit, None, when[edit.positions]))
        specs.append((site.layer, site.stream == "resid_post", compiled, plan.capture))
        if plan.capture:
            captured.append(site)
    return specs, captured
