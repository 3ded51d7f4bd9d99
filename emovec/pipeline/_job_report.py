"""The main job's report stage: every validation analysis on the bundle, as one HTML report.

Held-out identification was measured by the vectors stage in the same pass that built the
bundle; the report shows those numbers instead of reading the corpus a second time.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._context import identity
from ._stages import Stage

Context = dict[str, Any]


def report_stage(ctx: Context, done: Mapping[str, Any]) -> Stage:

    quick = bool(getattr(ctx["args"], "quick", False))
    n_resamples = 200 if quick else 1000
    inputs = {
        **identity(ctx),
        "bundle": done["vectors"]["digest"],
        "heldout": done["vectors"]["heldout_file"],
        "n_resamples": n_resamples,
        "seed": int(getattr(ctx["args"], "seed", 0)),
        "readout": 1,  # the headline carries the readouts
    }

    def run(out: Path) -> dict[str, Any]:
        from emovec.report import GeometryNumbers, build_report, summary_markdown

        heldout = json.loads((out / done["vectors"]["heldout_file"]).read_text())
        result = build_report(
            out / done["vectors"]["bundle_file"],
            ctx["backend"],
            heldout=heldout,
            out_dir=out / "report",
            n_resamples=n_resamples,
            seed=inputs["seed"],
        )
        (out / "report" / "summary.md").write_text(summary_markdown(result))
        headline = {}
        for name, value, floor, verdict in result.summary:
            if "tylenol" in name and "rho" in name and value is not None:
                headline[name] = f"{value:+.3f} (floor {floor}; {verdict})"
        # The readouts the report's geometry computed (leave-one-emotion-out ridge, per site).
        geo = GeometryNumbers.from_dict(result.numbers["geometry"])
        for rating, floor in (("valence", " (floor 0.75)"), ("arousal", "")):
            best = geo.best_readout(rating)
            assert best is not None, "the geometry section computes every site's readout"
            r, site = best
            headline[f"{rating} readout r (leave-one-emotion-out ridge)"] = (
                f"{r:+.3f} at {site}{floor}"
            )
        return {
            "report_file": "report/report.html",
            "numbers_file": "report/numbers.json",
            "summary_file": "report/summary.md",
            "headline": headline,
        }

    return Stage("report", inputs, run)
