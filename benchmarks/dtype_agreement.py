"""Do the main job's headline numbers in bfloat16 lie within the noise of the float32 run?

    python benchmarks/dtype_agreement.py runs/replicate-fp32 runs/replicate

reads two finished `emovec replicate` folders (float32 first, then bfloat16) and compares each
headline number against a noise yardstick from the float32 run itself:

- numbers computed from the vectors alone (valence and arousal readout r, valence on PC1 or
  PC2): the same number computed on the float32 run's two topic halves
  (`vectors/half_{a,b}.safetensors`, each from 6 of the 12 topics). Within noise when the
  dtype moves the number less than swapping one half of the corpus for the other does.
- held-out top-1: two binomial standard errors over the held-out stories.
- monitor AUROC at the default site: the half-width of the float32 run's 95% bootstrap interval.
- tylenol rho(dose, afraid): the same sign and both above the 0.8 floor, or equal.

Last line `bf16_headlines_within_noise: K/N`.
"""

import json
import math
import sys
from pathlib import Path

from emovec.analysis import geometry_report
from emovec.vectors import EmotionVectors


def load(run: Path, name: str) -> dict:
    return json.loads((run / name).read_text())


def vector_numbers(numbers: dict) -> dict[str, float]:
    """Readout r (best site) and largest |r| of valence with PC1 or PC2, from report numbers."""
    sites = numbers["sites"]
    out = {
        f"{rating} readout r (best site)": max(s["readout"][rating] for s in sites)
        for rating in ("valence", "arousal")
    }
    out["valence |r| on PC1 or PC2 (best site)"] = max(
        abs(c["pearson"])
        for s in sites
        for c in s["correlations"]
        if c["rating"] == "valence" and c["pc"] in (1, 2)
    )
    return out


def main() -> None:
    fp32, bf16 = (Path(p) for p in sys.argv[1:3])
    for run in (fp32, bf16):
        meta = EmotionVectors.load(run / "vectors" / "emotion_vectors.safetensors").metadata
        print(f"{run}: dtype {meta.get('dtype')}, corpus {meta['corpus'].get('content_hash')}")
    rows: list[tuple[str, float, float, float, str]] = []
    # From the vectors: the float32 halves give the yardstick.
    geo = {
        run: vector_numbers(load(run, "report/numbers.json")["geometry"]) for run in (fp32, bf16)
    }
    halves = [
        vector_numbers(
            geometry_report(
                EmotionVectors.load(fp32 / "vectors" / f"half_{h}.safetensors"), n_resamples=10
            ).as_dict()
        )
        for h in ("a", "b")
    ]
    for key in geo[fp32]:
        rows.append(
            (key, geo[fp32][key], geo[bf16][key], abs(halves[0][key] - halves[1][key]),
             "|half A - half B|")
        )  # fmt: skip
    held = {run: load(run, "vectors/heldout.json") for run in (fp32, bf16)}
    p, n = held[fp32]["best_top1"], held[fp32]["n_test"]
    rows.append(
        (f"held-out top-1 (best site; fp32 {held[fp32]['best_site']}, bf16 {held[bf16]['best_site']})",
         p, held[bf16]["best_top1"], 2 * math.sqrt(p * (1 - p) / n), "2 binomial SE")
    )  # fmt: skip
    monitor = {run: load(run, "stages/monitor.json")["outputs"] for run in (fp32, bf16)}
    evaluation = load(fp32, "monitor/evaluation.json")
    site = monitor[fp32]["default_site"]
    at = next(s for s in evaluation["sites"] if s["site"] == site)
    half_width = (
        (at["auroc_high"] - at["auroc_low"]) / 2
        if at.get("auroc_low") is not None
        else float("nan")
    )
    rows.append(
        (f"monitor AUROC at {site}", monitor[fp32]["auroc_default"], monitor[bf16]["auroc_default"],
         half_width, "95% bootstrap half-width")
    )  # fmt: skip
    print(f"{'headline number':58s} {'float32':>8s} {'bfloat16':>8s} {'|diff|':>7s} {'noise':>7s}")
    within = 0
    for key, a, b, noise, how in rows:
        ok = abs(a - b) <= noise
        within += ok
        print(
            f"{key:58s} {a:8.3f} {b:8.3f} {abs(a - b):7.3f} {noise:7.3f}  {how}{'' if ok else '  OUTSIDE'}"
        )
    sweeps = {run: load(run, "report/numbers.json")["sweeps"] for run in (fp32, bf16)}
    rho = {
        run: next(f for f in s["families"] if f["family"] == "tylenol")["best"]["afraid"]["rho"]
        for run, s in sweeps.items()
    }
    ok = rho[fp32] == rho[bf16] or (min(rho.values()) >= 0.8)
    within += ok
    print(f"{'tylenol rho(dose, afraid), best layer':58s} {rho[fp32]:8.3f} {rho[bf16]:8.3f}"
          f" {abs(rho[fp32] - rho[bf16]):7.3f}       -  both above the 0.8 floor{'' if ok else '  NO'}")  # fmt: skip
    print(f"bf16_headlines_within_noise: {within}/{len(rows) + 1}")


if __name__ == "__main__":
    main()
