"""Comparing the emotion geometry of two different models (any widths, any depths).

Sites are paired by relative depth (`(layer + 1) / n_layers`): each site of the model with fewer
sites meets the other model's nearest one. At each pair:

- RSA: Spearman correlation of the two `emotion x emotion` cosine matrices (upper triangles).
- Procrustes: the emotions as points. Each model's configuration is centred, written in the
  coordinates of its own SVD (which keeps every distance and angle, so widths need not match),
  scaled to unit size, and rotated (orthogonal Procrustes, with the optimal scale) onto the other;
  the error is `1 - (sum of singular values of A^T B)^2` (scipy's disparity): 0 when one is a
  rotated, scaled copy of the other, near 1 when unrelated. Its null is the mean error over
  shuffled emotion labels, the yardstick for "better than chance".
- Valence/arousal: PC1's correlation with human valence and arousal on each side
  (`valence_alignment`), and held-out identification top-1 (from each run's `heldout.json`).
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site
from emovec.ops import cosine_matrix, rsa
from emovec.vectors import EmotionVectors


def _configuration(x: Float[Tensor, "n d_model"]) -> Float[Tensor, "n r"]:
    """Centred, unit-size coordinates of the rows in their own SVD basis (same Gram matrix)."""
    centred = x.double() - x.double().mean(0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    coords = u * s
    size = coords.norm()
    if float(size) == 0:
        raise ValueError("The configuration has no spread: every emotion vector is the same.")
    return coords / size


def _disparity(ca: Float[Tensor, "n r_a"], cb: Float[Tensor, "n r_b"]) -> float:
    total = torch.linalg.svdvals(ca.T @ cb).sum()  # any widths: C_a^T C_b is r_a x r_b
    return float((1.0 - total**2).clamp(0.0, 1.0))


def procrustes_error(a: Float[Tensor, "n d_a"], b: Float[Tensor, "n d_b"]) -> float:
    """Procrustes disparity in [0, 1] between two configurations of the same n points.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.randn(10, 6, generator=g)
        >>> q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g))
        >>> round(procrustes_error(a, 3 * a @ q + 1), 6)
        0.0
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"Both sides need the same points: {a.shape[0]} vs {b.shape[0]} rows.")
    return _disparity(_configuration(a), _configuration(b))


def null_procrustes_error(
    a: Float[Tensor, "n d_a"], b: Float[Tensor, "n d_b"], *, permutations: int = 100, seed: int = 0
) -> float:
    """Mean Procrustes error after shuffling which row of `b` belongs to which emotion."""
    ca, cb = _configuration(a), _configuration(b)  # shuffling rows commutes with both steps
    g = torch.Generator().manual_seed(seed)
    errors = [
        _disparity(ca, cb[torch.randperm(cb.shape[0], generator=g)]) for _ in range(permutations)
    ]
    return sum(errors) / len(errors)


@dataclass(frozen=True)
class DepthPair:
    """Two models' sites at about the same relative depth, and how alike their geometry is."""

    depth_a: float
    depth_b: float
    site_a: Site
    site_b: Site
    rsa: float
    procrustes_error: float
    null_error: float
    valence_a: float
    valence_b: float
    arousal_a: float
    arousal_b: float
    heldout_a: float | None
    heldout_b: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"site_a": str(self.site_a), "site_b": str(self.site_b)}


