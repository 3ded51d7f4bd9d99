"""The skeleton every steering experiment shares (dose-response, pressure, preferences,
specificity).

An experiment checks its bundle against the model and its emotions against the bundle before
any forward pass (`prepare`), steers at a site with strengths that are fractions of that site's
mean residual norm, compares each emotion's effect with a band of norm-matched random
directions (`random_band`, `outside`), and returns a result that prints (`summary`), saves its
numbers and figures (`save`) and records how it was made (`settings`, `provenance`).
"""

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site

from ._plots import plain, save_json
from ._runs import Steering
from ._sites import SiteSpec, _check_bundle, _sites, default_site


class ExperimentResult:
    """What every experiment's result (a dataclass) can do: `to_dict`, `save`, and its own
    `summary` and `plot`. `save` writes `<stem>.json` and the figures `<stem>.png|svg`."""

    stem: ClassVar[str] = "experiment"

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-able data (every field, NaN kept as None-free floats)."""
        return plain(asdict(self))  # type: ignore[call-overload]

    def summary(self) -> str:
        raise NotImplementedError

    def plot(self, stem: "str | Path") -> list[Path]:
        raise NotImplementedError

    def save(self, folder: "str | Path") -> list[Path]:
        """`<stem>.json` and the plot (`.png`, `.svg`) in `folder`."""
        folder = Path(folder)
        return [
            save_json(self.to_dict(), folder / f"{self.stem}.json"),
            *self.plot(folder / self.stem),
        ]


def check_random(n_random: int) -> None:
    """A band needs at least two random directions."""
    if n_random < 2:
        raise ValueError(f"n_random must be >= 2 to form a band (default 20), got {n_random}.")


def prepare(
    backend: Any,
    vectors: Any,
    *,
    emotions: Sequence[str] = (),
    sites: SiteSpec = None,
    allow_mismatch: bool = False,
    default_at_depth: bool = False,
) -> list[Site]:
    """Check the bundle against the model and the emotions against the bundle; the sites.

    Args:
        backend: The model.
        vectors: The `EmotionVectors` bundle (None only where the experiment has no vectors).
        emotions: Emotions the experiment steers; an unknown one fails here, with suggestions.
        sites: Sites to steer at (None: the bundle site nearest two thirds of the depth).
        allow_mismatch: Use vectors from another model of the same width.
        default_at_depth: Pick the default site against the model's depth even when the
            bundle records another (what a single-site suite does).

    Returns:
        The checked sites.
    """
    _check_bundle(vectors, backend, allow_mismatch)
    for emotion in emotions:
        vectors.index(emotion)
    if sites is None and default_at_depth:
        sites = default_site(vectors, int(backend.n_layers))
    return _sites(sites, vectors, backend)


def provenance(backend: Any, vectors: Any) -> dict[str, Any]:
    """The settings every experiment records: which model, through which adapter, which vectors."""
    return {
        "model_id": backend.model_id,
        "adapter": backend.name,
        "vectors": (getattr(vectors, "metadata", None) or {}).get("path"),
    }


def signed_conditions(
    vectors: Any,
    site: Site,
    emotions: Sequence[str],
    sizes: Sequence[float],
    norm: float,
    randoms: Float[Tensor, "n d_model"],
) -> tuple[list[Steering], list[tuple[str, float]]]:
    """Unsteered first, then per size each emotion toward (+) and away (-), then the random
    directions at the same norm; with one `(name, signed strength)` label per condition."""
    conditions: list[Steering] = [()]
    labels: list[tuple[str, float]] = [("none", 0.0)]
    for size in sizes:
        for emotion in emotions:
            unit = vectors.vector(emotion, site).float()
            for sign in (1.0, -1.0):
                conditions.append(((site, unit, sign * size * norm),))
                labels.append((emotion, sign * size))
        for r in range(randoms.shape[0]):
            conditions.append(((site, randoms[r], size * norm),))
            labels.append((f"random-{r}", size))
    return conditions, labels


def random_effects_by_size(
    labels: Sequence[tuple[str, float]], effects: Sequence[float], sizes: Sequence[float]
) -> dict[str, list[float]]:
    """The random directions' effects grouped by strength (keys formatted `f"{size:g}"`).

    Example:
        >>> labels = [("none", 0.0), ("random-0", 0.1), ("calm", 0.1)]
        >>> random_effects_by_size(labels, [0.0, 2.0, 3.0], [0.1])
        {'0.1': [2.0]}
    """
    return {
        f"{size:g}": [
            float(e)
            for (name, s), e in zip(labels, effects, strict=True)
            if name.startswith("random-") and s == size
        ]
        for size in sizes
    }


def random_band(
    effects: "Sequence[float] | np.ndarray", percentiles: tuple[float, float] = (2.5, 97.5)
) -> tuple[float, float]:
    """The band the random directions' effects span (by default their middle 95%).

    Example:
        >>> random_band([0.0, 1.0, 2.0, 3.0, 4.0], (25.0, 75.0))
        (1.0, 3.0)
    """
    lo, hi = np.percentile(np.asarray(effects, dtype=np.float64), list(percentiles))
    return float(lo), float(hi)


def outside(effect: float, band: Sequence[float]) -> bool:
    """Whether an effect leaves the random band (the band's edges count as inside).

    Example:
        >>> outside(0.5, (0.0, 0.5)), outside(0.6, (0.0, 0.5))
        (False, True)
    """
    return not (band[0] <= effect <= band[1])
