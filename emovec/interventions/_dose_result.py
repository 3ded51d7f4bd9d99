"""`DoseResponse`: what a dose-response sweep found, with its table and figure."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._experiment import ExperimentResult
from ._plots import figure, save_figure


@dataclass
class DoseResponse(ExperimentResult):
    """Result of `dose_response`: plain lists, indexed `[site][strength]` (and `[seed]`).

    Attributes:
        effect: Emotion effect: mean metric over prompts, steered minus unsteered.
        random: The random directions' effects `[site][strength][seed]`.
        band: `(low, high)` percentiles of `random` at each site and strength.
        outside: Whether `effect` lies outside `band`.
        leaves_band: Per site, the smallest-magnitude positive and negative strength at which
            the effect is outside the band (None where it never is).
        shuffled: The shuffled-label control's effects (None without one).
        kl_neutral: Mean per-token KL(unsteered || steered) on neutral text, emotion vector.
        kl_neutral_random: The same for the first few random directions (median).
        perplexity: Perplexity of steered generations under the unsteered model (emotion).
    """

    emotion: str
    metric: str
    sites: list[str]
    strengths: list[float]
    baseline: float
    effect: list[list[float]]
    random: list[list[list[float]]]
    band: list[list[tuple[float, float]]]
    outside: list[list[bool]]
    leaves_band: dict[str, dict[str, float | None]]
    shuffled: list[list[float]] | None = None
    shuffled_label: str | None = None
    kl_neutral: list[list[float]] | None = None
    kl_neutral_random: list[list[float]] | None = None
    perplexity: list[list[float]] | None = None
    perplexity_baseline: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    stem = "dose_response"

    def summary(self) -> str:
        """A short table: per site and strength, effect, band and whether it is outside."""
        lines = [
            f"dose-response of {self.emotion!r} on {self.metric} (baseline {self.baseline:.4g})"
        ]
        lines.append(f"{'site':16s}{'strength':>10s}{'effect':>12s}{'random band':>26s}  outside")
        for i, site in enumerate(self.sites):
            for j, s in enumerate(self.strengths):
                lo, hi = self.band[i][j]
                lines.append(
                    f"{site:16s}{s:>10.3g}{self.effect[i][j]:>12.4g}   [{lo:>10.4g}, {hi:>10.4g}]  "
                    f"{'yes' if self.outside[i][j] else 'no'}"
                )
        for site, where in self.leaves_band.items():
            lines.append(
                f"{site}: leaves the random band at +{where['positive']} / {where['negative']}"
            )
        return "\n".join(lines)

    def plot(self, stem: "str | Path") -> list[Path]:
        n = len(self.sites)
        extra = self.kl_neutral is not None
        fig, axes = figure(n * (2 if extra else 1), rows=2 if extra else 1)
        x = np.array(self.strengths)
        for i, site in enumerate(self.sites):
            ax = axes[i]
            rand = np.array(self.random[i])  # [strength, seed]
            for seed in range(rand.shape[1]):
                ax.plot(x, rand[:, seed], color="0.75", lw=0.6, zorder=1)
            lo, hi = np.array(self.band[i]).T
            ax.fill_between(x, lo, hi, color="0.6", alpha=0.35, label="random band", zorder=2)
            ax.plot(x, self.effect[i], "o-", color="C3", label=self.emotion, zorder=4)
            if self.shuffled is not None:
                ax.plot(
                    x,
                    self.shuffled[i],
                    "s--",
                    color="C0",
                    label=f"shuffled ({self.shuffled_label})",
                    zorder=3,
                )
            ax.axhline(0, color="k", lw=0.5)
            ax.set_title(f"{site}")
            ax.set_xlabel(
                "strength (fraction of residual norm)"
                if self.settings.get("relative", True)
                else "strength"
            )
            ax.set_ylabel(f"change in {self.metric}")
            ax.legend(fontsize=7)
            if self.kl_neutral is not None:
                side = axes[n + i]
                side.plot(
                    x, self.kl_neutral[i], "o-", color="C3", label=f"KL neutral ({self.emotion})"
                )
                if self.kl_neutral_random is not None:
                    side.plot(
                        x,
                        self.kl_neutral_random[i],
                        "o--",
                        color="0.5",
                        label="KL neutral (random)",
                    )
                side.set_ylabel("KL (nats/token)")
                side.set_xlabel("strength")
                if self.perplexity is not None:
                    twin = side.twinx()
                    twin.plot(
                        x, self.perplexity[i], "^:", color="C2", label="perplexity of generations"
                    )
                    twin.set_ylabel("perplexity", color="C2")
                side.legend(fontsize=7, loc="upper left")
        return save_figure(fig, stem)
