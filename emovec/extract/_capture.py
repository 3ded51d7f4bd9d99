"""Streaming capture: texts in, running statistics out, memory independent of the corpus size.

Texts are read in windows of `window` records; each window is tokenised, sorted by length and
cut into batches whose padded size stays within `batch_tokens` (length bucketing: little
padding, few forwards). Rows are right-padded, so a real token's position and attention never
see padding. One forward captures every site; a reducer inside the hook turns each site's
activations into a few numbers per row, which are folded into running means at once.

Batches are a function of the record stream alone, so a resumed run rebuilds exactly the batches
of an uninterrupted one and skips those already folded in (see `_checkpoint`).
"""

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from emovec._backend import Backend
from emovec._batch import MeanFrom, Reducer, TokenBatch
from emovec._site import Site
from emovec.ops import RunningCovariance, RunningMean

from ._truncation import Truncation, token_limit

PCA_MODES = ("dialogue", "token")


@dataclass(frozen=True)
class Item:
    """One text to capture: a stable id (for resuming), the text and its label (or None)."""

    id: str
    text: str
    label: str | None = None


def _first_positions(lengths: Int[Tensor, " batch"], start: int) -> Int[Tensor, " batch"]:
    # MeanFrom's clipping: short rows start later than 0 but keep their last 8 tokens.
    return MeanFrom(start).first(lengths)


def _selected(mask: Bool[Tensor, "batch pos"], start: int) -> Bool[Tensor, "batch pos"]:
    pos = torch.arange(mask.shape[1], device=mask.device)
    return mask & (pos[None, :] >= _first_positions(mask.long().sum(-1), start)[:, None])


@dataclass(frozen=True)
class RowMoments:
    """Reducer: per row, the mean from token `start` on, the sum of those tokens' norms and
    their count, packed as `[batch, d_model + 2]` (one tensor, so that any adapter can store it).

    Example:
        >>> acts = torch.tensor([[[3.0, 4.0], [0.0, 2.0], [9.0, 9.0]]])
        >>> RowMoments(1)(acts, torch.tensor([[True, True, False]]))
        tensor([[0., 2., 2., 1.]])
    """

    start: int = 50

    def __call__(
        self, acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "batch packed"]:
        acts = acts.float()
        weights = _selected(mask, self.start).to(acts.dtype)
        count = weights.sum(1)
        mean = torch.einsum("bpd,bp->bd", acts, weights) / count.clamp(min=1)[:, None]
        norm_sum = (acts.norm(dim=-1) * weights).sum(1)
        return torch.cat([mean, norm_sum[:, None], count[:, None]], dim=1)


@dataclass(frozen=True)
class TokenMoments:
    """Reducer: moments of every token from `start` on, pooled over the batch, packed as
    `[d_model + 2, d_model]`: the scatter matrix about the batch mean, the batch mean, then
    `[count, sum of norms, 0, ...]`. Only `d_model**2` numbers leave the hook, however many
    tokens the batch holds (the scatter is float32, centred first so little precision is lost).
    """

    start: int = 50

    def __call__(
        self, acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "packed d_model"]:
        rows = acts.float()[_selected(mask, self.start)]
        d = acts.shape[-1]
        tail = torch.zeros(2, d, dtype=rows.dtype, device=rows.device)
        tail[1, 0], tail[1, 1] = rows.shape[0], rows.norm(dim=-1).sum()
        tail[0] = rows.mean(0)
        centred = rows - tail[0]
        return torch.cat([centred.mT @ centred, tail], dim=0)


