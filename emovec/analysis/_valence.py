"""Does the geometry of the emotion vectors match human affect ratings?

`valence_alignment`: PCA of the emotion vectors at each site, and the Pearson correlation of
PC1 and PC2 with human valence and arousal ratings (the paper: PC1 vs valence r = 0.81, PC2 vs
arousal r = 0.66 on 45 words). A PC's sign is arbitrary, so |r| is what compares across sites.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site
from emovec.catalogue import AffectNorms, load_norms
from emovec.ops import pca
from emovec.vectors import EmotionVectors

# `{emotion: {"valence": v, "arousal": a}}`, or `emovec.catalogue.AffectNorms` (Norm tuples).
Norms = Mapping[str, Any]


def _rating(entry: Any, name: str) -> float:
    return float(entry[name] if isinstance(entry, Mapping) else getattr(entry, name))


def pearson(a: Float[Tensor, " n"], b: Float[Tensor, " n"]) -> float:
    """Pearson correlation of two equally long series.

    Example:
        >>> round(pearson(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 7.0])), 4)
        0.9934
    """
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    denom = float(a.norm() * b.norm())
    return float(a @ b) / denom if denom > 0 else float("nan")


@dataclass(frozen=True)
class SiteAlignment:
    """One site's PCA of the emotion vectors against human ratings (see `valence_alignment`)."""

    site: Site
    explained: tuple[float, ...]
    r_pc1_valence: float
    r_pc1_arousal: float
    r_pc2_valence: float
    r_pc2_arousal: float

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["site"] = str(self.site)
        row |= {f"abs_{k}": abs(v) for k, v in row.items() if k.startswith("r_")}
        return row


@dataclass(frozen=True)
class ValenceAlignment:
    """Per-site alignment table, the normed emotions it used and those it could not."""

    rows: tuple[SiteAlignment, ...]
    n_emotions: int
    used: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def best(self) -> SiteAlignment:
        """The site whose PC1 tracks valence best (largest |r|)."""
        return max(self.rows, key=lambda r: abs(r.r_pc1_valence))

    @property
    def strongest_valence(self) -> tuple[Site, int, float]:
        """`(site, pc, r)` with the largest |r| between valence and PC1 or PC2 anywhere (on
        small models valence can come out as PC2, e.g. when a frequency axis takes PC1)."""
        return max(
            (
                (r.site, pc, x)
                for r in self.rows
                for pc, x in ((1, r.r_pc1_valence), (2, r.r_pc2_valence))
            ),
            key=lambda t: abs(t[2]),
        )

    def table(self) -> str:
        """A plain-text table, one line per site, the best site marked with `*`."""
        head = (
            f"{'site':16s} {'PC1':>6s} {'PC2':>6s} {'PC3':>6s}  {'r(PC1,val)':>10s}"
            f" {'r(PC1,aro)':>10s} {'r(PC2,val)':>10s} {'r(PC2,aro)':>10s}"
        )
        lines = [head]
        for r in self.rows:
            ev = "".join(f" {x:6.3f}" for x in (*r.explained, *[float("nan")] * 3)[:3])
            rs = "".join(
                f" {x:+10.3f}"
                for x in (r.r_pc1_valence, r.r_pc1_arousal, r.r_pc2_valence, r.r_pc2_arousal)
            )
            mark = "*" if r is self.best else " "
            lines.append(f"{str(r.site):15s}{mark}{ev} {rs}")
        site, pc, r = self.strongest_valence
        lines.append(
            f"{len(self.used)} of {self.n_emotions} emotions have norms; PCA over all"
            f" {self.n_emotions}; * = best |r(PC1, valence)|; largest |r| of valence with PC1"
            f" or PC2: {r:+.3f} (PC{pc} at {site})"
        )
        return "\n".join(lines)


def valence_alignment(
    vectors: EmotionVectors, norms: "AffectNorms | Norms | str | Path | None" = None
) -> ValenceAlignment:
    """PCA of the emotion vectors at each site, against human valence and arousal.

    The PCA runs over every emotion in the bundle; correlations use the emotions that have
    norms (126 of the default 171 with the shipped Warriner norms).

    Args:
        vectors: An `EmotionVectors` bundle (at least 4 emotions).
        norms: `emovec.catalogue.AffectNorms`, `{emotion: {"valence": v, "arousal": a}}`, a
            CSV path, or None for the shipped Warriner et al. (2013) norms
            (`emovec.catalogue.load_norms`).

    Returns:
        A `ValenceAlignment`: per site the explained-variance ratios of PC1..PC3 and the
        Pearson r of PC1 and PC2 with valence and with arousal (signs are arbitrary).

    Example:
        >>> names = ["joy", "grief", "rage", "calm", "awe"]
        >>> valence = torch.tensor([8.0, 2.0, 2.5, 7.0, 7.5])
        >>> v = torch.randn(5, 1, 16) * 0.05
        >>> v[:, 0, 0] += valence
        >>> ev = EmotionVectors(v, names, [Site(0)])
        >>> rated = {n: {"valence": float(x), "arousal": 5.0 + i % 2} for i, (n, x)
        ...          in enumerate(zip(names, valence))}
        >>> round(abs(valence_alignment(ev, rated).best.r_pc1_valence), 2)
        1.0
    """
    table = load_norms(norms) if norms is None or isinstance(norms, (str, Path)) else norms
    used = tuple(e for e in vectors.emotions if e in table)
    missing = tuple(e for e in vectors.emotions if e not in table)
    if len(used) < 3:
        raise ValueError(f"Only {len(used)} of the emotions have norms: need at least 3.")
    if len(vectors.emotions) < 4:
        raise ValueError("valence_alignment needs at least 4 emotions for 3 PCs.")
    rows_used = torch.tensor([vectors.index(e) for e in used])
    valence = torch.tensor([_rating(table[e], "valence") for e in used], dtype=torch.float64)
    arousal = torch.tensor([_rating(table[e], "arousal") for e in used], dtype=torch.float64)
    rows = []
    for site in vectors.sites:
        x = vectors.at(site).double()
        pcs = pca(x, k=min(3, x.shape[0] - 1, x.shape[1]))
        coords = (x - pcs.mean) @ pcs.components.T
        pc1, pc2 = coords[rows_used, 0], coords[rows_used, 1]
        rows.append(
            SiteAlignment(
                site,
                tuple(float(r) for r in pcs.explained_variance_ratio),
                pearson(pc1, valence),
                pearson(pc1, arousal),
                pearson(pc2, valence),
                pearson(pc2, arousal),
            )
        )
    return ValenceAlignment(tuple(rows), len(vectors.emotions), used, missing)
