"""One forward pass as adapters see it: edits bound to positions, and what comes back.

`BackendBase` and the decode loop speak to an adapter through `Forwarder._forward`; these
records and the binding rules are shared by both, and by the hook plans.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from emovec._backend import ContractMeta
from emovec._batch import Reducer, TokenBatch, keep
from emovec._edit import Edit
from emovec._site import Site

# An edit bound to one forward pass: the edit and the positions it touches there (None = all).
BoundEdit = tuple[Edit, Bool[Tensor, "batch pos"] | None]


@dataclass
class ForwardOutput:
    logits: Float[Tensor, "batch pos d_vocab"]
    captured: dict[Site, Tensor]
    past: Any = None


@runtime_checkable
class Forwarder(Protocol, metaclass=ContractMeta):
    """What the decode loop needs of a backend: its checks, its tokens and one forward."""

    tokenizer: Any

    @property
    def device(self) -> torch.device: ...

    @property
    def pad_token_id(self) -> int: ...

    @property
    def eos_token_id(self) -> int | None: ...

    def check_sites(self, sites: Sequence[Site]) -> list[Site]: ...

    def check_edits(self, edits: Sequence[Edit], batch: TokenBatch | None = None) -> None: ...

    def _forward(
        self,
        input_ids: Int[Tensor, "batch pos"],
        attention_mask: Int[Tensor, "batch pos"],
        *,
        edits: Sequence[BoundEdit] = (),
        sites: Sequence[Site] = (),
        reducer: Reducer = keep,
        position_ids: Int[Tensor, "batch pos"] | None = None,
        past: Any = None,
        use_cache: bool = False,
        last_logits_only: bool = False,
    ) -> ForwardOutput: ...


Forwarder.__contract__ = (  # type: ignore[attr-defined]
    "tokenizer",
    "device",
    "pad_token_id",
    "eos_token_id",
    "check_sites",
    "check_edits",
    "_forward",
)


def bind_prompt(edits: Sequence[Edit], batch: TokenBatch) -> list[BoundEdit]:
    """Edits for a forward over prompt tokens: 'generated' ones drop out."""
    bound: list[BoundEdit] = []
    for edit in edits:
        if isinstance(edit.positions, Tensor):
            bound.append((edit, edit.positions))
        elif edit.positions in ("all", "prompt"):
            bound.append((edit, None))
    return bound


def bind_decode(edits: Sequence[Edit]) -> list[BoundEdit]:
    """Edits for a decode step (one new token per row): only 'all'/'generated' apply."""
    return [
        (edit, None)
        for edit in edits
        if isinstance(edit.positions, str) and edit.positions in ("all", "generated")
    ]


def positions_if_left_padded(batch: TokenBatch) -> Int[Tensor, "batch pos"] | None:
    """Explicit position ids when some row is left-padded (None: the model's default is right)."""
    if bool((batch.attention_mask[:, 0] == 0).any()):
        return batch.position_ids()
    return None


def check_edits(
    edits: Sequence[Edit], batch: TokenBatch | None, *, d_model: int, n_layers: int, model: str
) -> None:
    """Raise a clear error for an edit that does not fit the model (or `batch`, if given)."""
    for edit in edits:
        if not isinstance(edit, Edit):
            raise TypeError(f"Expected an emovec Edit, got {type(edit).__name__}.")
        edit.site.check(n_layers)
        if edit.d_model != d_model:
            raise ValueError(
                f"Edit at {edit.site} has width {edit.d_model}, but {model} has"
                f" d_model={d_model}: the vector was made for another model."
            )
        if batch is not None and isinstance(edit.positions, Tensor):
            if tuple(edit.positions.shape) != tuple(batch.input_ids.shape):
                raise ValueError(
                    f"Edit position mask has shape {tuple(edit.positions.shape)} but the batch is"
                    f" {tuple(batch.input_ids.shape)}: build the mask over the padded batch."
                )
        if batch is not None and edit.offset.ndim == 3:
            if edit.offset.shape[:2] != batch.input_ids.shape:
                raise ValueError(
                    f"Patch source covers {tuple(edit.offset.shape[:2])} [batch, pos] but the"
                    f" target batch is {tuple(batch.input_ids.shape)}: patch equal-length prompts"
                    " or select positions first."
                )
