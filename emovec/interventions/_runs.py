"""Batched forwards that keep only what experiments need: each row's next-token logits.

Rows are sorted by length and packed under a token budget (right padding), the last real
token's residual is captured at the final site and unembedded there, so no `[batch, pos,
d_vocab]` tensor is ever returned; results come back in the caller's row order.
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from emovec._backend import Backend
from emovec._batch import TokenBatch
from emovec._edit import Edit
from emovec._site import Site

EditsFor = Callable[[TokenBatch, Sequence[int]], Sequence[Edit]]


def last_real(
    acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
) -> Float[Tensor, "batch d_model"]:
    """Each row's activation at its last real token (works for left and right padding)."""
    pos = torch.arange(mask.shape[1], device=mask.device)
    idx = torch.where(mask, pos, -1).argmax(-1)
    return acts[torch.arange(acts.shape[0], device=acts.device), idx]


def next_token_logits(
    backend: Backend,
    batch: TokenBatch,
    edits: Sequence[Edit] = (),
    *,
    start: "tuple[Site, Tensor] | None" = None,
) -> Float[Tensor, "batch d_vocab"]:
    """Logits after each row's last real token, with `edits` applied (float32, on CPU).

    `start=(site, hidden)` runs only the blocks after `site` from the batch's residual there
    (`backend.capture_from`).
    """
    site = Site(int(backend.n_layers) - 1)
    if start is None:
        resid = backend.capture(batch, [site], last_real, edits=list(edits))[site]
    else:
        resid = backend.capture_from(
            batch, start[0], start[1], [site], last_real, edits=list(edits)
        )[site]
    return backend.unembed(resid).float().cpu()


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int) -> TokenBatch:
    return TokenBatch.from_ids([list(r) for r in rows], pad_id=pad_id, side="right")


def pad_masks(masks: Sequence[Sequence[bool]], batch: TokenBatch) -> Tensor:
    """Per-row token masks (over each row's real tokens) placed into a right-padded batch."""
    out = torch.zeros(batch.input_ids.shape, dtype=torch.bool)
    for i, m in enumerate(masks):
        out[i, : len(m)] = torch.tensor(list(m), dtype=torch.bool)
    return out


def chunks(rows: Sequence[Sequence[int]], batch_tokens: int, max_rows: int = 64) -> list[list[int]]:
    """Row indices grouped by similar length so that each padded batch fits `batch_tokens`.

    Example:
        >>> chunks([[1] * 3, [1] * 10, [1] * 4], batch_tokens=12)
        [[0, 2], [1]]
    """
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    groups: list[list[int]] = []
    for i in order:
        if groups:
            group = groups[-1]
            width = max(len(rows[i]), max(len(rows[j]) for j in group))
            if (len(group) + 1) * width <= batch_tokens and len(group) < max_rows:
                group.append(i)
                continue
        groups.append([i])
    return groups


