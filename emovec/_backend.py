"""The backend contract: every member the core calls on an adapter, typed.

`Backend` is the whole seam between the framework-free core and an adapter. The core calls
nothing that is not listed here and probes no attribute; an adapter that meets this contract
works with every analysis, intervention and monitor. Most adapters get it by subclassing
`emovec.adapterkit.BackendBase`, which implements all of it on top of one `_forward` method.
The types an observer of a generation sees and answers with are here too: they are part of the
contract's `generate`.
"""

import inspect
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from ._batch import Reducer, TokenBatch, keep
from ._edit import Edit
from ._provenance import Provenance
from ._site import Site


@dataclass(frozen=True, eq=False)
class StepView:
    """What an observer sees after each forward of a generation.

    `step` 0 is the prompt (prefill); step t >= 1 processes the token generated at step t-1.
    `activations[site]` is `[batch, pos, d_model]` for exactly the tokens of this forward
    (`pos` = 1 on decode steps), `input_ids` those tokens, `mask` which of them are real (not
    padding, not a finished row's filler), `positions` their index in each row's own text.
    """

    step: int
    input_ids: Int[Tensor, "batch pos"]
    mask: Bool[Tensor, "batch pos"]
    positions: Int[Tensor, "batch pos"]
    activations: dict[Site, Float[Tensor, "batch pos d_model"]]


@dataclass
class Control:
    """An observer's answer: stop some rows (or all), or add edits for the rest of generation."""

    stop: bool | Sequence[int] = False
    add_edits: Sequence[Edit] = ()


@runtime_checkable
class Observer(Protocol):
    """Called after each forward of a generation with a `StepView` of its `sites`."""

    @property
    def sites(self) -> Sequence[Site]: ...

    def observe(self, view: StepView) -> Control | None: ...


@dataclass
class Generation:
    """Generated ids per row (prompt excluded, stopped at EOS), their text, and why each stopped."""

    prompt_ids: list[list[int]]
    token_ids: list[list[int]]
    texts: list[str]
    stopped: list[str] = field(default_factory=list)
    edits_added: list[tuple[int, Edit]] = field(default_factory=list)


class ContractMeta(type(Protocol)):
    """Protocol metaclass whose `isinstance` looks members up without evaluating them.

    Python 3.11's protocol check calls `hasattr`, which runs properties (`resumable` runs two
    forwards the first time); this one finds each member statically, as Python 3.12 does, so
    runtime type checks of `backend: Backend` arguments cost microseconds and run nothing.
    """

    def __instancecheck__(cls, obj: Any) -> bool:
        missing = object()
        members = getattr(cls, "__contract__", ())
        return all(inspect.getattr_static(obj, name, missing) is not missing for name in members)


@runtime_checkable
class Backend(Protocol, metaclass=ContractMeta):
    """What the core asks of a framework: the complete list, typed.

    Identity and shape:
        `name` (the adapter, e.g. "hf"), `model_id`, `d_model`, `n_layers`, `tokenizer` (a
        Hugging Face tokenizer: `decode`, `chat_template`, `eos_token_id`), `provenance` (the
        typed record bundles store), `dtype` and `device` of the forward.
    Tokens:
        `tokenize`, `encode`, `pad_token_id`, `eos_token_id`.
    Checks:
        `check_sites`, `check_edits` (clear errors before any forward runs).
    Forwards:
        `capture`, `capture_from` (when `resumable`), `run`, `generate`, `unembed`,
        `intervene`.

    See `emovec.adapterkit.BackendBase` for the shared implementation and
    `docs/contributing-adapters.md` for what a new adapter must do.
    """

    name: str
    model_id: str
    d_model: int
    n_layers: int
    tokenizer: Any

    @property
    def provenance(self) -> Provenance: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def pad_token_id(self) -> int: ...

    @property
    def eos_token_id(self) -> int | None: ...

    @property
    def resumable(self) -> bool: ...

    def tokenize(
        self,
        texts: Sequence[str],
        *,
        side: str = "right",
        chat: bool = False,
        max_length: int | None = None,
    ) -> TokenBatch: ...

    def encode(self, text: str, *, chat: bool = False) -> list[int]: ...

    def check_sites(self, sites: Sequence[Site]) -> list[Site]: ...

    def check_edits(self, edits: Sequence[Edit], batch: TokenBatch | None = None) -> None: ...

    def capture(
        self,
        batch: "TokenBatch | Sequence[str]",
        sites: Sequence[Site],
        reducer: Reducer = keep,
        *,
        edits: Sequence[Edit] = (),
    ) -> dict[Site, Tensor]: ...

    def capture_from(
        self,
        batch: "TokenBatch | Sequence[str]",
        start: Site,
        hidden: Float[Tensor, "batch pos d_model"],
        sites: Sequence[Site],
        reducer: Reducer = keep,
        *,
        edits: Sequence[Edit] = (),
    ) -> dict[Site, Tensor]: ...

    def run(
        self, batch: "TokenBatch | Sequence[str]", edits: Sequence[Edit] = ()
    ) -> Float[Tensor, "batch pos d_vocab"]: ...

    def generate(
        self,
        prompts: "Sequence[str] | TokenBatch",
        *,
        max_new_tokens: int = 32,
        edits: Sequence[Edit] = (),
        observers: Sequence[Observer] = (),
        chat: bool = False,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop_at_eos: bool = True,
        ban: "Sequence[Sequence[Sequence[int]]] | None" = None,
    ) -> Generation: ...

    def unembed(self, x: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch d_vocab"]: ...

    def intervene(self, edits: Sequence[Edit]) -> AbstractContextManager[Any]: ...


def _contract_members(protocol: type) -> tuple[str, ...]:
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n in vars(protocol) if not n.startswith("_")}
    return tuple(sorted(names))


Backend.__contract__ = _contract_members(Backend)  # type: ignore[attr-defined]
CONTRACT: tuple[str, ...] = Backend.__contract__  # type: ignore[attr-defined]
"""Names of every member of `Backend` (the docs and the conformance tests list them)."""
