"""Implicit scenarios: prompts that evoke an emotion without naming it.

Per site, `implicit_scenarios` gives the probes-by-scenarios matrix (each probe z-scored across
scenarios, read as by `read_probes`) and how often a scenario's own emotion is the top probe
among the scenario emotions. Shipped scenarios: `emovec/data/sweeps/scenarios.jsonl`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site
from emovec.vectors import EmotionVectors

from ._readings import ReadAt, read_probes
from ._stimuli import Scenario, load_scenarios


@dataclass(frozen=True)
class ScenarioReport:
    """Probes x scenarios at every site.

    Attributes:
        scenarios: The scenarios whose emotion is in the bundle.
        emotions: The distinct scenario emotions (the probes compared).
        sites: Sites read.
        matrix: `[site, scenario, emotion]` probe readings, each probe z-scored across scenarios
            (a probe's own baseline would otherwise decide every argmax).
        accuracy: Per site, the share of scenarios whose own emotion has the top z-score.
        chance: 1 / number of emotions.
    """

    scenarios: tuple[Scenario, ...]
    emotions: tuple[str, ...]
    sites: tuple[Site, ...]
    matrix: Float[Tensor, "site batch emotion"]
    accuracy: list[float]
    chance: float
    read_at: str
    skipped: tuple[str, ...] = ()

    @property
    def best_site(self) -> Site:
        return self.sites[max(range(len(self.sites)), key=lambda j: self.accuracy[j])]

    def as_dict(self) -> dict[str, Any]:
        return {
            "read_at": self.read_at,
            "emotions": list(self.emotions),
            "prompts": [s.prompt for s in self.scenarios],
            "labels": [s.emotion for s in self.scenarios],
            "sites": [str(s) for s in self.sites],
            "accuracy": self.accuracy,
            "chance": self.chance,
            "best_site": str(self.best_site),
            "skipped": list(self.skipped),
        }


def implicit_scenarios(
    backend: Backend,
    vectors: EmotionVectors,
    scenarios: "Sequence[Scenario] | None" = None,
    *,
    read_at: ReadAt = "assistant",
    batch_size: int = 16,
    allow_mismatch: bool = False,
) -> ScenarioReport:
    """Read the scenario emotions' probes on each scenario; the diagonal should dominate.

    Args:
        backend: The model the vectors came from.
        vectors: The bundle.
        scenarios: Scenarios (default: `load_scenarios()`); those whose emotion the bundle
            lacks are skipped and listed.
        read_at: Where to read the probes (see `read_probes`).
        batch_size: Prompts per forward pass.
        allow_mismatch: Passed to `vectors.check` (deliberate cross-model use).

    Returns:
        A `ScenarioReport`.

    Raises:
        ValueError: Fewer than 2 scenario emotions are in the bundle.
    """
    scenarios = load_scenarios() if scenarios is None else list(scenarios)
    index = {e: i for i, e in enumerate(vectors.emotions)}
    kept = tuple(s for s in scenarios if s.emotion in index)
    skipped = tuple(sorted({s.emotion for s in scenarios if s.emotion not in index}))
    emotions = tuple(dict.fromkeys(s.emotion for s in kept))
    if len(emotions) < 2:
        raise ValueError(
            f"Implicit scenarios need at least 2 of their emotions in the bundle; it has"
            f" {list(emotions)} (missing {list(skipped)})."
        )
    readings = read_probes(
        backend,
        vectors,
        [s.prompt for s in kept],
        read_at=read_at,
        batch_size=batch_size,
        allow_mismatch=allow_mismatch,
    )
    cols = torch.tensor([index[e] for e in emotions])
    x = readings[:, :, cols].permute(1, 0, 2)  # [site, scenario, emotion]
    z = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp(min=1e-12)
    labels = torch.tensor([emotions.index(s.emotion) for s in kept])
    accuracy = [float((z[j].argmax(1) == labels).double().mean()) for j in range(z.shape[0])]
    return ScenarioReport(
        kept, emotions, vectors.sites, z.float(), accuracy, 1.0 / len(emotions), read_at, skipped
    )


def plot_scenarios(result: ScenarioReport, site: "Site | str | int | None" = None) -> Any:
    """Heatmap of z-scored probes (columns) on scenarios (rows) at `site` (default: best)."""
    from matplotlib.figure import Figure

    site = result.best_site if site is None else Site.parse(site)
    j = result.sites.index(site)
    n, m = len(result.scenarios), len(result.emotions)
    fig = Figure(figsize=(max(5.0, 0.45 * m + 4), max(4.0, 0.28 * n + 1.5)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(result.matrix[j].numpy(), cmap="RdBu_r", vmin=-2.5, vmax=2.5, aspect="auto")
    ax.set_xticks(range(m), result.emotions, rotation=60, fontsize=7)
    ax.set_yticks(range(n), [f"{s.emotion}: {s.prompt[:38]}" for s in result.scenarios], fontsize=6)
    fig.colorbar(image, ax=ax, label="probe z-score across scenarios")
    ax.set_title(
        f"implicit scenarios at {site}: own emotion on top {result.accuracy[j]:.0%}"
        f" (chance {result.chance:.0%})",
        fontsize=9,
    )
    return fig
