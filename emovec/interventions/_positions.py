"""The tokens an intervention touches: checking a positions argument and binding it to a batch.

Positions are "all", "prompt", "generated", a bool mask `[batch, pos]` over the padded batch, or
token indices counted over each row's real tokens (an int or a sequence of ints; negative counts
from the end, so `last(3)` is the last three tokens). Indices become a mask once the batch is
known (`_bind_positions`); `row_masks` does the same for unpadded rows.
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from emovec._batch import TokenBatch
from emovec._edit import POSITIONS

PositionSpec = str | Tensor | int | Sequence[int]


def last(k: int) -> tuple[int, ...]:
    """Positions of each row's last `k` real tokens (for `positions=`).

    Example:
        >>> last(3)
        (-3, -2, -1)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"last(k) needs an int k >= 1, got {k!r}.")
    return tuple(range(-k, 0))


def _check_positions(positions: Any) -> PositionSpec:
    if isinstance(positions, str):
        if positions not in POSITIONS:
            raise ValueError(
                f"positions must be one of {POSITIONS}, a bool mask [batch, pos] or token indices,"
                f" got {positions!r}."
            )
        return positions
    if isinstance(positions, Tensor):
        if positions.dtype != torch.bool or positions.ndim != 2:
            raise ValueError("A position mask must be a bool tensor [batch, pos].")
        return positions
    if isinstance(positions, bool):
        raise ValueError("positions cannot be a bool: use 'all' or a mask.")
    if isinstance(positions, int):
        return (positions,)
    if (
        isinstance(positions, (range, list, tuple))
        and positions
        and all(isinstance(p, int) and not isinstance(p, bool) for p in positions)
    ):
        return tuple(positions)
    raise ValueError(
        f"positions must be 'all', 'prompt', 'generated', a bool mask or token indices, got {positions!r}."
    )


def _bind_positions(positions: PositionSpec, batch: TokenBatch | None) -> "str | Tensor":
    """Turn token indices into a mask over `batch`; check a mask's shape; pass strings through."""
    if isinstance(positions, str):
        return positions
    if isinstance(positions, Tensor):
        if batch is not None and tuple(positions.shape) != tuple(batch.input_ids.shape):
            raise ValueError(
                f"Position mask has shape {tuple(positions.shape)} but the batch is"
                f" {tuple(batch.input_ids.shape)} [batch, pos]: build the mask over the padded batch."
            )
        return positions
    if batch is None:
        raise ValueError(
            "Token-index positions need the batch they refer to: pass batch=backend.tokenize(...)"
            " (left-padded for generate) to .edits()."
        )
    indices = (positions,) if isinstance(positions, int) else tuple(positions)
    mask = torch.zeros(batch.input_ids.shape, dtype=torch.bool)
    real = batch.attention_mask.bool().cpu()
    for row in range(real.shape[0]):
        where = torch.nonzero(real[row]).flatten()
        n = len(where)
        for p in indices:
            if not -n <= p < n:
                raise ValueError(
                    f"Position {p} is out of range for row {row}, which has {n} tokens"
                    f" (valid: {-n}..{n - 1})."
                )
            mask[row, where[p]] = True
    return mask


def row_masks(rows: Sequence[Sequence[int]], positions: PositionSpec) -> list[list[bool]] | None:
    """Per-row token masks for index positions (None for "all"/"prompt": every token).

    Example:
        >>> row_masks([[5, 6, 7], [8, 9]], (-1,))
        [[False, False, True], [False, True]]
    """
    if isinstance(positions, str):
        if positions == "generated":
            raise ValueError("positions='generated' never touches a prompt's tokens: use 'all'.")
        return None
    if isinstance(positions, Tensor):
        raise ValueError("Give token indices (e.g. last(3)) here, not a mask over one batch.")
    out = []
    for row in rows:
        one = TokenBatch.from_ids([list(row)], pad_id=0)
        mask = _bind_positions(positions, one)
        assert isinstance(mask, Tensor)
        out.append(mask[0].tolist())
    return out
