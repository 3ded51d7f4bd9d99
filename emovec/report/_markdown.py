"""The report's headline and per-layer tables as Markdown (the generated `docs/results.md`)."""

import math
from typing import Any

from emovec.analysis._geometry_report import RATINGS

from ._build import ReportResult


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
    facts = n["bundle"]
    lines += [f"- {k}: {v}" for k, v in facts.items() if k != "recipe"]
    lines += [f"- wall time: {n.get('seconds')} s", ""]
    lines += ["## Headline", "", "| check | ours | reference | verdict |", "|---|---|---|---|"]
    for check, ours, ref, verdict in result.summary:
        lines.append(f"| {_md(check)} | {_md(ours)} | {_md(ref)} | {verdict} |")
    geo = n.get("geometry")
    if geo:
        lines += ["", "## Geometry per site", ""]
        lines += [f"Recommended site: {geo['recommended_site']}. {geo['rule']}", ""]
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
        for s in geo["sites"]:
            cs = s["correlations"]
            pc1_val = next(c for c in cs if c["pc"] == 1 and c["rating"] == "valence")
            pc2_aro = next((c for c in cs if c["pc"] == 2 and c["rating"] == "arousal"), None)
            best = {
                r: max((c for c in cs if c["rating"] == r), key=lambda c: abs(c["pearson"] or 0))
                for r in RATINGS
            }
            lines.append(
                f"| {s['site']} | {_md(s['explained_top'][0])} | {_md(pc1_val['pearson'])} |"
                f" {_md(pc2_aro and pc2_aro['pearson'])} |"
                + "".join(f" {_md(best[r]['pearson'])} (PC{best[r]['pc']}) |" for r in RATINGS)
                + "".join(f" {_md((s.get('readout') or {}).get(r))} |" for r in RATINGS)
                + f" {s['n_for_variance'].get('0.5')} | {s['n_for_variance'].get('0.8')} |"
            )
    sweeps = n.get("sweeps")
    if sweeps:
        lines += ["", "## Intensity sweeps (best layer per emotion)", ""]
        lines += ["| family | emotion | expected | best rho | at | permutation p |"]
        lines += ["|---|---|---|---|---|---|"]
        for f in sweeps["families"]:
            for e, b in f["best"].items():
                expected = "rises" if e in f["rises"] else "falls"
                lines.append(
                    f"| {f['family']} | {e} | {expected} | {_md(b['rho'])} | {b['site']} |"
                    f" {_md(b.get('p'))} |"
                )
    held = n.get("heldout")
    if held:
        lines += ["", "## Held-out identification", ""]
        lines += [
            f"chance top-1 = {held['chance']:.4f}; {held['n_train']} train / {held['n_test']} test stories",
            "",
        ]
        lines += [
            "| site | story top-1 | story top-5 | template top-1 | template top-5 |",
            "|---|---|---|---|---|",
        ]
        for r in held["rows"]:
            lines.append(
                f"| {r['site']} | {_md(r['story_top1'])} | {_md(r['story_top5'])} |"
                f" {_md(r['template_top1'])} | {_md(r['template_top5'])} |"
            )
        if held.get("lexical"):
            lex = held["lexical"]
            lines += [
                "",
                f"Words alone (bag-of-words classifier, same split, no model): top-1"
                f" {_md(lex['top1'])} ({lex['top1'] / held['chance']:.1f}x chance), top-5"
                f" {_md(lex['top5'])}.",
            ]
        rel = held.get("reliability")
        if rel:
            lines += [
                "",
                "### Split-half reliability",
                "",
                f"Vectors from two disjoint halves of the topics ({len(rel['halves'][0])} and"
                f" {len(rel['halves'][1])}), {rel['n_emotions']} emotions. Structure r: correlation"
                " of the halves' emotion-by-emotion cosine matrices; match cos: mean cosine of an"
                " emotion's two vectors; match@1: share of emotions whose vector from one half is"
                f" nearest its own from the other (chance {1 / rel['n_emotions']:.4f}).",
                "",
                "| site | structure r | match cos | match@1 |",
                "|---|---|---|---|",
            ]
            for r in rel["rows"]:
                lines.append(
                    f"| {r['site']} | {_md(r['structure_r'])} | {_md(r['matching_cosine'])} |"
                    f" {_md(r['matching_top1'])} |"
                )
        if held.get("confusions"):
            mistakes = ", ".join(f"{t} -> {p} ({c})" for t, p, c in held["confusions"])
            lines += ["", f"Most frequent mistakes at {held['best_site']}: {mistakes}"]
    sim = n.get("similarity")
    if sim:
        lines += ["", f"## Similarity at {sim['site']}", ""]
        lines += [
            f"- k-means k={sim['k']}, silhouette {_md(sim['silhouette'])}",
            f"- opposite-valence pairs mean cosine {_md(sim['opposite_pairs_mean']['all'])}"
            f" (all pairs {_md(sim['mean_offdiagonal_cosine'])})",
        ]
    lens = n.get("logit_lens")
    if lens:
        lines += [
            f"- logit lens at {lens['site']}: own word in the top 1% for"
            f" {_md(lens['own_token_in_top_1pct'])} of emotions",
        ]
    scen = n.get("scenarios")
    if scen and "accuracy" in scen:
        lines += [
            f"- implicit scenarios: best accuracy {_md(max(scen['accuracy']))} at"
            f" {scen['best_site']} (chance {_md(scen['chance'])})"
        ]
    return "\n".join(lines) + "\n"


def _md(value: Any) -> str:
    """A Markdown table cell: 3 decimals, "n/a" for None/NaN, pipes escaped."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.3f}"
    return str(value).replace("|", "\\|")
