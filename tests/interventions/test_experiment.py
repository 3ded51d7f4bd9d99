"""The experiment skeleton the steering suites share."""

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from emovec import Site
from emovec.interventions import ExperimentResult
from emovec.interventions._experiment import (
    outside,
    prepare,
    provenance,
    random_band,
    random_effects_by_size,
    signed_conditions,
)
from emovec.vectors import EmotionVectors


@dataclass
class Counted(ExperimentResult):
    stem = "counted"

    values: list[float]
    band: tuple[float, float]
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return f"{len(self.values)} values"

    def plot(self, stem: "str | Path") -> list[Path]:
        path = Path(stem).with_suffix(".txt")
        path.write_text(self.summary())
        return [path]


class _Backend:
    model_id = "toy"
    name = "toy-adapter"
    n_layers = 4
    d_model = 8


def _bundle() -> EmotionVectors:
    vectors = torch.nn.functional.normalize(
        torch.randn(2, 2, 8, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    meta = {"model": {"model_id": "toy"}, "d_model": 8, "n_layers": 4, "path": "toy.safetensors"}
    meta["residual_norms"] = {"resid_post.1": 2.0, "resid_post.3": 4.0}
    return EmotionVectors(vectors, ("calm", "afraid"), (Site(1), Site(3)), meta)


def test_a_result_saves_its_numbers_and_figures_under_its_stem(tmp_path):
    result = Counted([1.0, float("nan")], (0.0, 1.0), {"seed": 3})
    paths = result.save(tmp_path / "out")
    assert [p.name for p in paths] == ["counted.json", "counted.txt"]
    saved = json.loads(paths[0].read_text())
    assert saved == {"values": [1.0, None], "band": [0.0, 1.0], "settings": {"seed": 3}}
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(paths[0].stat().st_mode) == 0o666 & ~mask


def test_prepare_checks_emotions_and_picks_the_default_site_by_depth():
    bundle = _bundle()
    backend = _Backend()
    assert prepare(backend, bundle, emotions=("calm",), allow_mismatch=True) == [Site(3)]
    assert prepare(backend, bundle, sites=1, allow_mismatch=True) == [Site(1)]
    with pytest.raises(KeyError, match="calmm"):
        prepare(backend, bundle, emotions=("calmm",), allow_mismatch=True)
    path = bundle.metadata.get("path")
    assert provenance(backend, bundle) == {
        "model_id": "toy",
        "adapter": "toy-adapter",
        "vectors": path,
    }


def test_signed_conditions_put_the_unsteered_run_first_then_both_signs_then_randoms():
    bundle = _bundle()
    randoms = torch.eye(8)[:3]
    conditions, labels = signed_conditions(bundle, Site(3), ["calm"], [0.1, 0.2], 4.0, randoms)
    assert conditions[0] == ()
    assert labels == [
        ("none", 0.0),
        ("calm", 0.1),
        ("calm", -0.1),
        *[(f"random-{r}", 0.1) for r in range(3)],
        ("calm", 0.2),
        ("calm", -0.2),
        *[(f"random-{r}", 0.2) for r in range(3)],
    ]
    ((site, unit, amount),) = conditions[2]
    assert site == Site(3) and amount == pytest.approx(-0.4)
    torch.testing.assert_close(unit, bundle.vector("calm", Site(3)).float())
    ((_, unit, amount),) = conditions[4]
    torch.testing.assert_close(unit, randoms[1])
    assert amount == pytest.approx(0.4)
    effects = [float(k) for k in range(len(labels))]
    grouped = random_effects_by_size(labels, effects, [0.1, 0.2])
    assert grouped == {"0.1": [3.0, 4.0, 5.0], "0.2": [8.0, 9.0, 10.0]}


def test_the_band_is_the_random_percentiles_and_its_edges_are_inside():
    effects = np.random.default_rng(0).normal(size=200)
    lo, hi = random_band(effects)
    assert (lo, hi) == tuple(np.percentile(effects, [2.5, 97.5]))
    assert not outside(lo, (lo, hi)) and not outside(hi, (lo, hi))
    assert outside(hi + 1e-9, (lo, hi)) and outside(lo - 1e-9, (lo, hi))
