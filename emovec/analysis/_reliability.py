"""Split-half reliability: do two disjoint halves of the topics give the same vectors?

Every r and AUROC the report prints is computed from one set of vectors, and a small corpus
gives noisy vectors. Splitting the topics into two disjoint halves and running the recipe on
each tells a user how far to trust any single number: the correlation of the two halves'
emotion-by-emotion cosine matrices (does the similarity structure replicate?), the mean cosine
between the same emotion's two vectors, and how often an emotion's vector from one half is
nearest to its own vector from the other.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site
from emovec.extract import (
    Item,
    NeutralStatistics,
    Recipe,
    StoryStatistics,
    build_vectors,
    field_of,
)
from emovec.ops import cosine_matrix


@dataclass(frozen=True)
class SiteReliability:
    """One site's agreement between the two halves' vectors.

    Attributes:
        site: The site.
        structure_r: Pearson r between the halves' emotion-by-emotion cosine matrices (upper
            triangles): whether the similarity structure replicates.
        matching_cosine: Mean cosine between an emotion's vector from half A and from half B.
        matching_top1: Share of emotions whose half-A vector is nearest (by cosine) to its own
            half-B vector among all half-B vectors (chance: 1 / emotions).
    """

    site: Site
    structure_r: float
    matching_cosine: float
    matching_top1: float


@dataclass(frozen=True)
class SplitHalfReliability:
    """Per-site split-half agreement, and the halves it compared."""

    rows: tuple[SiteReliability, ...]
    halves: tuple[tuple[str, ...], tuple[str, ...]]
    n_emotions: int
    bundles: tuple[Any, ...] = ()  # the two halves' `EmotionVectors`, for further comparison

    @property
    def best(self) -> SiteReliability:
        return max(self.rows, key=lambda r: r.structure_r)

    def at(self, site: "Site | str | int") -> SiteReliability:
        wanted = Site.parse(site)
        for row in self.rows:
            if row.site == wanted:
                return row
        raise KeyError(f"No site {wanted} in this reliability table.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "halves": [list(h) for h in self.halves],
            "n_emotions": self.n_emotions,
            "rows": [
                {
                    "site": str(r.site),
                    "structure_r": r.structure_r,
                    "matching_cosine": r.matching_cosine,
                    "matching_top1": r.matching_top1,
                }
                for r in self.rows
            ],
        }

    def table(self) -> str:
        lines = [f"{'site':16s} {'structure r':>12s} {'match cos':>10s} {'match@1':>8s}"]
        for r in self.rows:
            lines.append(
                f"{str(r.site):16s} {r.structure_r:12.3f} {r.matching_cosine:10.3f}"
                f" {r.matching_top1:8.3f}"
            )
        lines.append(
            f"split-half: vectors from {len(self.halves[0])} vs {len(self.halves[1])} disjoint"
            f" topics, {self.n_emotions} emotions (match@1 chance {1 / self.n_emotions:.4f})"
        )
        return "\n".join(lines)


def split_half_agreement(
    a: Float[Tensor, "emotion d_model"], b: Float[Tensor, "emotion_b d_model_b"]
) -> tuple[float, float, float]:
    """`(structure_r, matching_cosine, matching_top1)` of two vector sets with the same rows.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.randn(6, 32, generator=g, dtype=torch.float64)
        >>> tuple(round(x, 3) for x in split_half_agreement(a, 2 * a))
        (1.0, 1.0, 1.0)
    """
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] < 3:
        raise ValueError(
            f"Both halves need the same [emotion, d_model] shape with at least 3 emotions; got"
            f" {tuple(a.shape)} and {tuple(b.shape)}."
        )
    a, b = a.double(), b.double()
    iu = torch.triu_indices(a.shape[0], a.shape[0], offset=1)
    ca, cb = cosine_matrix(a, a)[iu[0], iu[1]], cosine_matrix(b, b)[iu[0], iu[1]]
    structure = float(torch.corrcoef(torch.stack([ca, cb]))[0, 1])
    cross = cosine_matrix(a, b)
    matching = float(cross.diagonal().mean())
    top1 = float((cross.argmax(1) == torch.arange(a.shape[0])).double().mean())
    return structure, matching, top1


def topic_halves(records: Sequence[Any], seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The sorted topics shuffled by `seed` and cut in two (the first half gets the odd one)."""
    topics = sorted({str(field_of(r, "topic")) for r in records})
    if len(topics) < 2:
        raise ValueError("Split-half reliability needs stories on at least 2 topics.")
    random.Random(seed).shuffle(topics)
    cut = (len(topics) + 1) // 2
    return tuple(sorted(topics[:cut])), tuple(sorted(topics[cut:]))


class TopicHalves:
    """Collects per-emotion story means for two disjoint halves of the topics as batches stream
    past (pass `add` as the observer of a capture), then builds and compares the two halves'
    vectors with the same recipe and neutral denoising as the whole."""

    def __init__(
        self,
        records: Sequence[Any],
        sites: Sequence[Site],
        d_model: int,
        emotions: Sequence[str],
        *,
        seed: int = 0,
    ):
        self.halves = topic_halves(records, seed)
        first = set(self.halves[0])
        self.half_of = {
            str(field_of(r, "id") or f"story-{i}"): 0 if str(field_of(r, "topic")) in first else 1
            for i, r in enumerate(records)
        }
        self.emotions = list(emotions)
        self.stats = (
            StoryStatistics(sites, d_model, emotions),
            StoryStatistics(sites, d_model, emotions),
        )

    def add(self, items: Sequence[Item], captured: dict[Site, Tensor]) -> None:
        """Fold one captured batch (`RowMoments` rows) into each story's half."""
        for half in (0, 1):
            rows = [i for i, it in enumerate(items) if self.half_of.get(it.id) == half]
            if rows:
                index = torch.tensor(rows)
                self.stats[half].add(
                    [items[i].label or "" for i in rows],
                    {s: v[index] for s, v in captured.items()},
                )

    def reliability(
        self,
        backend: Backend,
        neutral_stats: NeutralStatistics | None,
        recipe: Recipe,
    ) -> SplitHalfReliability:
        """Vectors from each half (emotions with stories in both), compared site by site."""
        counts = [next(iter(s.means.values())).count for s in self.stats]
        both = [e for i, e in enumerate(self.emotions) if counts[0][i] > 0 and counts[1][i] > 0]
        if len(both) < 3:
            raise ValueError(
                f"Only {len(both)} emotions have stories in both topic halves; split-half"
                " reliability needs at least 3 (a corpus with topics crossed with emotions)."
            )
        bundles = [
            build_vectors(
                backend, _restrict(s, both), neutral_stats, recipe,
                {"split_half": name, "topics": list(topics)},
            )
            for s, name, topics in zip(self.stats, "ab", self.halves, strict=True)
        ]  # fmt: skip
        rows = tuple(
            SiteReliability(site, *split_half_agreement(bundles[0].at(site), bundles[1].at(site)))
            for site in bundles[0].sites
        )
        return SplitHalfReliability(rows, self.halves, len(both), tuple(bundles))


def _restrict(stats: StoryStatistics, keep: Sequence[str]) -> StoryStatistics:
    """The same statistics for the emotions in `keep` only."""
    if list(keep) == stats.emotions:
        return stats
    rows = torch.tensor([stats.index[e] for e in keep])
    state = {}
    for key, value in stats.state_dict().items():
        state[key] = value[rows] if key.startswith("story/") else value
    out = StoryStatistics(stats.sites, stats.d_model, keep)
    out.load_state_dict(state, keep)
    return out
