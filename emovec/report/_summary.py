"""The report's headline: our numbers next to the paper's and the project's floors."""

from typing import Any

from emovec.analysis._geometry_report import RATINGS

PAPER = {"valence_r": 0.81, "arousal_r": 0.66}
FLOORS = {
    "heldout_top1_over_chance": 10.0,
    "tylenol_rho_afraid": 0.8,
    "valence_readout_r": 0.75,
    "valence_pc12_abs_r": 0.6,
}


def summarize(numbers: dict[str, Any]) -> tuple[tuple[str, Any, Any, str], ...]:
    """The headline checks from a report's numbers: `(check, ours, reference, verdict)`.

    Verdicts: "PASS"/"FAIL" against a floor, "reference" against the paper's number (which is
    from a far larger model), "n/a" when the analysis did not run.

    Example:
        >>> summarize({"heldout": {"best_top1": 0.2, "chance": 0.01, "best_site": "resid_post.3"}})[0]
        ('held-out top-1 / chance (floor 10x)', 20.0, 10.0, 'PASS')
    """
    rows: list[tuple[str, Any, Any, str]] = []
    held = numbers.get("heldout")
    if held:
        ratio = held["best_top1"] / held["chance"]
        verdict = "PASS" if ratio >= FLOORS["heldout_top1_over_chance"] else "FAIL"
        rows.append(("held-out top-1 / chance (floor 10x)", ratio, 10.0, verdict))
        rows.append((f"held-out top-1 at {held['best_site']}", held["best_top1"], None, "info"))
        if lex := held.get("lexical"):
            rows.append(("held-out top-1, words alone (no model)", lex["top1"], None, "info"))
        best = next((r for r in held.get("rows", ()) if r["site"] == held["best_site"]), None)
        if best and best.get("template_top1") is not None:
            rows.append(("held-out top-1, template control", best["template_top1"], None, "info"))
        if rel := held.get("reliability"):
            top = max(rel["rows"], key=lambda r: r["structure_r"])
            rows.append(
                (f"split-half structure r, best at {top['site']}", top["structure_r"], None, "info")
            )
    else:
        rows.append(("held-out top-1 / chance (floor 10x)", None, 10.0, "n/a (no corpus)"))
    sweeps = numbers.get("sweeps") or {}
    tylenol = next((f for f in sweeps.get("families", []) if f["family"] == "tylenol"), None)
    if tylenol and "afraid" in tylenol["best"]:
        best = tylenol["best"]["afraid"]
        verdict = "PASS" if best["rho"] >= FLOORS["tylenol_rho_afraid"] else "FAIL"
        rows.append((f"tylenol rho(dose, afraid) at {best['site']}", best["rho"], 0.8, verdict))
        rows.append(
            ("tylenol afraid: permutation p of the best layer", best.get("p"), None, "info")
        )
        if "calm" in tylenol["best"]:
            calm = tylenol["best"]["calm"]
            rows.append((f"tylenol rho(dose, calm) at {calm['site']}", calm["rho"], None, "info"))
    else:
        rows.append(("tylenol rho(dose, afraid)", None, 0.8, "n/a"))
    geo = numbers.get("geometry")
    if geo:
        for rating in RATINGS:
            pc = 1 if rating == "valence" else 2
            best_any = max(
                (
                    (abs(c["pearson"]), c["pc"], s["site"])
                    for s in geo["sites"]
                    for c in s["correlations"]
                    if c["rating"] == rating and c["pearson"] == c["pearson"]
                ),
                default=None,
            )
            own = max(
                (
                    (abs(c["pearson"]), s["site"])
                    for s in geo["sites"]
                    for c in s["correlations"]
                    if c["rating"] == rating and c["pc"] == pc and c["pearson"] == c["pearson"]
                ),
                default=None,
            )
            ref = PAPER[f"{rating}_r"]
            if own:
                rows.append(
                    (f"{rating} vs PC{pc}: largest abs(r), at {own[1]}", own[0], ref, "reference")
                )
            if best_any:
                rows.append(
                    (
                        f"{rating} vs any top-3 PC: largest abs(r), PC{best_any[1]} at {best_any[2]}",
                        best_any[0],
                        ref,
                        "reference",
                    )
                )
        rows.extend(_readout_rows(geo))
    return tuple(rows)


def _readout_rows(geo: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """Floors on valence: the leave-one-emotion-out readout, and PC1 or PC2 at the best site."""
    out: list[tuple[str, Any, Any, str]] = []
    for rating in RATINGS:
        scored = [(s["readout"][rating], s["site"]) for s in geo["sites"] if s.get("readout")]
        scored = [(r, site) for r, site in scored if r == r]
        if not scored:
            continue
        r, site = max(scored)
        if rating == "valence":
            floor = FLOORS["valence_readout_r"]
            verdict = "PASS" if r >= floor else "FAIL"
            out.append(
                (f"valence: leave-one-emotion-out ridge r, best at {site}", r, floor, verdict)
            )
        else:
            out.append((f"arousal: leave-one-emotion-out ridge r, best at {site}", r, None, "info"))
    pc12 = [
        (abs(c["pearson"]), c["pc"], s["site"])
        for s in geo["sites"]
        for c in s["correlations"]
        if c["rating"] == "valence" and c["pc"] in (1, 2) and c["pearson"] == c["pearson"]
    ]
    if pc12:
        r, pc, site = max(pc12)
        floor = FLOORS["valence_pc12_abs_r"]
        verdict = "PASS" if r >= floor else "FAIL"
        out.append((f"valence on PC1 or PC2: abs(r), PC{pc} at {site}", r, floor, verdict))
    return out
