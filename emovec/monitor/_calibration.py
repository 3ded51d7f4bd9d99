"""Per-emotion baselines of probe readings, so that a monitor can speak in z-scores.

A `Calibration` holds, per site and emotion, the mean, standard deviation and a few percentiles
of the readings over ordinary text: neutral prompts and the model's own replies to them (what an
assistant's readings look like when nothing is wrong). It is a small JSON file kept next to the
vectors (`calibration_path(bundle)`: `NAME.calibration.json` beside `NAME.safetensors`), written
atomically, and it records a fingerprint of the exact vectors it was measured with, so that a
monitor refuses a calibration made for other vectors.
"""

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from emovec._files import write_json
from emovec._site import Site
from emovec.vectors import EmotionVectors

FORMAT = "emovec.calibration/1"
LEVELS: tuple[float, ...] = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)
# A reading whose spread over ordinary text is below this is treated as constant: its z-score
# would only amplify rounding noise.
MIN_STD = 1e-6


def vectors_fingerprint(
    vectors: EmotionVectors, emotions: Sequence[str], sites: Sequence[Site]
) -> str:
    """sha256 of the named vectors (names, sites and float32 values, in the given order)."""
    picked = vectors.select(list(emotions), list(sites)).vectors
    h = hashlib.sha256()
    h.update(json.dumps([list(emotions), [str(s) for s in sites]]).encode())
    h.update(picked.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def calibration_path(vectors_path: "str | os.PathLike[str]") -> Path:
    """Where a bundle's calibration lives by default: beside it, `NAME.calibration.json`.

    Example:
        >>> calibration_path("runs/smollm2.safetensors").as_posix()
        'runs/smollm2.calibration.json'
    """
    p = Path(vectors_path)
    return p.with_name(p.name.removesuffix(".safetensors") + ".calibration.json")


@dataclass(frozen=True, eq=False)
class Calibration:
    """Baselines `[site, emotion]` of raw probe readings over ordinary text.

    Attributes:
        emotions: Emotion names (axis order).
        sites: Sites (axis order).
        mean: Mean reading.
        std: Standard deviation (floored at `MIN_STD`).
        levels: Percentile levels (0-100) of `percentiles`.
        percentiles: `[level, site, emotion]` readings at those levels.
        count: Tokens measured.
        metadata: Provenance: `vectors_sha256` (see `vectors_fingerprint`), model id, sources,
            `min_position` (tokens before it were left out: attention sinks).

    Example:
        >>> cal = Calibration(("calm",), (Site(1),), torch.tensor([[2.0]]), torch.tensor([[0.5]]),
        ...                   (50.0,), torch.tensor([[[2.0]]]), 10)
        >>> cal.z(torch.tensor([[3.0]]))
        tensor([[2.]])
    """

    emotions: tuple[str, ...]
    sites: tuple[Site, ...]
    mean: Float[Tensor, "site emotion"]
    std: Float[Tensor, "site emotion"]
    levels: tuple[float, ...]
    percentiles: Float[Tensor, "level site emotion"]
    count: int
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "emotions", tuple(self.emotions))
        object.__setattr__(self, "sites", tuple(Site.parse(s) for s in self.sites))
        object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        object.__setattr__(self, "metadata", dict(self.metadata))
        shape = (len(self.sites), len(self.emotions))
        if tuple(self.mean.shape) != shape or tuple(self.std.shape) != shape:
            raise ValueError(f"Calibration mean and std must be [site, emotion] = {list(shape)}.")
        if tuple(self.percentiles.shape) != (len(self.levels), *shape):
            raise ValueError("Calibration percentiles must be [level, site, emotion].")
        if not bool(torch.isfinite(self.mean).all() and torch.isfinite(self.std).all()):
            raise ValueError("Calibration holds NaN or Inf: recalibrate on more text.")
        object.__setattr__(self, "std", self.std.clamp(min=MIN_STD))

    def z(self, raw: Float[Tensor, "*batch site emotion"]) -> Float[Tensor, "*batch site emotion"]:
        """Readings as z-scores against this baseline (axes must match `sites`, `emotions`)."""
        return (raw - self.mean.to(raw)) / self.std.to(raw)

    def percentile(self, emotion: str, site: "Site | str | int", level: float) -> float:
        """The stored percentile `level` (one of `levels`) of one emotion at one site."""
        if float(level) not in self.levels:
            raise ValueError(f"Level {level} was not stored; stored levels: {self.levels}.")
        s, e = self._column(emotion, site)
        return float(self.percentiles[self.levels.index(float(level)), s, e])

    def _column(self, emotion: str, site: "Site | str | int") -> tuple[int, int]:
        parsed = Site.parse(site)
        if emotion not in self.emotions or parsed not in self.sites:
            raise ValueError(
                f"This calibration has no baseline for {emotion!r} at {parsed}: recalibrate"
                " with that emotion and site."
            )
        return self.sites.index(parsed), self.emotions.index(emotion)

    def select(self, emotions: Sequence[str], sites: "Sequence[Site | str | int]") -> "Calibration":
        """The baselines of `emotions` at `sites`, in that order (what a monitor reads)."""
        cols = [self._column(e, sites[0])[1] for e in emotions] if sites else []
        rows = [self._column(emotions[0], s)[0] for s in sites] if emotions else []
        for s in sites:
            for e in emotions:
                self._column(e, s)
        pick = np.ix_(rows, cols)
        return Calibration(
            tuple(emotions),
            tuple(Site.parse(s) for s in sites),
            self.mean[pick],
            self.std[pick],
            self.levels,
            self.percentiles[:, rows][:, :, cols],
            self.count,
            self.metadata,
        )

    def check(self, vectors: EmotionVectors) -> "Calibration":
        """Raise unless `vectors` hold the very vectors this calibration was measured with."""
        expected = self.metadata.get("vectors_sha256")
        if expected is None:
            return self
        try:
            got = vectors_fingerprint(vectors, self.emotions, self.sites)
        except KeyError as err:
            raise ValueError(
                f"The calibration covers {err}, which these vectors lack: it was made for other"
                " vectors. Recalibrate (`emovec monitor calibrate`)."
            ) from None
        if got != expected:
            raise ValueError(
                "This calibration was measured with other vectors (fingerprint"
                f" {expected[:12]}... vs {got[:12]}...): recalibrate with `emovec monitor"
                " calibrate --vectors BUNDLE`."
            )
        return self

    # -- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "emotions": list(self.emotions),
            "sites": [str(s) for s in self.sites],
            "count": int(self.count),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "levels": list(self.levels),
            "percentiles": self.percentiles.tolist(),
            "metadata": {k: v for k, v in self.metadata.items() if k != "path"},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Calibration":
        if data.get("format") != FORMAT:
            raise ValueError(f"Not an emovec calibration (format {data.get('format')!r}).")
        f64 = torch.float64
        return cls(
            tuple(data["emotions"]),
            tuple(Site.parse(s) for s in data["sites"]),
            torch.tensor(data["mean"], dtype=f64),
            torch.tensor(data["std"], dtype=f64),
            tuple(float(v) for v in data["levels"]),
            torch.tensor(data["percentiles"], dtype=f64),
            int(data["count"]),
            data.get("metadata") or {},
        )

    def save(self, path: "str | os.PathLike[str]") -> Path:
        """Write JSON atomically (temp file, fsync, rename)."""
        return write_json(path, self.to_dict(), indent=None, allow_nan=False)

    @classmethod
    def load(cls, path: "str | os.PathLike[str]") -> "Calibration":
        """Read a file written by `save`; a clear error names a missing or corrupt file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            cal = cls.from_dict(data)
        except OSError as err:
            raise ValueError(f"Cannot read calibration {path}: {err.strerror or err}.") from None
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"{path} is not a readable emovec calibration ({err}); recalibrate with"
                " `emovec monitor calibrate`."
            ) from None
        object.__setattr__(cal, "metadata", {**cal.metadata, "path": str(path)})
        return cal


def calibration_from_readings(
    readings: Float[Tensor, "token site emotion"],
    emotions: Sequence[str],
    sites: Sequence[Site],
    *,
    levels: Sequence[float] = LEVELS,
    metadata: Mapping[str, Any] | None = None,
) -> Calibration:
    """Baselines from a pile of per-token readings (float64 statistics).

    Example:
        >>> r = torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None, None]
        >>> cal = calibration_from_readings(r, ["calm"], [Site(0)], levels=[50.0])
        >>> float(cal.mean), round(float(cal.std), 4), float(cal.percentiles[0])
        (2.5, 1.291, 2.5)
    """
    if readings.shape[0] < 2:
        raise ValueError(
            f"Calibration needs at least 2 tokens of readings, got {readings.shape[0]}: give"
            " more neutral prompts or texts."
        )
    x = readings.double()
    q = torch.tensor([v / 100.0 for v in levels], dtype=torch.float64)
    return Calibration(
        tuple(emotions),
        tuple(sites),
        x.mean(0),
        x.std(0),
        tuple(levels),
        torch.quantile(x, q, dim=0),
        int(x.shape[0]),
        dict(metadata or {}),
    )
