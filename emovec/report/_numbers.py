"""Typed views of the report's saved numbers, for the pages that read them back.

`numbers.json` keeps its keys (saved runs must load); the headline, the Markdown page and the
main job's stages read it through these dataclasses instead of string keys, so that a renamed
field fails in one place, loudly.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def _real(x: float | None) -> bool:
    return x is not None and not math.isnan(x)


@dataclass(frozen=True)
class CorrelationNumbers:
    """One principal component against one human rating at one site."""

    pc: int
    rating: str
    pearson: float


@dataclass(frozen=True)
class SiteNumbers:
    """The geometry of one site: variance of the top PCs, their correlations, the readouts."""

    site: str
    explained_top: tuple[float, ...]
    n_for_variance: Mapping[str, int]
    correlations: tuple[CorrelationNumbers, ...]
    readout: Mapping[str, float]

    def pearson(self, pc: int, rating: str) -> float | None:
        """Pearson r of PC `pc` with `rating` (None when that PC was not kept)."""
        return next(
            (c.pearson for c in self.correlations if (c.pc, c.rating) == (pc, rating)), None
        )

    def best(self, rating: str) -> CorrelationNumbers:
        """The PC most correlated (in absolute value) with `rating` at this site."""
        return max(
            (c for c in self.correlations if c.rating == rating), key=lambda c: abs(c.pearson or 0)
        )


@dataclass(frozen=True)
class GeometryNumbers:
    """`GeometryReport.as_dict()` read back."""

    recommended_site: str
    rule: str
    sites: tuple[SiteNumbers, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GeometryNumbers":
        sites = tuple(
            SiteNumbers(
                s["site"],
                tuple(s["explained_top"]),
                dict(s["n_for_variance"]),
                tuple(
                    CorrelationNumbers(c["pc"], c["rating"], c["pearson"])
                    for c in s["correlations"]
                ),
                dict(s.get("readout") or {}),
            )
            for s in data["sites"]
        )
        return cls(data["recommended_site"], data["rule"], sites)

    def strongest(
        self, rating: str, pcs: Sequence[int] | None = None
    ) -> tuple[float, int, str] | None:
        """`(abs(r), pc, site)` of the largest correlation of `rating` with any of `pcs` (all
        kept PCs when None) over every site; NaN correlations are skipped."""
        found = [
            (abs(c.pearson), c.pc, s.site)
            for s in self.sites
            for c in s.correlations
            if c.rating == rating and (pcs is None or c.pc in pcs) and _real(c.pearson)
        ]
        return max(found, default=None)

    def best_readout(self, rating: str) -> tuple[float, str] | None:
        """`(r, site)` of the best leave-one-emotion-out readout of `rating` over the sites."""
        found = [(s.readout[rating], s.site) for s in self.sites if rating in s.readout]
        return max(((r, site) for r, site in found if _real(r)), default=None)


@dataclass(frozen=True)
class HeldoutRow:
    """Held-out accuracy at one site, of the story vectors and of the template control."""

    site: str
    story_top1: float
    story_top5: float
    template_top1: float | None
    template_top5: float | None


@dataclass(frozen=True)
class ReliabilityRow:
    """How well the two topic halves' vectors agree at one site."""

    site: str
    structure_r: float
    matching_cosine: float
    matching_top1: float


@dataclass(frozen=True)
class ReliabilityNumbers:
    """Split-half reliability read back (`SplitHalfReliability.as_dict()`)."""

    halves: tuple[tuple[str, ...], tuple[str, ...]]
    n_emotions: int
    rows: tuple[ReliabilityRow, ...]

    @property
    def best(self) -> ReliabilityRow:
        """The site whose halves agree best on the structure."""
        return max(self.rows, key=lambda r: r.structure_r)


@dataclass(frozen=True)
class HeldoutNumbers:
    """`heldout_numbers(...)` read back."""

    chance: float
    n_emotions: int
    n_train: int
    n_test: int
    test_topics: tuple[str, ...]
    metric: str
    best_site: str
    best_top1: float
    rows: tuple[HeldoutRow, ...]
    confusions: tuple[tuple[str, str, int], ...]
    lexical: Mapping[str, float] | None
    reliability: ReliabilityNumbers | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "HeldoutNumbers":
        rel = data.get("reliability")
        reliability = None
        if rel:
            rows = tuple(ReliabilityRow(**r) for r in rel["rows"])
            halves = (tuple(rel["halves"][0]), tuple(rel["halves"][1]))
            reliability = ReliabilityNumbers(halves, rel["n_emotions"], rows)
        return cls(  # the headline needs only chance and the best site; the rest may be missing
            data["chance"],
            data.get("n_emotions", 0),
            data.get("n_train", 0),
            data.get("n_test", 0),
            tuple(data.get("test_topics") or ()),
            data.get("metric", ""),
            data["best_site"],
            data["best_top1"],
            tuple(HeldoutRow(**r) for r in data.get("rows") or ()),
            tuple((t, p, int(n)) for t, p, n in data.get("confusions") or ()),
            data.get("lexical") or None,
            reliability,
        )

    def at(self, site: str) -> HeldoutRow | None:
        """The row of `site`, if it was evaluated."""
        return next((r for r in self.rows if r.site == site), None)
