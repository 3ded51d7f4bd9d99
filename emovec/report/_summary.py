"""The report's headline: our numbers next to the paper's and the project's floors."""

from typing import Any

from emovec.analysis._ratings import RATINGS

from ._numbers import GeometryNumbers, HeldoutNumbers

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
    if numbers.get("heldout"):
        rows += _heldout_rows(HeldoutNumbers.from_dict(numbers["heldout"]))
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
    if numbers.get("geometry"):
        geo = GeometryNumbers.from_dict(numbers["geometry"])
        rows += _reference_rows(geo)
        rows += _readout_rows(geo)
    return tuple(rows)


def _heldout_rows(held: HeldoutNumbers) -> list[tuple[str, Any, Any, str]]:
    """The held-out floor, and beside it the words-alone, template and reliability numbers."""
    ratio = held.best_top1 / held.chance
    verdict = "PASS" if ratio >= FLOORS["heldout_top1_over_chance"] else "FAIL"
    rows: list[tuple[str, Any, Any, str]] = [
        ("held-out top-1 / chance (floor 10x)", ratio, 10.0, verdict),
        (f"held-out top-1 at {held.best_site}", held.best_top1, None, "info"),
    ]
    if held.lexical:
        rows.append(("held-out top-1, words alone (no model)", held.lexical["top1"], None, "info"))
    best = held.at(held.best_site)
    if best and best.template_top1 is not None:
        rows.append(("held-out top-1, template control", best.template_top1, None, "info"))
    if held.reliability is not None and held.reliability.rows:
        top = held.reliability.best
        rows.append((f"split-half structure r, best at {top.site}", top.structure_r, None, "info"))
    return rows


def _reference_rows(geo: GeometryNumbers) -> list[tuple[str, Any, Any, str]]:
    """Valence and arousal against the paper's numbers: on their own PC, and on any top PC."""
    rows: list[tuple[str, Any, Any, str]] = []
    for rating in RATINGS:
        pc = 1 if rating == "valence" else 2
        best_any = geo.strongest(rating)
        own = geo.strongest(rating, (pc,))
        ref = PAPER[f"{rating}_r"]
        if own:
            rows.append(
                (f"{rating} vs PC{pc}: largest abs(r), at {own[2]}", own[0], ref, "reference")
            )
        if best_any:
            r, best_pc, site = best_any
            label = f"{rating} vs any top-3 PC: largest abs(r), PC{best_pc} at {site}"
            rows.append((label, r, ref, "reference"))
    return rows


def _readout_rows(geo: GeometryNumbers) -> list[tuple[str, Any, Any, str]]:
    """Floors on valence: the leave-one-emotion-out readout, and PC1 or PC2 at the best site."""
    out: list[tuple[str, Any, Any, str]] = []
    for rating in RATINGS:
        if (best := geo.best_readout(rating)) is None:
            continue
        r, site = best
        if rating == "valence":
            floor = FLOORS["valence_readout_r"]
            verdict = "PASS" if r >= floor else "FAIL"
            out.append(
                (f"valence: leave-one-emotion-out ridge r, best at {site}", r, floor, verdict)
            )
        else:
            out.append((f"arousal: leave-one-emotion-out ridge r, best at {site}", r, None, "info"))
    if pc12 := geo.strongest("valence", (1, 2)):
        r, pc, site = pc12
        floor = FLOORS["valence_pc12_abs_r"]
        verdict = "PASS" if r >= floor else "FAIL"
        out.append((f"valence on PC1 or PC2: abs(r), PC{pc} at {site}", r, floor, verdict))
    return out