def rows_logits(
    backend: Backend,
    rows: Sequence[Sequence[int]],
    edits_for: EditsFor | None = None,
    *,
    batch_tokens: int = 2048,
    progress: Any = None,
) -> Float[Tensor, "row d_vocab"]:
    """Next-token logits of every row, batched; `edits_for(batch, row_indices)` gives the edits.

    `progress`, if given, is a tqdm-like object updated by the number of rows done.
    """
    out: list[Tensor | None] = [None] * len(rows)
    for group in chunks(rows, batch_tokens):
        batch = pad_rows([rows[i] for i in group], backend.pad_token_id)
        edits = list(edits_for(batch, group)) if edits_for is not None else []
        logits = next_token_logits(backend, batch, edits)
        for j, i in enumerate(group):
            out[i] = logits[j]
        if progress is not None:
            progress.update(len(group))
    return torch.stack([t for t in out if t is not None]) if rows else torch.zeros(0)


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar on stderr, or a silent stand-in."""
    if not enabled:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


# -- many steering conditions in shared batches --------------------------------------------
Steering = tuple[tuple[Site, Tensor, float], ...]  # (site, unit direction, absolute amount)


def sweep(
    backend: Backend,
    rows: Sequence[Sequence[int]],
    conditions: Sequence[Steering],
    metric: Callable[[Tensor, Tensor], Tensor],
    reference: Float[Tensor, "row d_vocab"],
    *,
    masks: Sequence[Sequence[bool]] | None = None,
    batch_tokens: int = 2048,
    progress: Any = None,
    reuse_prefix: bool = True,
) -> Float[Tensor, "condition row *m"]:
    """`metric(logits, reference)` of every row under every steering condition.

    Returns `[condition, row]`, or `[condition, row, m]` when the metric returns `[batch, m]`.

    Rows of different conditions share batches: at each site one edit adds, per batch row, its
    own condition's amount along its own direction (an `Edit` whose offset is `[batch, pos, k]`
    over the `k` directions in the batch), which is exactly `Edit.steer` row by row. `masks`
    limits steering to some tokens of each row (default: every token).

    When every condition steers at one site and the backend can start a forward part-way
    (`backend.resumable`), the blocks before that site run once per row instead of once per
    row and condition (`reuse_prefix=False` turns this off; the values agree to float rounding).
    """
    start = _shared_start(conditions) if reuse_prefix else None
    if start is not None and backend.resumable:
        return _sweep_from(
            backend, start, rows, conditions, metric, reference, masks, batch_tokens, progress
        )
    jobs = [(c, r) for c in range(len(conditions)) for r in range(len(rows))]
    values: Tensor | None = None
    job_rows = [rows[r] for _, r in jobs]
    for group in chunks(job_rows, batch_tokens):
        batch = pad_rows([job_rows[j] for j in group], backend.pad_token_id)
        where = _steered_tokens(masks, [jobs[j][1] for j in group], batch)
        edits = _mixed_edits([conditions[jobs[j][0]] for j in group], where, int(backend.d_model))
        logits = next_token_logits(backend, batch, edits)
        ref = reference[[jobs[j][1] for j in group]]
        result = metric(logits, ref)
        if values is None:
            values = torch.zeros(len(conditions), len(rows), *result.shape[1:])
        for k, j in enumerate(group):
            values[jobs[j][0], jobs[j][1]] = result[k]
        if progress is not None:
            progress.update(len(group))
    return values if values is not None else torch.zeros(len(conditions), len(rows))


def _shared_start(conditions: Sequence[Steering]) -> Site | None:
    """The residual every condition's steering comes after, if they all steer at one site."""
    sites = {site for steering in conditions for site, _, _ in steering}
    if len(sites) != 1:
        return None
    (site,) = sites
    if site.stream == "resid_post":
        return site
    return Site(site.layer - 1) if site.layer > 0 else None


def _sweep_from(
    backend: Backend,
    start: Site,
    rows: Sequence[Sequence[int]],
    conditions: Sequence[Steering],
    metric: Callable[[Tensor, Tensor], Tensor],
    reference: Tensor,
    masks: Sequence[Sequence[bool]] | None,
    batch_tokens: int,
    progress: Any,
) -> Tensor:
    """`sweep` with each batch's residual at `start` computed once and every condition run from it."""
    values: Tensor | None = None
    for group in chunks(rows, batch_tokens):
        batch = pad_rows([rows[i] for i in group], backend.pad_token_id)
        hidden = backend.capture(batch, [start])[start]
        where = _steered_tokens(masks, group, batch)
        ref = reference[group]
        for c, steering in enumerate(conditions):
            edits = _mixed_edits([steering] * len(group), where, int(backend.d_model))
            result = metric(next_token_logits(backend, batch, edits, start=(start, hidden)), ref)
            if values is None:
                values = torch.zeros(len(conditions), len(rows), *result.shape[1:])
            values[c, group] = result
            if progress is not None:
                progress.update(len(group))
    return values if values is not None else torch.zeros(len(conditions), len(rows))


def _steered_tokens(
    masks: Sequence[Sequence[bool]] | None, row_ids: Sequence[int], batch: TokenBatch
) -> Tensor:
    """Which tokens of the batch (rows `row_ids`) are steered: the rows' masks, or every token."""
    if masks is None:
        return torch.ones(batch.input_ids.shape, dtype=torch.bool)
    return pad_masks([masks[i] for i in row_ids], batch)


def _mixed_edits(per_row: Sequence[Steering], where: Tensor, d_model: int) -> list[Edit]:
    by_site: dict[Site, list[tuple[int, Tensor, float]]] = {}
    for row, steering in enumerate(per_row):
        for site, direction, amount in steering:
            by_site.setdefault(site, []).append((row, direction, amount))
    edits = []
    for site, items in sorted(by_site.items()):
        directions: list[Tensor] = []
        index: dict[int, int] = {}
        for _, direction, _ in items:
            if id(direction) not in index:
                index[id(direction)] = len(directions)
                directions.append(direction.float())
        offset = torch.zeros(*where.shape, len(directions))
        for row, direction, amount in items:
            offset[row, where[row], index[id(direction)]] += float(amount)
        edits.append(Edit(site, torch.stack(directions), offset, None, "all"))
    return edits
