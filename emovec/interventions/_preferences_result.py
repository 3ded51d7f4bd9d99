"""`PreferenceResult`: what the preference suite found, with its summary and figure."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._experiment import ExperimentResult
from ._plots import figure, save_figure


@dataclass
class PreferenceResult(ExperimentResult):
    """What `preference_suite` found (plain data; `.save(folder)` writes JSON and plots)."""

    activities: list[dict[str, Any]]
    category_elo: dict[str, float]
    probe_site: str
    probe_r: dict[str, float]
    steer_site: str
    strength: float
    targets: list[str]
    steering: dict[str, dict[str, Any]]
    random_shifts: list[float]
    band: tuple[float, float]
    letter_mass: float
    p_first: float
    settings: dict[str, Any] = field(default_factory=dict)

    stem = "preferences"

    def summary(self) -> str:
        lines = [
            f"preference suite: {len(self.activities)} activities, mean P(A or B) = {self.letter_mass:.3f},"
            f" mean P(A | A,B) = {self.p_first:.3f}",
            "Elo by category: "
            + ", ".join(
                f"{k} {v:.0f}" for k, v in sorted(self.category_elo.items(), key=lambda kv: -kv[1])
            ),
            f"probe (at {self.probe_site}) vs Elo: "
            + ", ".join(
                f"{e} r={self.probe_r[e]:.2f}"
                for e in self.steering
                if self.probe_r.get(e) is not None
            ),
            f"steering at {self.steer_site}, strength {self.strength} on the target's tokens, {len(self.targets)} targets:",
        ]
        lo, hi = self.band
        for emotion, row in self.steering.items():
            ci = row["ci"]
            lines.append(
                f"  {emotion:12s} Elo shift {row['shift']:+8.1f}  95% CI [{ci[0]:+.1f}, {ci[1]:+.1f}]"
                f"  random band [{lo:+.1f}, {hi:+.1f}]  {'OUTSIDE' if row['outside'] else 'inside'} the band"
            )
        return "\n".join(lines)

    def plot(self, stem: "str | Path") -> list[Path]:
        fig, axes = figure(3, width=4.8, height=4.0)
        acts = sorted(self.activities, key=lambda a: a["elo"])
        cats = sorted({a["category"] for a in acts})
        colour = {c: f"C{i % 10}" for i, c in enumerate(cats)}
        ax = axes[0]
        ax.barh(
            range(len(acts)),
            [a["elo"] - 1500 for a in acts],
            left=1500,
            color=[colour[a["category"]] for a in acts],
        )
        ax.set_yticks(range(len(acts)), [a["id"] for a in acts], fontsize=5)
        ax.set_xlabel("Elo")
        for c in cats:
            ax.plot([], [], "s", color=colour[c], label=c)
        ax.legend(fontsize=6)
        ax = axes[1]
        emotions = list(self.steering)[:2]
        for k, emotion in enumerate(emotions):
            xs = [a["probe"].get(emotion) for a in self.activities]
            ys = [a["elo"] for a in self.activities]
            ax.scatter(
                xs,
                ys,
                s=12,
                color=f"C{k}",
                label=f"{emotion} (r={self.probe_r.get(emotion) or float('nan'):.2f})",
            )
        ax.set_xlabel(f"probe reading on activity tokens ({self.probe_site})")
        ax.set_ylabel("Elo")
        ax.legend(fontsize=7)
        ax = axes[2]
        ax.axhspan(*self.band, color="0.6", alpha=0.35, label="random band")
        ax.scatter(
            np.zeros(len(self.random_shifts)) - 0.5,
            self.random_shifts,
            s=8,
            color="0.4",
            label="random directions",
        )
        for k, (emotion, row) in enumerate(self.steering.items()):
            ax.errorbar(
                [k + 0.5],
                [row["shift"]],
                yerr=[[row["shift"] - row["ci"][0]], [row["ci"][1] - row["shift"]]],
                fmt="o",
                color=f"C{k}",
                label=emotion,
            )
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks([])
        ax.set_ylabel("Elo shift of the steered activity")
        ax.legend(fontsize=7)
        return save_figure(fig, stem)