def windows(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive chunks of `size` items (the last may be shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def bucket(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, each padded size <= `batch_tokens`.

    Sorted by length (ties by position, so the grouping is deterministic); a single row longer
    than the budget gets a batch of its own.

    Example:
        >>> bucket([5, 1, 4, 2], batch_tokens=8)
        [[1, 3], [2], [0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # sorted ascending, so the newest row is the widest
        if current and (len(current) + 1) * lengths[i] > batch_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def token_batches(
    backend: Backend,
    items: Iterable[Item],
    *,
    batch_tokens: int,
    window: int,
    max_tokens: int | None = None,
    truncation: Truncation | None = None,
) -> Iterator[tuple[list[Item], list[list[int]]]]:
    """Length-bucketed batches of `(items, token ids)`, a deterministic function of `items`.

    Texts longer than `token_limit(backend, max_tokens)` are cut to it, counted in
    `truncation` (pass one to read the counts; see `emovec.extract.Truncation`).
    """
    if batch_tokens < 1 or window < 1:
        raise ValueError(f"batch_tokens and window must be positive, got {batch_tokens}, {window}.")
    cuts = truncation or Truncation(token_limit(backend, max_tokens))
    for chunk in windows(items, window):
        ids = []
        for item in chunk:
            row = cuts.cut(backend.encode(item.text))
            if not row:
                raise ValueError(f"Record {item.id!r} has an empty text (no tokens): drop it.")
            ids.append(row)
        for group in bucket([len(r) for r in ids], batch_tokens):
            yield [chunk[i] for i in group], [ids[i] for i in group]


def capture_stream(
    backend: Backend,
    items: Iterable[Item],
    sites: Sequence[Site],
    reducer: Reducer,
    *,
    batch_tokens: int = 4096,
    window: int = 2048,
    max_tokens: int | None = None,
    done: Callable[[str], bool] | None = None,
    progress: bool | str = False,
    total: int | None = None,
    truncation: Truncation | None = None,
) -> Iterator[tuple[list[Item], dict[Site, Tensor]]]:
    """Reduced activations at `sites`, one yield per forward of a length-bucketed batch.

    Args:
        backend: An emovec backend (`emovec.attach(model)` / `emovec.load_backend(...)`).
        items: The texts, streamed.
        sites: Captured together in each forward.
        reducer: Runs inside the hook (`RowMoments`, `TokenMoments`, `MeanFrom`, ...).
        batch_tokens: Budget of padded tokens per forward.
        window: Records sorted together for bucketing (memory: their token ids).
        max_tokens: Cut longer texts to this many tokens (None: `DEFAULT_MAX_TOKENS`, or the
            model's context if shorter); each cut is counted and warned about.
        done: Items for which this returns True are skipped (already folded in).
        progress: A label to show a progress bar on stderr, or False.
        total: Number of items, for the progress bar, if known.
        truncation: Counts the cuts; when given, the caller warns (`Truncation.warn`), else
            this stream warns once at its end.

    Yields:
        The items of the batch (skipped ones left out) and `{site: reducer output}`.
    """
    bar = tqdm(
        total=total,
        desc=progress if isinstance(progress, str) else None,
        unit="text",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    cuts = truncation or Truncation(token_limit(backend, max_tokens))
    try:
        for group, ids in token_batches(
            backend, items, batch_tokens=batch_tokens, window=window, truncation=cuts
        ):
            keep = [i for i, item in enumerate(group) if done is None or not done(item.id)]
            if keep:
                batch = TokenBatch.from_ids([ids[i] for i in keep], pad_id=backend.pad_token_id)
                captured = backend.capture(batch, sites, reducer)
                yield [group[i] for i in keep], captured
            bar.update(len(group))
            bar.set_postfix(tokens=sum(len(r) for r in ids), refresh=False)
    finally:
        bar.close()
    if truncation is None:
        cuts.warn()


def _grow(mean: RunningMean, groups: int) -> RunningMean:
    state = mean.state_dict()
    extra = groups - state["count"].shape[0]
    count = torch.cat([state["count"], state["count"].new_zeros(extra)])
    values = torch.cat([state["mean"], state["mean"].new_zeros(extra, state["mean"].shape[1])])
    return RunningMean.from_state_dict({"count": count, "mean": values})


class StoryStatistics:
    """Per-site, per-emotion running means of per-story mean activations.

    Each story counts once in its emotion's mean, whatever its length. With `emotions` given,
    an unknown label raises; with None, emotions are added in the order they first appear.
    """

    def __init__(self, sites: Sequence[Site], d_model: int, emotions: Sequence[str] | None = None):
        self.sites = list(sites)
        self.d_model = d_model
        self.fixed = emotions is not None
        self.emotions: list[str] = list(emotions or [])
        self.index = {e: i for i, e in enumerate(self.emotions)}
        groups = max(len(self.emotions), 1)
        self.means = {s: RunningMean(d_model, groups=groups) for s in self.sites}
        self.norms = {s: RunningMean(1) for s in self.sites}

    def register(self, label: str) -> None:
        """Give `label` a row (extraction calls this as records stream, so rows follow the
        order of first appearance in the corpus, not the length-sorted processing order)."""
        if label not in self.index:
            if self.fixed:
                raise ValueError(
                    f"Story emotion {label!r} is not in the emotion list given to extraction."
                )
            self.index[label] = len(self.emotions)
            self.emotions.append(label)

    def _labels(self, labels: Sequence[str]) -> Int[Tensor, " n"]:
        for label in labels:
            self.register(label)
        groups = next(iter(self.means.values())).groups or 1
        if len(self.emotions) > groups:
            self.means = {s: _grow(m, len(self.emotions)) for s, m in self.means.items()}
        return torch.tensor([self.index[label] for label in labels], dtype=torch.long)

    def add(self, labels: Sequence[str], captured: dict[Site, Tensor]) -> None:
        """Fold in one batch: `captured[site]` is `RowMoments` output, row i has `labels[i]`."""
        group = self._labels(labels)
        for site in self.sites:
            packed = captured[site]
            self.means[site].update(packed[:, :-2], group=group)
            _add_norms(self.norms[site], packed[:, -2], packed[:, -1])

    def emotion_means(self) -> Float[Tensor, "emotion site d_model"]:
        """Float64 means; raises naming the emotions that have no story."""
        counts = next(iter(self.means.values())).count if self.sites else torch.zeros(0)
        empty = [e for e, c in zip(self.emotions, counts.tolist(), strict=False) if c == 0]
        if not self.emotions or empty:
            raise ValueError(
                "Every emotion needs at least one story; none for: "
                + (", ".join(empty[:10]) or "any emotion (the story stream was empty)")
            )
        return torch.stack([self.means[s].mean for s in self.sites], dim=1)

    def state_dict(self) -> dict[str, Tensor]:
        state = {}
        for site in self.sites:
            for key, value in self.means[site].state_dict().items():
                state[f"story/{site}/{key}"] = value
            for key, value in self.norms[site].state_dict().items():
                state[f"story_norm/{site}/{key}"] = value
        return state

    def load_state_dict(self, state: dict[str, Tensor], emotions: Sequence[str]) -> None:
        self.emotions = list(emotions)
        self.index = {e: i for i, e in enumerate(self.emotions)}
        for site in self.sites:
            self.means[site] = RunningMean.from_state_dict(_sub(state, f"story/{site}/"))
            self.norms[site] = RunningMean.from_state_dict(_sub(state, f"story_norm/{site}/"))


class NeutralStatistics:
    """Per-site covariance of neutral activations (per-dialogue means or tokens) and the mean
    residual norm over neutral tokens from `start` on."""

    def __init__(self, sites: Sequence[Site], d_model: int, *, mode: str = "dialogue"):
        if mode not in PCA_MODES:
            raise ValueError(f"pca_mode must be one of {PCA_MODES}, got {mode!r}.")
        self.sites = list(sites)
        self.mode = mode
        self.covariances = {s: RunningCovariance(d_model) for s in self.sites}
        self.norms = {s: RunningMean(1) for s in self.sites}

    def reducer(self, start: int) -> Reducer:
        return RowMoments(start) if self.mode == "dialogue" else TokenMoments(start)

    def add(self, captured: dict[Site, Tensor]) -> None:
        """Fold in one batch of `reducer(start)` outputs."""
        for site in self.sites:
            packed = captured[site]
            if self.mode == "dialogue":
                self.covariances[site].update(packed[:, :-2])
                _add_norms(self.norms[site], packed[:, -2], packed[:, -1])
                continue
            d = packed.shape[1]
            count, norm_sum = packed[d + 1, 0], packed[d + 1, 1]
            if count == 0:
                continue
            part = RunningCovariance.from_state_dict(
                {"count": count, "mean": packed[d], "m2": packed[:d]}
            )
            self.covariances[site] = self.covariances[site].merge(part)
            _add_norms(self.norms[site], norm_sum[None], count[None])

    def residual_norms(self) -> dict[Site, float]:
        return {s: float(m.mean[0]) for s, m in self.norms.items()}

    def state_dict(self) -> dict[str, Tensor]:
        state = {}
        for site in self.sites:
            for key, value in self.covariances[site].state_dict().items():
                state[f"neutral/{site}/{key}"] = value
            for key, value in self.norms[site].state_dict().items():
                state[f"neutral_norm/{site}/{key}"] = value
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for site in self.sites:
            self.covariances[site] = RunningCovariance.from_state_dict(
                _sub(state, f"neutral/{site}/")
            )
            self.norms[site] = RunningMean.from_state_dict(_sub(state, f"neutral_norm/{site}/"))


def _add_norms(acc: RunningMean, norm_sum: Tensor, count: Tensor) -> None:
    # A token-weighted mean of per-row mean norms is the mean norm over all tokens.
    use = count > 0
    if bool(use.any()):
        acc.update((norm_sum[use] / count[use])[:, None], weight=count[use])


def _sub(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    found = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not found:
        raise ValueError(f"The saved statistics have no entry {prefix!r}: a different run?")
    return found
