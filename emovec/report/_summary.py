"""The report's headline: our numbers next to the paper's and the project's floors."""

from typing import Any

from emovec.analysis._geometry_report import RATINGS

PAPER = {"valence_r": 0.81, "arousal_r": 0.66}
FLOORS = {"heldout_top1_over_chance": 10.0, "tylenol_rho_afraid": 0.8}


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
    return tuple(rows)