@dataclass(frozen=True)
class CrossModel:
    """`compare_models` result."""

    label_a: str
    label_b: str
    emotions: tuple[str, ...]
    pairs: tuple[DepthPair, ...]
    chance: float | None

    @property
    def best(self) -> DepthPair:
        """The pair with the highest RSA."""
        return max(self.pairs, key=lambda p: p.rsa)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.label_a,
            "b": self.label_b,
            "n_emotions": len(self.emotions),
            "heldout_chance": self.chance,
            "best": self.best.as_dict(),
            "pairs": [p.as_dict() for p in self.pairs],
        }

    def table(self) -> str:
        """A markdown table, one row per depth pair."""

        def num(x: float | None) -> str:
            return "-" if x is None else f"{x:.3f}"

        lines = [
            f"| depth | {self.label_a} | {self.label_b} | RSA | Procrustes error (null) |"
            " r(PC1,val) a / b | r(PC1,aro) a / b | held-out top-1 a / b |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for p in self.pairs:
            lines.append(
                f"| {p.depth_a:.2f} / {p.depth_b:.2f} | {p.site_a} | {p.site_b} | {p.rsa:.3f} |"
                f" {p.procrustes_error:.3f} ({p.null_error:.3f}) |"
                f" {p.valence_a:+.2f} / {p.valence_b:+.2f} | {p.arousal_a:+.2f} / {p.arousal_b:+.2f}"
                f" | {num(p.heldout_a)} / {num(p.heldout_b)} |"
            )
        return "\n".join(lines)


def _depth(vectors: EmotionVectors, site: Site) -> float:
    n_layers = vectors.n_layers or (max(s.layer for s in vectors.sites) + 1)
    layer = site.layer + (1 if site.stream == "resid_post" else 0)
    return layer / n_layers


def pair_by_depth(a: EmotionVectors, b: EmotionVectors) -> list[tuple[Site, Site]]:
    """Each site of the bundle with fewer sites, with the other's site nearest in relative depth."""
    few, many = (a, b) if len(a.sites) <= len(b.sites) else (b, a)
    pairs = []
    for site in few.sites:
        near = min(many.sites, key=lambda s: (abs(_depth(many, s) - _depth(few, site)), s.layer))
        pairs.append((site, near) if few is a else (near, site))
    return pairs


def compare_models(
    a: EmotionVectors,
    b: EmotionVectors,
    *,
    label_a: str = "a",
    label_b: str = "b",
    heldout_a: Mapping[str, Any] | None = None,
    heldout_b: Mapping[str, Any] | None = None,
    permutations: int = 100,
) -> CrossModel:
    """Compare two models' emotion geometry on their shared emotions, depth by depth.

    Args:
        a: One model's bundle.
        b: Another model's (any width and depth), matched by emotion name.
        label_a: Name of `a` in tables.
        label_b: Name of `b` in tables.
        heldout_a: `a`'s `heldout.json` numbers (rows with `site` and `story_top1`), optional.
        heldout_b: The same for `b`.
        permutations: Label shuffles for the Procrustes null.

    Raises:
        ValueError: Fewer than 4 shared emotions.
    """
    from ._valence import valence_alignment

    shared = [e for e in a.emotions if e in set(b.emotions)]
    if len(shared) < 4:
        raise ValueError(f"The bundles share {len(shared)} emotions; comparing needs at least 4.")
    a, b = a.select(shared), b.select(shared)
    val_a = {r.site: r for r in valence_alignment(a).rows}
    val_b = {r.site: r for r in valence_alignment(b).rows}
    top_a, top_b = _top1(heldout_a), _top1(heldout_b)
    pairs = []
    for sa, sb in pair_by_depth(a, b):
        xa, xb = a.at(sa).double(), b.at(sb).double()
        pairs.append(
            DepthPair(
                depth_a=_depth(a, sa),
                depth_b=_depth(b, sb),
                site_a=sa,
                site_b=sb,
                rsa=rsa(cosine_matrix(xa, xa), cosine_matrix(xb, xb)),
                procrustes_error=procrustes_error(xa, xb),
                null_error=null_procrustes_error(xa, xb, permutations=permutations),
                valence_a=val_a[sa].r_pc1_valence,
                valence_b=val_b[sb].r_pc1_valence,
                arousal_a=val_a[sa].r_pc1_arousal,
                arousal_b=val_b[sb].r_pc1_arousal,
                heldout_a=top_a.get(str(sa)),
                heldout_b=top_b.get(str(sb)),
            )
        )
    chance = (heldout_a or heldout_b or {}).get("chance")
    return CrossModel(label_a, label_b, tuple(shared), tuple(pairs), chance)


def _top1(numbers: Mapping[str, Any] | None) -> dict[str, float]:
    if not numbers:
        return {}
    return {str(row["site"]): float(row["story_top1"]) for row in numbers.get("rows", [])}


def plot_cross_model(result: CrossModel) -> Any:
    """RSA, Procrustes error and its null against relative depth. Returns the figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    depth = [p.depth_a for p in result.pairs]
    ax.plot(depth, [p.rsa for p in result.pairs], "-o", ms=3, label="RSA (Spearman)")
    ax.plot(depth, [p.procrustes_error for p in result.pairs], "-s", ms=3, label="Procrustes error")
    ax.plot(depth, [p.null_error for p in result.pairs], ":", color="0.5", label="error, shuffled")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(f"relative depth ({result.label_a})")
    ax.set_title(
        f"{result.label_a} vs {result.label_b}: {len(result.emotions)} emotions", fontsize=9
    )
    ax.legend(fontsize=7)
    return fig
