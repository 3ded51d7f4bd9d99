"""The report's headline and per-layer tables as Markdown (the generated `docs/results.md`).

The page is the headline, then each registered section's own lines (`ReportSection.markdown`,
written here per analysis from its saved numbers, read through the typed views of `_numbers`).
"""

import math
from collections.abc import Mapping
from typing import Any

from emovec.analysis._ratings import RATINGS

from ._numbers import GeometryNumbers, HeldoutNumbers
from ._registry import ReportResult, sections


def summary_markdown(result: ReportResult, *, command: str = "") -> str:
    """The report's headline and per-layer tables as Markdown (for `docs/results.md`)."""
    n = result.numbers
    lines = ["# Validation results (generated)", ""]
    lines += [
        "This page is written by `emovec report ... --markdown`; do not edit it by hand.",
        "",
    ]
    if command:
        lines += ["Command:", "", f"    {command}", ""]
    lines += [f"- {k}: {v}" for k, v in n["bundle"].items() if k != "recipe"]
    lines += [f"- wall time: {n.get('seconds')} s", ""]
    lines += ["## Headline", "", "| check | ours | reference | verdict |", "|---|---|---|---|"]
    for check, ours, ref, verdict in result.summary:
        lines.append(f"| {_md(check)} | {_md(ours)} | {_md(ref)} | {verdict} |")
    for section in sorted(sections(), key=lambda s: s.markdown_rank):
        if section.markdown is not None and n.get(section.key):
            lines += section.markdown(n[section.key])
    return "\n".join(lines) + "\n"


def geometry_markdown(numbers: Mapping[str, Any]) -> list[str]:
    """The per-site geometry table."""
    geo = GeometryNumbers.from_dict(numbers)
    lines = ["", "## Geometry per site", ""]
    lines += [f"Recommended site: {geo.recommended_site}. {geo.rule}", ""]
    lines += [
        "Readout r: leave-one-emotion-out ridge regression from the vectors to the human"
        " rating (penalty chosen inside each training fold), correlated with the ratings.",
        "",
    ]
    lines += [
        "| site | PC1 var | r(PC1,val) | r(PC2,aro) | best r val (PC) | best r aro (PC) |"
        " readout r val | readout r aro | n50 | n80 |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|---|---|"]
    for s in geo.sites:
        if s.pearson(1, "valence") is None:
            raise ValueError(f"The geometry of {s.site} has no PC1-valence correlation.")
        best = {r: s.best(r) for r in RATINGS}
        lines.append(
            f"| {s.site} | {_md(s.explained_top[0])} | {_md(s.pearson(1, 'valence'))} |"
            f" {_md(s.pearson(2, 'arousal'))} |"
            + "".join(f" {_md(best[r].pearson)} (PC{best[r].pc}) |" for r in RATINGS)
            + "".join(f" {_md(s.readout.get(r))} |" for r in RATINGS)
            + f" {s.n_for_variance.get('0.5')} | {s.n_for_variance.get('0.8')} |"
        )
    return lines


def sweeps_markdown(sweeps: Mapping[str, Any]) -> list[str]:
    """The best layer per emotion of each intensity family."""
    lines = ["", "## Intensity sweeps (best layer per emotion)", ""]
    lines += ["| family | emotion | expected | best rho | at | permutation p |"]
    lines += ["|---|---|---|---|---|---|"]
    for f in sweeps["families"]:
        for e, b in f["best"].items():
            expected = "rises" if e in f["rises"] else "falls"
            lines.append(
                f"| {f['family']} | {e} | {expected} | {_md(b['rho'])} | {b['site']} |"
                f" {_md(b.get('p'))} |"
            )
    return lines


def heldout_markdown(numbers: Mapping[str, Any]) -> list[str]:
    """Held-out accuracy per site, the words-alone baseline, reliability and mistakes."""
    held = HeldoutNumbers.from_dict(numbers)
    lines = ["", "## Held-out identification", ""]
    lines += [
        f"chance top-1 = {held.chance:.4f}; {held.n_train} train / {held.n_test} test stories",
        "",
    ]
    lines += [
        "| site | story top-1 | story top-5 | template top-1 | template top-5 |",
        "|---|---|---|---|---|",
    ]
    for r in held.rows:
        lines.append(
            f"| {r.site} | {_md(r.story_top1)} | {_md(r.story_top5)} |"
            f" {_md(r.template_top1)} | {_md(r.template_top5)} |"
        )
    if lex := held.lexical:
        lines += [
            "",
            f"Words alone (bag-of-words classifier, same split, no model): top-1"
            f" {_md(lex['top1'])} ({lex['top1'] / held.chance:.1f}x chance), top-5"
            f" {_md(lex['top5'])}.",
        ]
    if rel := held.reliability:
        lines += [
            "",
            "### Split-half reliability",
            "",
            f"Vectors from two disjoint halves of the topics ({len(rel.halves[0])} and"
            f" {len(rel.halves[1])}), {rel.n_emotions} emotions. Structure r: correlation"
            " of the halves' emotion-by-emotion cosine matrices; match cos: mean cosine of an"
            " emotion's two vectors; match@1: share of emotions whose vector from one half is"
            f" nearest its own from the other (chance {1 / rel.n_emotions:.4f}).",
            "",
            "| site | structure r | match cos | match@1 |",
            "|---|---|---|---|",
        ]
        for row in rel.rows:
            lines.append(
                f"| {row.site} | {_md(row.structure_r)} | {_md(row.matching_cosine)} |"
                f" {_md(row.matching_top1)} |"
            )
    if held.confusions:
        mistakes = ", ".join(f"{t} -> {p} ({c})" for t, p, c in held.confusions)
        lines += ["", f"Most frequent mistakes at {held.best_site}: {mistakes}"]
    return lines


def similarity_markdown(sim: Mapping[str, Any]) -> list[str]:
    """Clustering and opposite-valence cosines at the chosen site."""
    return [
        "",
        f"## Similarity at {sim['site']}",
        "",
        f"- k-means k={sim['k']}, silhouette {_md(sim['silhouette'])}",
        f"- opposite-valence pairs mean cosine {_md(sim['opposite_pairs_mean']['all'])}"
        f" (all pairs {_md(sim['mean_offdiagonal_cosine'])})",
    ]


def lens_markdown(lens: Mapping[str, Any]) -> list[str]:
    """How often the logit lens finds an emotion's own word."""
    return [
        f"- logit lens at {lens['site']}: own word in the top 1% for"
        f" {_md(lens['own_token_in_top_1pct'])} of emotions",
    ]


def scenarios_markdown(scen: Mapping[str, Any]) -> list[str]:
    """The best accuracy on the implicit scenarios (nothing when they were skipped)."""
    if "accuracy" not in scen:
        return []
    return [
        f"- implicit scenarios: best accuracy {_md(max(scen['accuracy']))} at"
        f" {scen['best_site']} (chance {_md(scen['chance'])})"
    ]


def _md(value: Any) -> str:
    """A Markdown table cell: 3 decimals, "n/a" for None/NaN, pipes escaped."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.3f}"
    return str(value).replace("|", "\\|")
