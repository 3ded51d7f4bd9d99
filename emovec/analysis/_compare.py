"""Comparing vector sets: across the layers of one bundle, and between two bundles.

- `layer_rsa(vectors)`: the site x site matrix of RSA (Spearman correlation of the emotion
  cosine matrices). Blocks of high RSA show where the geometry is stable (the paper: from
  early-middle to late layers).
- `compare_bundles(a, b)`: on the shared emotions and sites, the RSA of the two cosine
  matrices (works across models of any width) and, when the widths match, orthogonal
  Procrustes: the mean cosine of each emotion with its partner after the best rotation, fitted
  on all emotions and, more honestly, cross-fitted (rotation fitted on half the emotions,
  scored on the other half), next to the plain cosine without rotation.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site
from emovec.ops import cosine_matrix, procrustes, rsa
from emovec.vectors import EmotionVectors


@dataclass(frozen=True)
class LayerRSA:
    """RSA between every pair of sites of one bundle (1 on the diagonal)."""

    sites: tuple[Site, ...]
    matrix: Float[Tensor, "site site"]

    def as_dict(self) -> dict[str, Any]:
        return {"sites": [str(s) for s in self.sites], "matrix": self.matrix.tolist()}


def layer_rsa(vectors: EmotionVectors) -> LayerRSA:
    """RSA of the cosine matrices of every pair of sites.

    Args:
        vectors: A bundle with at least 3 emotions.

    Returns:
        A `LayerRSA` (symmetric, ones on the diagonal).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> v = torch.randn(6, 1, 8, generator=g)
        >>> v = torch.cat([v, 2 * v, torch.randn(6, 1, 8, generator=g)], dim=1)
        >>> m = layer_rsa(EmotionVectors(v, list("abcdef"), [0, 1, 2])).matrix
        >>> round(float(m[0, 1]), 3), bool(m[0, 2] < 0.9)
        (1.0, True)
    """
    sims = [cosine_matrix(vectors.at(s).double(), vectors.at(s).double()) for s in vectors.sites]
    n = len(sims)
    m = torch.eye(n, dtype=torch.float64)
    for i in range(n):
        for j in range(i + 1, n):
            m[i, j] = m[j, i] = _rsa(sims[i], sims[j])
    return LayerRSA(vectors.sites, m)


@dataclass(frozen=True)
class SiteComparison:
    """Two bundles at one site: RSA, and (same width only) plain and Procrustes cosines."""

    site: Site
    rsa: float
    raw_cosine: float | None
    aligned_cosine: float | None
    crossfit_cosine: float | None


@dataclass(frozen=True)
class BundleComparison:
    """`compare_bundles` result: per shared site, and per emotion at the best-RSA site."""

    emotions: tuple[str, ...]
    rows: tuple[SiteComparison, ...]
    per_emotion: dict[str, float]
    label_a: str
    label_b: str

    @property
    def best(self) -> SiteComparison:
        return max(self.rows, key=lambda r: r.rsa)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.label_a,
            "b": self.label_b,
            "n_emotions": len(self.emotions),
            "sites": [r.__dict__ | {"site": str(r.site)} for r in self.rows],
            "best_site": str(self.best.site),
            "per_emotion_aligned_cosine": self.per_emotion,
        }


def compare_bundles(
    a: EmotionVectors,
    b: EmotionVectors,
    *,
    sites: "Sequence[Site | str | int] | None" = None,
    label_a: str = "a",
    label_b: str = "b",
) -> BundleComparison:
    """How similar are two vector sets? RSA per site, Procrustes when the widths match.

    Args:
        a: One bundle.
        b: Another (another model, corpus or recipe); matched by emotion name and site.
        sites: Sites to compare (default: those both bundles hold).
        label_a: Name of `a` in tables.
        label_b: Name of `b` in tables.

    Returns:
        A `BundleComparison`.

    Raises:
        ValueError: Fewer than 3 shared emotions, or no shared site.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> v = torch.nn.functional.normalize(torch.randn(8, 1, 8, generator=g), dim=-1)
        >>> q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
        >>> a = EmotionVectors(v, list("abcdefgh"), [3])
        >>> b = EmotionVectors(v @ q, list("abcdefgh"), [3])
        >>> row = compare_bundles(a, b).rows[0]
        >>> round(row.rsa, 3), round(row.aligned_cosine, 3), row.raw_cosine < 0.9
        (1.0, 1.0, True)
    """
    shared = [e for e in a.emotions if e in set(b.emotions)]
    if len(shared) < 3:
        raise ValueError(
            f"The bundles share {len(shared)} emotions ({shared}); comparing needs at least 3."
        )
    if sites is None:
        site_list = [s for s in a.sites if s in set(b.sites)]
    else:
        site_list = [Site.parse(s) for s in sites]
    if not site_list:
        raise ValueError(
            "The bundles share no site: pass sites=... or extract both at the same layers."
        )
    same_width = a.d_model == b.d_model
    rows, aligned_at = [], {}
    for site in site_list:
        xa = a.select(shared, [site]).vectors[:, 0].double()
        xb = b.select(shared, [site]).vectors[:, 0].double()
        r = _rsa(cosine_matrix(xa, xa), cosine_matrix(xb, xb))
        raw = aligned = cross = None
        if same_width:
            raw = float(torch.nn.functional.cosine_similarity(xa, xb, dim=1).mean())
            fit = procrustes(xa, xb)
            aligned = float(fit.aligned_cosine.mean())
            aligned_at[site] = fit.aligned_cosine
            cross = _crossfit(xa, xb)
        rows.append(SiteComparison(site, r, raw, aligned, cross))
    result = BundleComparison(tuple(shared), tuple(rows), {}, label_a, label_b)
    per = aligned_at.get(result.best.site)
    per_emotion = {} if per is None else dict(zip(shared, per.tolist(), strict=True))
    return BundleComparison(tuple(shared), tuple(rows), per_emotion, label_a, label_b)


def _rsa(a: Tensor, b: Tensor) -> float:
    """`rsa`, or NaN when a cosine matrix is constant off the diagonal (rho is undefined)."""
    try:
        return rsa(a, b)
    except ValueError as err:
        if "constant" in str(err):
            return float("nan")
        raise


def _crossfit(xa: Tensor, xb: Tensor) -> float:
    """Mean aligned cosine of held-out emotions: rotation fitted on the even rows, scored on
    the odd ones, and the other way round (with fewer emotions than dimensions, a rotation fitted
    on all of them can look better than the geometry warrants)."""
    n = xa.shape[0]
    even, odd = torch.arange(0, n, 2), torch.arange(1, n, 2)
    if len(odd) < 2:
        return float("nan")
    total = []
    for fit_rows, test_rows in ((even, odd), (odd, even)):
        rot = procrustes(xa[fit_rows], xb[fit_rows]).rotation
        total.append(
            torch.nn.functional.cosine_similarity(xa[test_rows] @ rot, xb[test_rows], dim=1)
        )
    return float(torch.cat(total).mean())


def plot_layer_rsa(result: LayerRSA) -> Any:
    """Heatmap of the site x site RSA matrix. Returns the matplotlib figure."""
    from matplotlib.figure import Figure

    n = len(result.sites)
    fig = Figure(figsize=(6.4, 5.4), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(
        result.matrix.numpy(), cmap="viridis", vmin=min(0.0, float(result.matrix.min())), vmax=1
    )
    step = max(1, n // 15)
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks, [str(result.sites[i].layer) for i in ticks], fontsize=7)
    ax.set_yticks(ticks, [str(result.sites[i].layer) for i in ticks], fontsize=7)
    ax.set_xlabel("layer")
    ax.set_ylabel("layer")
    fig.colorbar(image, ax=ax, label="RSA (Spearman of cosine matrices)")
    ax.set_title("geometry shared between layers", fontsize=9)
    return fig


def plot_comparison(result: BundleComparison) -> Any:
    """Per layer: RSA and (same width) plain, Procrustes and cross-fitted cosines."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.subplots()
    layers = [r.site.layer for r in result.rows]
    ax.plot(layers, [r.rsa for r in result.rows], "-o", ms=3, label="RSA")
    for name in ("raw_cosine", "aligned_cosine", "crossfit_cosine"):
        values = [getattr(r, name) for r in result.rows]
        if all(v is not None for v in values):
            ax.plot(layers, values, "-o", ms=3, label=name.replace("_", " "))
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_ylim(-0.2, 1.05)
    ax.set_xlabel("layer")
    ax.set_title(
        f"{result.label_a} vs {result.label_b} ({len(result.emotions)} emotions)", fontsize=9
    )
    ax.legend(fontsize=7)
    return fig
