"""Token batches and reducers: what flows across the seam besides sites and edits."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor


@dataclass(frozen=True, eq=False)
class TokenBatch:
    """Token ids with their attention mask; rows are right- or left-padded.

    Capture and run use right padding (real tokens keep positions 0..n-1, so padding cannot
    change them under causal attention); generation uses left padding.
    """

    input_ids: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]

    def __post_init__(self) -> None:
        if self.input_ids.ndim != 2 or self.input_ids.shape != self.attention_mask.shape:
            raise ValueError(
                "TokenBatch needs input_ids and attention_mask of the same [batch, pos] shape, got"
                f" {tuple(self.input_ids.shape)} and {tuple(self.attention_mask.shape)}."
            )

    @property
    def mask(self) -> Bool[Tensor, "batch pos"]:
        return self.attention_mask.bool()

    @property
    def lengths(self) -> Int[Tensor, " batch"]:
        return self.attention_mask.sum(-1)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @classmethod
    def from_ids(cls, rows: "list[list[int]]", *, pad_id: int, side: str = "right") -> "TokenBatch":
        """Pad lists of token ids into one batch (`side` is "right" or "left").

        Example:
            >>> b = TokenBatch.from_ids([[5, 6, 7], [8]], pad_id=0)
            >>> b.input_ids.tolist(), b.attention_mask.tolist()
            ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
        """
        if not rows or any(len(r) == 0 for r in rows):
            raise ValueError("Cannot batch an empty text: every row needs at least one token.")
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            span = slice(0, len(row)) if side == "right" else slice(width - len(row), width)
            ids[i, span] = torch.tensor(row, dtype=torch.long)
            mask[i, span] = 1
        return cls(ids, mask)

    def position_ids(self) -> Int[Tensor, "batch pos"]:
        """Positions counted over real tokens only (what a left-padded row needs)."""
        return (self.attention_mask.cumsum(-1) - 1).clamp(min=0)


# A reducer turns one site's activations for a batch into what capture keeps, inside the hook,
# so that a forward over 30 sites never holds more than one full activation at a time.
Reducer = Callable[[Float[Tensor, "batch pos d_model"], Bool[Tensor, "batch pos"]], Tensor]


def keep(acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]) -> Tensor:
    """The identity reducer: keep every position (padding included; use the mask to drop it)."""
    return acts


def last_token(
    acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
) -> Float[Tensor, "batch d_model"]:
    """Each row's activation at its last real token (right padding)."""
    last = mask.long().sum(-1) - 1
    return acts[torch.arange(acts.shape[0], device=acts.device), last]


@dataclass(frozen=True)
class MeanFrom:
    """Per-row mean over real tokens from position `start` on.

    Rows shorter than `start + min_tokens` start later than token 0 but early enough to keep
    `min_tokens` tokens (never position 0: small models park attention-sink activations there).

    Example:
        >>> acts = torch.arange(8.0).reshape(1, 4, 2)
        >>> mask = torch.ones(1, 4, dtype=torch.bool)
        >>> MeanFrom(2, min_tokens=2)(acts, mask)  # positions 2 and 3
        tensor([[5., 6.]])
        >>> MeanFrom(2)(acts, mask)  # 4 tokens < 2 + 8: starts at 1 to keep as many as it can
        tensor([[4., 5.]])
    """

    start: int = 50
    min_tokens: int = 8

    def first(self, lengths: Int[Tensor, " batch"]) -> Int[Tensor, " batch"]:
        """The first position averaged in each row."""
        latest = (lengths - self.min_tokens).clamp(min=1)
        return torch.minimum(torch.full_like(lengths, self.start), latest).clamp(
            max=(lengths - 1).clamp(min=0)
        )

    def __call__(
        self, acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "batch d_model"]:
        lengths = mask.long().sum(-1)
        pos = torch.arange(acts.shape[1], device=acts.device)
        use = mask & (pos[None, :] >= self.first(lengths)[:, None])
        weights = use.to(acts.dtype)
        total = torch.einsum("bpd,bp->bd", acts, weights)
        return total / weights.sum(1, keepdim=True).clamp(min=1)
