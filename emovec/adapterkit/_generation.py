"""The decode loop shared by every adapter: KV cache, edits by position, observers, stopping."""

from collections.abc import Sequence

import torch
from torch import Tensor

from emovec._backend import Control, Generation, Observer, StepView
from emovec._batch import TokenBatch
from emovec._edit import Edit

from ._forward import Forwarder, bind_decode, bind_prompt


def _pick(logits: Tensor, temperature: float, top_p: float, gen: torch.Generator | None) -> Tensor:
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1)
    weights, tokens = nucleus(probs, top_p)
    return tokens.gather(-1, torch.multinomial(weights, 1, generator=gen)).squeeze(-1)


def completions(generated: Sequence[int], sequences: Sequence[Sequence[int]]) -> list[int]:
    """Tokens that would complete one of `sequences` right after `generated`.

    A one-token sequence is always returned; a longer one when `generated` ends with all but its
    last token. Banning these at every step keeps every sequence out of the output.

    Example:
        >>> completions([5, 7], [[9], [7, 3], [5, 8, 1], [6, 2]])
        [9, 3]
    """
    out = []
    for seq in sequences:
        if not seq:
            raise ValueError("A banned token sequence is empty.")
        head = list(seq[:-1])
        if not head or list(generated[len(generated) - len(head) :]) == head:
            out.append(int(seq[-1]))
    return out


def nucleus(probs: Tensor, top_p: float) -> tuple[Tensor, Tensor]:
    """Nucleus (top-p) weights over candidate tokens: `(weights, token_ids)`, both `(rows, k)`.

    Keeps the smallest prefix, by probability, whose mass reaches `top_p` (the first token always
    survives); other candidates get weight 0. Only the top candidates are sorted: the prefix
    nearly always lies within them, and a full sort of the vocabulary is the fallback.
    """
    k = min(probs.shape[-1], _CANDIDATES)
    weights, tokens = probs.topk(k, dim=-1)
    if k < probs.shape[-1] and bool((weights.sum(-1) <= top_p).any()):
        weights, tokens = probs.sort(-1, descending=True)
    drop = weights.cumsum(-1) - weights > top_p
    return weights.masked_fill(drop, 0.0), tokens


# Candidates sorted for nucleus sampling before falling back to a full sort.
_CANDIDATES = 1024


def generate_loop(
    backend: Forwarder,
    batch: TokenBatch,
    *,
    max_new_tokens: int,
    edits: list[Edit],
    observers: list[Observer],
    temperature: float,
    top_p: float,
    seed: int | None,
    stop_at_eos: bool,
    ban: Sequence[Sequence[Sequence[int]]] | None = None,
) -> Generation:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    if ban is not None and len(ban) != batch.input_ids.shape[0]:
        raise ValueError(
            f"ban needs one list of token sequences per prompt: got {len(ban)} lists for"
            f" {batch.input_ids.shape[0]} prompts."
        )
    device = backend.device
    ids = batch.input_ids.to(device)
    mask = batch.attention_mask.to(device)
    rows = ids.shape[0]
    sites = backend.check_sites(sorted({s for o in observers for s in o.sites}))
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    eos = backend.eos_token_id if stop_at_eos else None

    active = list(edits)
    added: list[tuple[int, Edit]] = []
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    reasons = ["max_new_tokens"] * rows
    out_ids: list[list[int]] = [[] for _ in range(rows)]
    positions = batch.position_ids().to(device)

    out = backend._forward(
        ids,
        mask,
        edits=bind_prompt(active, batch),
        sites=sites,
        position_ids=positions,
        use_cache=True,
        last_logits_only=True,
    )
    view = StepView(0, ids, mask.bool(), positions, out.captured)
    for step in range(1, max_new_tokens + 1):
        control = _notify(observers, view)
        if control is not None:
            if control.add_edits:
                backend.check_edits(control.add_edits)
                active.extend(control.add_edits)
                added.extend((step - 1, e) for e in control.add_edits)
            stop_rows = range(rows) if control.stop is True else (control.stop or ())
            for r in stop_rows:
                if not finished[r]:
                    finished[r] = True
                    reasons[r] = "observer"
        if bool(finished.all()):
            break
        logits = out.logits[:, -1]
        if ban is not None:
            logits = _without(logits, out_ids, ban, finished)
        nxt = _pick(logits, temperature, top_p, gen)
        nxt = torch.where(finished, torch.full_like(nxt, backend.pad_token_id), nxt)
        live = ~finished
        for r in torch.nonzero(live).flatten().tolist():
            token = int(nxt[r])
            if eos is not None and token == eos:
                finished[r] = True
                reasons[r] = "eos"
            else:
                out_ids[r].append(token)
        if step == max_new_tokens or bool(finished.all()):
            break
        positions = positions[:, -1:] + 1
        mask = torch.cat([mask, torch.ones(rows, 1, dtype=mask.dtype, device=device)], dim=1)
        step_ids = nxt[:, None]
        out = backend._forward(
            step_ids,
            mask,
            edits=bind_decode(active),
            sites=sites,
            position_ids=positions,
            past=out.past,
            use_cache=True,
        )
        view = StepView(step, step_ids, (~finished)[:, None], positions, out.captured)

    texts = [backend.tokenizer.decode(t, skip_special_tokens=True) for t in out_ids]
    prompt_ids = [
        row[m.bool()].tolist() for row, m in zip(batch.input_ids, batch.attention_mask, strict=True)
    ]
    return Generation(prompt_ids, out_ids, texts, reasons, added)


def _without(
    logits: Tensor, out_ids: list[list[int]], ban: Sequence[Sequence[Sequence[int]]], done: Tensor
) -> Tensor:
    """`logits` with every token that would complete a banned sequence of its row at -inf."""
    logits = logits.clone()
    for r, sequences in enumerate(ban):
        if sequences and not bool(done[r]):
            tokens = completions(out_ids[r], sequences)
            if tokens:
                logits[r, tokens] = float("-inf")
    return logits


def _notify(observers: list[Observer], view: StepView) -> Control | None:
    """Give the view to every observer; merge their answers (any stop wins, edits accumulate)."""
    merged: Control | None = None
    for observer in observers:
        answer = observer.observe(view)
        if answer is None:
            continue
        if merged is None:
            merged = Control()
        if answer.stop is True or merged.stop is True:
            merged.stop = True
        elif answer.stop:
            merged.stop = sorted(set(merged.stop or ()) | set(answer.stop))
        merged.add_edits = [*merged.add_edits, *answer.add_edits]
    return merged
