"""`BackendBase`: the whole `Backend` contract on top of one adapter method, `_forward`.

An adapter implements `_forward` (a forward pass of token ids, optionally with a KV cache, that
applies edits at sites, reduces activations at sites and returns logits), `_unembed` and
`_installed`. Capture, run, generation (with its KV-cache-aware position logic and observers),
checks, tokenisation and provenance are written once here, so every adapter behaves identically.
"""

import dataclasses
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from emovec._backend import Generation, Observer
from emovec._batch import Reducer, TokenBatch, keep
from emovec._edit import Edit
from emovec._provenance import Origin, Provenance
from emovec._site import Site

from ._forward import (
    BoundEdit,
    ForwardOutput,
    bind_prompt,
    check_edits,
    positions_if_left_padded,
)
from ._generation import generate_loop
from ._hookplan import SitePlan, visit


class BackendBase(ABC):
    """Shared implementation of the protocol on top of an adapter's `_forward`."""

    name: str = "base"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        d_model: int,
        n_layers: int,
        model_id: str,
        origin: Origin | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.d_model = d_model
        self.n_layers = n_layers
        self.model_id = model_id
        # Where the weights came from (a loader's record); `model_id` may rename them.
        self._origin = dataclasses.replace(origin or Origin(model_id), model_id=model_id)

    @property
    def provenance(self) -> Provenance:
        """Model, weights, adapter, dtype and framework mode, as bundles record them."""
        dtype = str(self.dtype).removeprefix("torch.")
        return Provenance(self._origin, self.name, dtype, self._compatibility_mode())

    def _compatibility_mode(self) -> bool | None:
        """The framework's mode that moves activations to another basis (None: no such mode)."""
        return None

    # -- what an adapter implements -----------------------------------------------------------
    @abstractmethod
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
    ) -> ForwardOutput:
        """One forward pass; every hook it installs is removed before it returns or raises.

        `last_logits_only` asks the model for the last position's logits alone (HF's
        `logits_to_keep=1`): capture needs none, and the head is a fifth of a small model.
        """

    def _forward_from(
        self,
        layer: int,
        hidden: Float[Tensor, "batch pos d_model"],
        input_ids: Int[Tensor, "batch pos"],
        attention_mask: Int[Tensor, "batch pos"],
        *,
        edits: Sequence[BoundEdit] = (),
        sites: Sequence[Site] = (),
        reducer: Reducer = keep,
        position_ids: Int[Tensor, "batch pos"] | None = None,
    ) -> dict[Site, Tensor]:
        """Captures of a forward whose residual after block `layer` is `hidden`; the blocks up
        to `layer` are not computed, and every site and edit lies after it. Adapters that can
        start part-way override this (see `emovec.adapterkit.started_at`)."""
        raise NotImplementedError

    def _may_resume(self) -> bool:
        """False while the adapter's current state rules out `_forward_from`."""
        return True

    @property
    def resumable(self) -> bool:
        """Whether `capture_from` starts part-way on this backend.

        Checked once per backend, the first time it is asked: starting half-way must reproduce
        a full forward's last residual. A model whose loop does more between its layers than
        hand each one's output to the next fails the check, with a warning, and keeps full
        forwards.
        """
        if type(self)._forward_from is BackendBase._forward_from or not self._may_resume():
            return False
        verdict = getattr(self, "_resume_verdict", None)
        if verdict is None:
            verdict = self._resume_verdict = self._resume_matches()
            if not verdict:
                warnings.warn(
                    f"emovec: starting a forward part-way does not reproduce {self.model_id}'s full"
                    f" forward on the {self.name} adapter; sweeps over many edits will run full"
                    " forwards (slower, same results).",
                    stacklevel=2,
                )
        return verdict

    @torch.no_grad()
    def _resume_matches(self) -> bool:
        ids = torch.arange(1, 7).reshape(1, 6).to(self.device)
        mask = torch.ones_like(ids)
        middle, last = Site(self.n_layers // 2), Site(self.n_layers - 1)
        full = self._forward(ids, mask, sites=[middle, last], last_logits_only=True).captured
        try:
            resumed = self._forward_from(middle.layer, full[middle], ids, mask, sites=[last])
        except Exception:  # an architecture the stand-ins cannot serve
            return False
        if last not in resumed or resumed[last].shape != full[last].shape:
            return False
        scale = float(full[last].abs().max()) or 1.0
        return bool((resumed[last] - full[last]).abs().max() <= 1e-4 * scale)

    @abstractmethod
    @contextmanager
    def _installed(self, edits: Sequence[Edit]) -> Iterator[None]:
        """Keep `edits` (positions "all" only) applied to every forward of the user's model."""

    @abstractmethod
    def _unembed(self, x: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch d_vocab"]:
        """Final norm then unembedding, as the model applies them to its last residual."""

    @torch.no_grad()
    def unembed(self, x: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch d_vocab"]:
        """Logits a residual-stream vector would produce at the end of the model (logit lens).

        Raises:
            ValueError: `x` is not `d_model` wide.
        """
        if x.shape[-1] != self.d_model:
            raise ValueError(
                f"unembed needs vectors of width d_model={self.d_model}, got {x.shape[-1]}."
            )
        return self._unembed(x.to(device=self.device, dtype=self.dtype))

    @property
    def device(self) -> torch.device:
        """Where inputs go (an adapter whose `model` holds no parameters overrides this)."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type the forward runs in (recorded in every bundle)."""
        return next(self.model.parameters()).dtype

    @property
    def eos_token_id(self) -> int | None:
        return getattr(self.tokenizer, "eos_token_id", None)

    @property
    def pad_token_id(self) -> int:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return pad if pad is not None else (self.eos_token_id or 0)

    # -- checks shared by every entry point ---------------------------------------------------
    def check_sites(self, sites: Sequence[Site]) -> list[Site]:
        return [Site.parse(s).check(self.n_layers) for s in sites]

    def check_edits(self, edits: Sequence[Edit], batch: TokenBatch | None = None) -> None:
        check_edits(edits, batch, d_model=self.d_model, n_layers=self.n_layers, model=self.model_id)

    # -- tokenisation -------------------------------------------------------------------------
    def tokenize(
        self,
        texts: Sequence[str],
        *,
        side: str = "right",
        chat: bool = False,
        max_length: int | None = None,
    ) -> TokenBatch:
        """Token ids for `texts` (no special tokens added unless `chat` applies the template)."""
        if isinstance(texts, str):
            texts = [texts]
        rows = [self.encode(t, chat=chat) for t in texts]
        if max_length is not None:
            rows = [r[:max_length] for r in rows]
        return TokenBatch.from_ids(rows, pad_id=self.pad_token_id, side=side)

    def encode(self, text: str, *, chat: bool = False) -> list[int]:
        if chat:
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return list(ids)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _as_batch(self, prompts: "Sequence[str] | TokenBatch", side: str) -> TokenBatch:
        if isinstance(prompts, TokenBatch):
            return prompts
        return self.tokenize(list(prompts), side=side)

    # -- the shared entry points --------------------------------------------------------------
    @torch.no_grad()
    def capture(
        self,
        batch: "TokenBatch | Sequence[str]",
        sites: Sequence[Site],
        reducer: Reducer = keep,
        *,
        edits: Sequence[Edit] = (),
    ) -> dict[Site, Tensor]:
        """Reduced activations at `sites` for one forward pass over `batch`."""
        batch = self._as_batch(batch, "right")
        sites = self.check_sites(sites)
        self.check_edits(edits, batch)
        out = self._forward(
            batch.input_ids.to(self.device),
            batch.attention_mask.to(self.device),
            edits=bind_prompt(edits, batch),
            sites=sites,
            reducer=reducer,
            position_ids=positions_if_left_padded(batch),
            last_logits_only=True,
        )
        return out.captured

    @torch.no_grad()
    def capture_from(
        self,
        batch: "TokenBatch | Sequence[str]",
        start: Site,
        hidden: Float[Tensor, "batch pos d_model"],
        sites: Sequence[Site],
        reducer: Reducer = keep,
        *,
        edits: Sequence[Edit] = (),
    ) -> dict[Site, Tensor]:
        """`capture`, for a forward that starts from `hidden`, the residual at `start`.

        `hidden` is what `capture(batch, [start])` returned for this very batch (`keep`
        reducer). Only the blocks after `start` run, so many conditions that differ from
        `start` on share the cost of the blocks before it (a steering sweep at one site).
        Edits at `start` itself apply to `hidden`.

        Raises:
            NotImplementedError: the adapter cannot start part-way (`resumable` is False).
            ValueError: `start` is not a `resid_post` site, `hidden` does not match the batch,
                or a site or edit lies before `start`.
        """
        if not self.resumable:
            raise NotImplementedError(
                f"The {self.name} adapter cannot start a forward part-way; use capture()."
            )
        batch = self._as_batch(batch, "right")
        (start,) = self.check_sites([start])
        if start.stream != "resid_post":
            raise ValueError(f"A forward can start only after a block (resid_post), not {start}.")
        expected = (*batch.input_ids.shape, self.d_model)
        if tuple(hidden.shape) != expected:
            raise ValueError(
                f"hidden has shape {tuple(hidden.shape)} but the batch needs {expected}:"
                f" pass capture(batch, [{start}]) of the same batch."
            )
        sites = self.check_sites(sites)
        self.check_edits(edits, batch)
        for where in [*sites, *(e.site for e in edits)]:
            if where.layer < start.layer or (
                where.layer == start.layer and where.stream != "resid_post"
            ):
                raise ValueError(
                    f"{where} lies before the start {start}: sites and edits must come at or after it."
                )
        hidden = hidden.to(device=self.device, dtype=self.dtype)
        bound = bind_prompt(edits, batch)
        store: dict[Site, Tensor] = {}
        here = SitePlan(start, [b for b in bound if b[0].site == start], capture=start in sites)
        hidden = visit(here, hidden, batch.attention_mask.bool().to(hidden.device), reducer, store)
        store.update(
            self._forward_from(
                start.layer,
                hidden,
                batch.input_ids.to(self.device),
                batch.attention_mask.to(self.device),
                edits=[b for b in bound if b[0].site != start],
                sites=[s for s in sites if s != start],
                reducer=reducer,
                position_ids=positions_if_left_padded(batch),
            )
        )
        return store

    @torch.no_grad()
    def run(
        self, batch: "TokenBatch | Sequence[str]", edits: Sequence[Edit] = ()
    ) -> Float[Tensor, "batch pos d_vocab"]:
        """Logits of one forward pass with `edits` applied."""
        batch = self._as_batch(batch, "right")
        self.check_edits(edits, batch)
        return self._forward(
            batch.input_ids.to(self.device),
            batch.attention_mask.to(self.device),
            edits=bind_prompt(edits, batch),
            position_ids=positions_if_left_padded(batch),
        ).logits

    @contextmanager
    def intervene(self, edits: Sequence[Edit]) -> Iterator["BackendBase"]:
        """Apply `edits` to every forward of the wrapped model inside the block (user's own calls).

        Only position-free edits (positions="all", [k] offsets) make sense here, because the
        backend does not see the user's batches.
        """
        for edit in edits:
            if (
                not (isinstance(edit.positions, str) and edit.positions == "all")
                or edit.offset.ndim != 1
            ):
                raise ValueError(
                    "intervene() applies edits to every position of every call; use positions='all'"
                    " and a [k] offset, or pass the edit to run()/generate() instead."
                )
        self.check_edits(edits)
        with self._installed(edits):
            yield self

    @torch.no_grad()
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
    ) -> Generation:
        """Greedy (temperature 0) or sampled generation with a KV cache, edits and observers.

        `ban` gives, per prompt, token sequences the output must never contain: at each step the
        token that would complete one is removed before picking (a one-token sequence is never
        picked). The corpus pipeline bans the emotion word's spellings this way.
        """
        if isinstance(prompts, TokenBatch):
            batch = prompts
        else:
            prompts = [prompts] if isinstance(prompts, str) else list(prompts)
            batch = self.tokenize(prompts, side="left", chat=chat)
        self.check_edits(edits, batch)
        for edit in edits:
            if edit.offset.ndim == 3:
                raise ValueError("Patch edits carry per-position sources; use run() for patching.")
        return generate_loop(
            self,
            batch,
            max_new_tokens=max_new_tokens,
            edits=list(edits),
            observers=list(observers),
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop_at_eos=stop_at_eos,
            ban=ban,
        )
