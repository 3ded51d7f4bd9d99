"""Figures of a `GeometryReport`: the PC scatter at one site and the sweep over layers."""

from typing import Any

import numpy as np

from emovec._site import Site

from ._geometry_report import RATINGS, VARIANCE_LEVELS, GeometryReport


def plot_geometry(report: GeometryReport, site: "Site | str | int | None" = None) -> Any:
    """PC1/PC2 scatter of the emotions at `site`, coloured by valence (left) and arousal (right).

    Emotions without norms are grey. Returns the matplotlib figure (Agg).
    """
    from matplotlib.figure import Figure

    geo = report.at(report.recommended if site is None else site)
    names = report.emotions
    rated = {e: i for i, e in enumerate(report.ratings.emotions)}
    xy = geo.coords[:, :2].numpy() if geo.coords.shape[1] >= 2 else None
    fig = Figure(figsize=(11.2, 5.0), layout="constrained")
    axes = fig.subplots(1, 2)
    if xy is None:
        return fig
    idx = [names.index(e) for e in report.ratings.emotions]
    grey = [i for i, e in enumerate(names) if e not in rated]
    for ax, name, cmap in zip(axes, RATINGS, ("RdYlGn", "viridis"), strict=True):
        ax.scatter(xy[grey, 0], xy[grey, 1], c="0.8", s=12, label="no norms")
        values = np.array(report.ratings.column(name))
        points = ax.scatter(xy[idx, 0], xy[idx, 1], c=values, cmap=cmap, s=18)
        fig.colorbar(points, ax=ax, label=f"human {name}")
        for i in _label_subset(xy, 30):
            ax.annotate(names[i], xy[i], fontsize=6, alpha=0.8)
        val = geo.corr(1, name)
        ax.set_title(
            f"{geo.site}: coloured by {name}\nr(PC1, {name}) = {val.pearson:+.2f},"
            f" r(PC2, {name}) = {geo.corr(2, name).pearson:+.2f}",
            fontsize=9,
        )
        ax.set_xlabel(f"PC1 ({geo.explained[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({geo.explained[1]:.0%})")
    return fig


def _label_subset(xy: np.ndarray, n: int) -> list[int]:
    """The `n` points farthest from the centre (labelling all 171 would be unreadable)."""
    dist = np.linalg.norm(xy - xy.mean(0), axis=1)
    return [int(i) for i in np.argsort(-dist)[:n]]


def plot_layer_sweep(report: GeometryReport) -> Any:
    """Per layer: |r| of valence and arousal with PC1/PC2 and their best top PC (left), and the
    number of components for 50% and 80% of the variance (right). Returns the figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.2, 3.8), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    for stream in sorted({s.site.stream for s in report.sites}):
        rows = [s for s in report.sites if s.site.stream == stream]
        layers = [s.site.layer for s in rows]
        tag = "" if len({s.site.stream for s in report.sites}) == 1 else f" {stream}"
        for name, colour in zip(RATINGS, ("tab:green", "tab:purple"), strict=True):
            best = [abs(s.alignment(name).pearson) for s in rows]
            own = [abs(s.corr(1 if name == "valence" else 2, name).pearson) for s in rows]
            ax.plot(layers, best, "-o", ms=3, color=colour, label=f"{name}: best top PC{tag}")
            pc = "PC1" if name == "valence" else "PC2"
            ax.plot(layers, own, "--", color=colour, alpha=0.6, label=f"{name}: {pc}{tag}")
        for level, style in zip(VARIANCE_LEVELS, ("-o", "-s"), strict=True):
            counts = [s.n_for_variance[level] for s in rows]
            bx.plot(layers, counts, style, ms=3, label=f"{level:.0%} of variance{tag}")
    for a in (ax, bx):
        a.axvline(report.recommended.layer, color="0.5", ls=":", label="recommended")
        a.set_xlabel("layer")
    ax.axhline(0.81, color="tab:green", lw=0.8, alpha=0.4)
    ax.axhline(0.66, color="tab:purple", lw=0.8, alpha=0.4)
    ax.set_ylabel("|Pearson r| with human rating")
    ax.set_ylim(0, 1)
    ax.set_title("valence/arousal alignment (faint lines: paper 0.81 / 0.66)", fontsize=9)
    bx.set_ylabel("components needed")
    bx.set_title("components for 50% / 80% of variance", fontsize=9)
    ax.legend(fontsize=6)
    bx.legend(fontsize=7)
    return fig
