"""The main job's steering stage: the pressure suite, desperate and calm against random directions.

Each situation offers an honest failure and a shortcut; steering toward desperation should make
the shortcut likelier and toward calm less likely (the paper's direction). Effects carry
bootstrap 95% CIs over situations and sit next to the band of norm-matched random directions at
the same strength: an effect inside the band is not evidence of anything emotion-specific.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._context import identity
from ._stages import Stage

Context = dict[str, Any]

EMOTIONS = ("desperate", "calm")
STRENGTH = 0.05  # the paper's strength, a fraction of the site's mean residual norm
N_RANDOM = 20


def steer_stage(ctx: Context, done: Mapping[str, Any]) -> Stage:

    quick = bool(getattr(ctx["args"], "quick", False))
    settings = {
        "emotions": list(EMOTIONS),
        "strength": STRENGTH,
        "n_random": 4 if quick else N_RANDOM,
        "orders": "random" if quick else "both",
        "seed": int(getattr(ctx["args"], "seed", 0)),
    }
    inputs = {**identity(ctx), "bundle": done["vectors"]["digest"], **settings}

    def run(out: Path) -> dict[str, Any]:
        from emovec.interventions import pressure_suite
        from emovec.vectors import EmotionVectors

        vectors = EmotionVectors.load(out / done["vectors"]["bundle_file"])
        result = pressure_suite(
            ctx["backend"],
            vectors,
            emotions=[e for e in EMOTIONS if e in vectors.emotions],
            strengths=(STRENGTH,),
            n_random=settings["n_random"],
            orders=settings["orders"],
            seed=settings["seed"],
        )
        result.save(out / "steer")
        (out / "steer" / "pressure.txt").write_text(result.summary() + "\n")
        headline = {}
        for c in result.conditions:
            verdict = "outside" if c["outside"] else "inside"
            headline[f"steer {c['emotion']} {c['strength']:+g}: change in P(shortcut)"] = (
                f"{c['effect']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}],"
                f" {verdict} the random band [{c['band'][0]:+.4f}, {c['band'][1]:+.4f}]"
            )
        return {
            "pressure_file": "steer/pressure.json",
            "summary_file": "steer/pressure.txt",
            "site": result.site,
            "baseline_p_shortcut": result.baseline["p"],
            "headline": headline,
        }

    return Stage("steer", inputs, run)
