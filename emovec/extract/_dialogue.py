"""Per-speaker means over Human/Assistant dialogues: the capture behind speaker and deflection
vectors.

A dialogue is a transcript of lines that start "Human: " or "Assistant: ". Each token is
assigned to the turn whose text (after the speaker's label) it starts in; tokens of the labels
themselves and of anything outside a turn belong to no one. One forward per batch reduces, at
every site, each row's activations to two means: over the Human's tokens and over the
Assistant's tokens (from position `start` on, so the first positions' attention-sink
activations never enter).
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from emovec._backend import Backend
from emovec._batch import TokenBatch
from emovec._site import Site

from ._truncation import Truncation, token_limit

ROLES = ("Human", "Assistant")
_TURN = re.compile(r"^(Human|Assistant):[ \t]*", re.MULTILINE)


def turn_spans(text: str) -> list[tuple[int, int, int]]:
    """`(role, start, end)` character spans of each turn's words (0 = Human, 1 = Assistant).

    Example:
        >>> turn_spans("Human: Hi there\\nAssistant: Hello")
        [(0, 7, 16), (1, 27, 32)]
    """
    marks = list(_TURN.finditer(text))
    spans = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        spans.append((ROLES.index(m.group(1)), m.end(), end))
    return spans


def role_tokens(
    tokenizer: Any, text: str, *, max_tokens: int | None = None
) -> tuple[list[int], list[int]]:
    """Token ids of `text` and each token's speaker (0 Human, 1 Assistant, -1 no one).

    Needs a fast tokenizer (character offsets).
    """
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    spans = turn_spans(text)
    if not spans:
        raise ValueError(
            f"Not a dialogue (no line starts with 'Human:' or 'Assistant:'): {text[:60]!r}"
        )
    roles = []
    for start, end in offsets:
        role = -1
        for r, a, b in spans:
            # A token belongs to a turn when it starts inside the turn's words (a leading
            # space or newline that BPE glues to the next word counts with that word).
            if a <= start < b or (start < a < end <= b):
                role = r
                break
        roles.append(role)
    if max_tokens is not None:
        ids, roles = ids[:max_tokens], roles[:max_tokens]
    return ids, roles


@dataclass(frozen=True)
class RoleMoments:
    """Reducer: per row and speaker, the mean over that speaker's tokens from `start` on, the
    sum of their norms and their count, packed as `[batch, 2, d_model + 2]`.

    `roles` is the batch's `[batch, pos]` speaker map (0, 1, or -1 for no one).

    Example:
        >>> acts = torch.tensor([[[1.0], [2.0], [4.0], [8.0]]])
        >>> roles = torch.tensor([[0, 0, 1, 1]])
        >>> RoleMoments(roles, start=1)(acts, torch.ones(1, 4, dtype=torch.bool))[0, :, 0]
        tensor([2., 6.])
    """

    roles: Int[Tensor, "batch pos"]
    start: int = 4

    def __call__(
        self, acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "batch 2 packed"]:
        acts = acts.float()
        pos = torch.arange(acts.shape[1], device=acts.device)
        roles = self.roles.to(acts.device)
        out = []
        for r in range(len(ROLES)):
            weights = (mask & (roles == r) & (pos[None, :] >= self.start)).to(acts.dtype)
            count = weights.sum(1)
            mean = torch.einsum("bpd,bp->bd", acts, weights) / count.clamp(min=1)[:, None]
            norm_sum = (acts.norm(dim=-1) * weights).sum(1)
            out.append(torch.cat([mean, norm_sum[:, None], count[:, None]], dim=1))
        return torch.stack(out, dim=1)


@dataclass
class RoleMeans:
    """Each dialogue's per-speaker means at each site (float32), with token counts.

    Attributes:
        ids: Dialogue ids, in input order.
        sites: The sites captured.
        packed: `{site: [dialogue, 2, d_model + 2]}`: the two speakers' means, norm sums and
            token counts (`RowMoments` layout per speaker).
    """

    ids: list[str]
    sites: list[Site]
    packed: dict[Site, Tensor]

    def counts(self) -> Float[Tensor, "dialogue 2"]:
        return next(iter(self.packed.values()))[:, :, -1]

    def rows(self, dialogue: Sequence[int], role: Sequence[int]) -> dict[Site, Tensor]:
        """Packed `[n, d_model + 2]` rows for (dialogue, speaker) pairs (what
        `StoryStatistics.add` folds in)."""
        d, r = torch.as_tensor(list(dialogue)), torch.as_tensor(list(role))
        return {s: v[d, r] for s, v in self.packed.items()}

    def means(self, dialogue: Sequence[int], role: Sequence[int]) -> Float[Tensor, "n site d"]:
        rows = self.rows(dialogue, role)
        return torch.stack([rows[s][:, :-2] for s in self.sites], dim=1).double()


def field(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


def capture_role_means(
    backend: Backend,
    dialogues: Iterable[Any],
    sites: Sequence[Site],
    *,
    start: int = 4,
    batch_size: int = 16,
    max_tokens: int | None = None,
    progress: bool = True,
) -> RoleMeans:
    """One forward per batch of dialogues (records with `id` and `text`), reduced to each
    speaker's mean at every site. Dialogues longer than `token_limit(backend, max_tokens)`
    are cut to it, with one `TruncationWarning`."""
    records = list(dialogues)
    if not records:
        raise ValueError("No dialogues to capture.")
    encoded = []
    cuts = Truncation(token_limit(backend, max_tokens))  # bounded memory, as for stories
    for i, rec in enumerate(records):
        text = field(rec, "text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"Dialogue {i} has no 'text'.")
        ids, roles = role_tokens(backend.tokenizer, text)
        ids = cuts.cut(ids)
        encoded.append((ids, roles[: len(ids)]))
    cuts.warn()
    order = sorted(range(len(records)), key=lambda i: len(encoded[i][0]))  # little padding
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(records), desc="dialogues", unit="dialogue", leave=False)
    parts: dict[Site, list[Tensor]] = {s: [] for s in sites}
    for k in range(0, len(order), batch_size):
        chunk = order[k : k + batch_size]
        batch = TokenBatch.from_ids([encoded[i][0] for i in chunk], pad_id=backend.pad_token_id)
        width = batch.input_ids.shape[1]
        roles = torch.full((len(chunk), width), -1, dtype=torch.long)
        for row, i in enumerate(chunk):
            roles[row, : len(encoded[i][1])] = torch.tensor(encoded[i][1])
        captured = backend.capture(batch, list(sites), RoleMoments(roles, start))
        for s in sites:
            parts[s].append(captured[s].float().cpu())
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    back = torch.empty(len(order), dtype=torch.long)
    back[torch.tensor(order)] = torch.arange(len(order))
    packed = {s: torch.cat(parts[s])[back] for s in sites}
    ids = [str(field(r, "id") or f"dialogue-{i}") for i, r in enumerate(records)]
    return RoleMeans(ids, list(sites), packed)
