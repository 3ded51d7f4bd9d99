"""Emotion-vector work on a model hosted by NDIF, through nnsight's remote execution.

`RemoteNNsightBackend` implements emovec's backend protocol (`capture`, `run`, `generate`)
with one request per call: edits and reducers are compiled client-side into tensors
(`_compile`), the trace bodies in `_trace` hold only torch, and `Submission` (an
nnsight backend) preflights each block (`_preflight`), sends it through a transport with
retries (`_transport`) and puts the saved values back into the caller's frame.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._backend import Generation, Observer
from emovec._batch import Reducer, TokenBatch, keep
from emovec._edit import Edit
from emovec._provenance import origin_of
from emovec._site import Site
from emovec.adapterkit import (
    LAYER_PATHS,
    BackendBase,
    ForwardOutput,
    bind_prompt,
    find_path,
    layer_path,
    positions_if_left_padded,
)

from . import _trace
from ._compile import compile_forward, compile_generation
from ._connect import check_remote, local_weights_reason
from ._errors import (
    RemoteSetupError,
)
from ._rehearsal import Rehearsal
from ._replay import replay
from ._sandbox import Sandbox
from ._submit import Submission, submit
from ._transport import NDIFTransport, RetryPolicy, Transport
from ._unembed import remote_unembed


class RemoteNNsightBackend(BackendBase):
    """emovec's backend over an nnsight model that runs on NDIF (`remote=True`).

    Each `capture`/`run` is one request (a session of traced forwards; `capture_many` packs
    several batches into one), each `generate` is one request (static edits, observers
    replayed client-side from per-step activations). Before the first request it checks, and
    says clearly, whether the model can run remotely at all: local weights, API key,
    client/server nnsight versions, deployment.

    Args:
        model: An nnsight `TransformersModel`/`LanguageModel` of a hosted model, normally
            built by id without weights (`RemoteNNsightBackend.from_hub`).
        tokenizer: Defaults to the model's.
        model_id: The hub id NDIF serves it under (default: the model's own id).
        transport: `NDIFTransport()` (default) or `SimulatedNDIF(sandbox)`.
        preflight: "isolated" (default: static scan, then the request runs in the sandbox
            process on a tiny stand-in of the hosted model, cached per block shape; where no
            stand-in can be built, a `RehearsalWarning` and deserialisation only) or "static"
            (scan only; faster, catches less).
        retry: Backoff for transient failures.
        checker: The sandbox process for isolated checks (default: one per Python process).

    Example:
        >>> backend = RemoteNNsightBackend.from_hub("meta-llama/Llama-3.1-8B")  # doctest: +SKIP
        >>> backend.capture(["I feel calm."], ["resid_post.16"], emovec.MeanFrom(0))  # doctest: +SKIP
    """

    name = "nnsight-remote"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        model_id: str | None = None,
        transport: Transport | None = None,
        preflight: str = "isolated",
        retry: RetryPolicy | None = None,
        checker: Sandbox | None = None,
    ):
        inner = getattr(model, "_module", None)
        if inner is None:
            raise TypeError(
                f"Expected an nnsight model (TransformersModel/LanguageModel), got {type(model).__name__}."
            )
        path = layer_path(inner, LAYER_PATHS[:-1])
        if path is None:
            raise ValueError(f"Cannot find the decoder layers of {type(inner).__name__}.")
        if preflight not in ("isolated", "static"):
            raise ValueError(f"preflight must be 'isolated' or 'static', got {preflight!r}.")
        origin = origin_of(inner)
        config = inner.config
        model_id = (
            model_id
            or (origin and origin.model_id)
            or getattr(model, "repo_id", None)
            or getattr(config, "_name_or_path", None)
            or "unknown"
        )
        super().__init__(
            model,
            tokenizer if tokenizer is not None else getattr(model, "tokenizer", None),
            d_model=int(config.hidden_size),
            n_layers=len(find_path(inner, path)),
            model_id=str(model_id),
            origin=origin,  # never the API key, never a local path: bundles record it
        )
        self.layers = find_path(model, path)
        self.transport: Transport = transport if transport is not None else NDIFTransport()
        self.preflight = preflight
        self.retry = retry if retry is not None else RetryPolicy()
        self.checker = checker
        self._model_key: str | None = None
        self.requests = 0  # requests that came back
        self.retries = 0

    @classmethod
    def from_hub(cls, repo_id: str, **kwargs: Any) -> "RemoteNNsightBackend":
        """A backend over the hosted model `repo_id`: config and tokenizer only, no weights.

        Needs network access to the hub (for the config) and to NDIF.
        """
        from nnsight.modeling.transformers import TransformersModel

        return cls(TransformersModel(repo_id), model_id=repo_id, **kwargs)

    def __repr__(self) -> str:
        return f"RemoteNNsightBackend({self.model_id!r}, transport={self.transport!r})"

    # -- setup checks ---------------------------------------------------------------------------
    def local_weights_reason(self) -> str | None:
        """Why this model cannot run remotely because of where its weights came from, if so."""
        return local_weights_reason(self.model, self.model_id, self._origin)

    def connect(self) -> "RemoteNNsightBackend":
        """Check, before anything is sent, that this model can run remotely; idempotent.

        Raises:
            LocalWeightsError: the model was loaded from local weights.
            ApiKeyError: no API key is configured (a rejected key surfaces on first send).
            VersionMismatchError: client and server nnsight differ.
            NotDeployedError: the server is not running `model_id`.
            TransientRemoteError: the server did not answer, after every retry.
        """
        if self._model_key is None:
            self._model_key = check_remote(self)  # the checks, in order: _connect
        return self

    # -- sending one block --------------------------------------------------------------------
    def submit(self, tracer: Any) -> dict[str, Any]:
        """Preflight `tracer`'s block, send it (with retries), return what it saved."""
        return submit(self, tracer, self.checker)

    @property
    def rehearsal(self) -> Rehearsal:
        """This backend's rehearsals on a tiny stand-in, with their cached verdicts."""
        rehearsal = getattr(self, "_rehearsal", None)
        if rehearsal is None:
            rehearsal = self._rehearsal = Rehearsal(self.model)
        return rehearsal

    def nnsight_backend(self) -> Submission:
        """An nnsight backend for your own blocks: same checks, preflight, retries and key.

        Example:
            >>> model, layers = backend.model, backend.layers  # doctest: +SKIP
            >>> with model.trace(ids, backend=backend.nnsight_backend()):  # doctest: +SKIP
            ...     hidden = layers[10].output.save()
        """
        return Submission(self)

    # -- forwards -----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("cpu")  # inputs stay here; the server places them

    def _forwards(
        self,
        batches: Sequence[TokenBatch],
        edits: Sequence[Edit],
        sites: Sequence[Site],
        reducer: Reducer,
        want_logits: int,
    ) -> list[tuple[dict[Site, Tensor], Tensor | None]]:
        """One request for `batches`; `want_logits` 0 none, 1 all positions, 2 the last one."""
        requests, orders = [], []
        for batch in batches:
            bound = bind_prompt(edits, batch)
            inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
            positions = positions_if_left_padded(batch)
            if positions is not None:
                inputs["position_ids"] = positions
            specs, order = compile_forward(bound, sites, reducer, batch.attention_mask)
            requests.append((inputs, specs, want_logits))
            orders.append(order)
        results = _trace.run_forwards(self.model, self.layers, requests, Submission(self))
        out = []
        for (reduced, logits), order in zip(results, orders, strict=True):
            captured = {site: r for site, r in zip(order, reduced, strict=True) if r is not None}
            out.append((captured, logits))
        return out

    @torch.no_grad()
    def capture(
        self,
        batch: "TokenBatch | Sequence[str]",
        sites: Sequence[Site],
        reducer: Reducer = keep,
        *,
        edits: Sequence[Edit] = (),
    ) -> dict[Site, Tensor]:
        """Reduced activations at `sites` for one forward (one request; no logits come back)."""
        return self.capture_many([batch], sites, reducer, edits=edits)[0]

    @torch.no_grad()
    def capture_many(
        self,
        batches: "Sequence[TokenBatch | Sequence[str]]",
        sites: Sequence[Site],
        reducer: Reducer = keep,
        *,
        edits: Sequence[Edit] = (),
    ) -> list[dict[Site, Tensor]]:
        """`capture` for several batches in ONE request (a session of forwards)."""
        prepared = [self._as_batch(b, "right") for b in batches]
        sites = self.check_sites(sites)
        for batch in prepared:
            self.check_edits(edits, batch)
        return [c for c, _ in self._forwards(prepared, edits, sites, reducer, want_logits=0)]

    @torch.no_grad()
    def run(
        self, batch: "TokenBatch | Sequence[str]", edits: Sequence[Edit] = ()
    ) -> Float[Tensor, "batch pos d_vocab"]:
        """Logits of one forward with `edits` applied (one request; the full logits come back,
        `[batch, pos, d_vocab]`: with a large vocabulary, keep batches small)."""
        batch = self._as_batch(batch, "right")
        self.check_edits(edits, batch)
        _, logits = self._forwards([batch], edits, (), keep, want_logits=1)[0]
        assert logits is not None
        return logits

    def _forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        *,
        edits: Sequence[Any] = (),
        sites: Sequence[Site] = (),
        reducer: Reducer = keep,
        position_ids: Tensor | None = None,
        past: Any = None,
        use_cache: bool = False,
        last_logits_only: bool = False,
    ) -> ForwardOutput:
        if past is not None or use_cache:
            raise RemoteSetupError(
                "A remote backend cannot step a KV cache across requests; use generate(), which"
                " runs the whole generation in one request."
            )
        batch = TokenBatch(input_ids.cpu(), attention_mask.cpu())
        plain = [edit for edit, _ in edits]
        want = 2 if last_logits_only else 1
        captured, logits = self._forwards([batch], plain, list(sites), reducer, want)[0]
        assert logits is not None
        return ForwardOutput(logits, captured, None)

    def _unembed(self, x: Tensor) -> Tensor:
        return remote_unembed(self, x)

    def unembed(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Logit lens: the final norm and unembedding applied on the server (one request)."""
        return remote_unembed(self, x)

    @contextmanager
    def _installed(self, edits: Sequence[Edit]) -> Iterator[None]:
        raise RemoteSetupError(
            "intervene() hooks the local module, which a remote model does not run; pass the"
            " edits to run()/generate(), which send them inside the request."
        )
        yield  # pragma: no cover

    # -- generation ---------------------------------------------------------------------------
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
        """Generation in one request: static edits, observers replayed from per-step activations.

        Greedy decoding matches the local backends token for token. Observers see the same
        `StepView`s as locally and may stop rows (the rows are cut client-side); they cannot
        add edits mid-generation (that needs a round trip per step). Sampling uses the
        server's sampler (same distribution, different random stream than local runs).

        `ban` (as locally: per prompt, token sequences the output must never contain) goes to
        the server's `generate` as `bad_words_ids`, which applies to every row: the rows must
        share one ban list. Unlike the local loop, the server also matches a sequence's head
        against the prompt's last tokens (a prompt ending in one bans its tail at once).
        """
        if isinstance(prompts, TokenBatch):
            batch = prompts
        else:
            prompts = [prompts] if isinstance(prompts, str) else list(prompts)
            batch = self.tokenize(prompts, side="left", chat=chat)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
        self.check_edits(edits, batch)
        for edit in edits:
            if edit.offset.ndim == 3:
                raise ValueError("Patch edits carry per-position sources; use run() for patching.")
        sites = self.check_sites(sorted({s for o in observers for s in o.sites}))
        eos = self.eos_token_id
        options: dict[str, Any] = {
            "do_sample": temperature > 0,
            "num_beams": 1,
            "pad_token_id": self.pad_token_id,
            "eos_token_id": eos if stop_at_eos and eos is not None else [],
            "repetition_penalty": 1.0,
            "no_repeat_ngram_size": 0,
        }
        if temperature > 0:
            options.update(temperature=float(temperature), top_p=float(top_p), top_k=0)
        banned = shared_ban(ban, batch.input_ids.shape[0])
        if banned:
            options["bad_words_ids"] = banned
        inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        specs, sites = compile_generation(list(edits), sites)
        ids, steps = _trace.generate_steps(
            self.model,
            self.layers,
            inputs,
            specs,
            int(max_new_tokens),
            options,
            seed,
            Submission(self),
        )
        return replay(self, batch, ids, steps, sites, list(observers), max_new_tokens, stop_at_eos)


def shared_ban(ban: "Sequence[Sequence[Sequence[int]]] | None", rows: int) -> list[list[int]]:
    """The one ban list every row shares, for the server's `bad_words_ids` (empty: none).

    Raises:
        ValueError: not one list per prompt, an empty sequence, or rows that differ.
    """
    if ban is None:
        return []
    if len(ban) != rows:
        raise ValueError(
            f"ban needs one list of token sequences per prompt: got {len(ban)} lists for"
            f" {rows} prompts."
        )
    lists = [sorted({tuple(int(t) for t in seq) for seq in row}) for row in ban]
    if any(not seq for row in lists for seq in row):
        raise ValueError("A banned token sequence is empty.")
    if any(row != lists[0] for row in lists[1:]):
        raise ValueError(
            "A remote generation bans the same token sequences in every row (one request, the"
            " server's bad_words_ids): call generate once per group of prompts that share a ban."
        )
    return [list(seq) for seq in lists[0]]
