"""The pressure suite: does steering toward desperation (or away from calm) favour shortcuts?

Each situation puts an assistant under pressure with two options, an honest failure and a
shortcut that games a check, as an A/B question in the chat template. The metric is the
probability of the shortcut's letter (renormalised over "A" and "B"). Which letter holds the
shortcut is counterbalanced (`orders="both"`: every situation is asked both ways) or drawn per
situation (`orders="random"`, seeded). Each emotion is steered toward (+) and away (-) at every
prompt token; `n_random` norm-matched random directions at the same strength form the band; the
emotion effects get bootstrap 95% CIs over situations.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from emovec._backend import Backend
from emovec.ops import bootstrap_ci

from ._directions import _finite, random_directions
from ._experiment import (
    ExperimentResult,
    check_random,
    outside,
    prepare,
    provenance,
    random_band,
    random_effects_by_size,
    signed_conditions,
)
from ._plots import figure, save_figure
from ._runs import progress_bar, sweep
from ._suites import PRESSURE_TEMPLATE, Situation, ab_choice, letters, load_situations, render


@dataclass
class PressureResult(ExperimentResult):
    """What `pressure_suite` found; effects are changes in P(shortcut), means over situations."""

    stem = "pressure"

    site: str
    strengths: list[float]
    baseline: dict[str, float]
    conditions: list[dict[str, Any]]
    random: dict[str, list[float]]
    letter_mass: float
    p_first: float
    per_situation: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        b = self.baseline
        lines = [
            f"pressure suite at {self.site}: unsteered P(shortcut) = {b['p']:.3f} [{b['low']:.3f}, {b['high']:.3f}]"
            f"; mean P(A or B) = {self.letter_mass:.3f}, mean P(A | A,B) = {self.p_first:.3f}",
            f"{'steering':22s}{'effect':>9s}{'95% CI':>22s}{'random band':>24s}",
        ]
        for c in self.conditions:
            name = f"{c['emotion']} {c['strength']:+g}"
            lines.append(
                f"{name:22s}{c['effect']:>+9.4f}   [{c['low']:+.4f}, {c['high']:+.4f}]"
                f"   [{c['band'][0]:+.4f}, {c['band'][1]:+.4f}]  {'OUTSIDE' if c['outside'] else 'inside'}"
            )
        return "\n".join(lines)

    def plot(self, stem: "str | Path") -> list[Path]:
        sizes = sorted({abs(s) for s in self.strengths})
        fig, axes = figure(len(sizes), width=5.0, height=3.8)
        for ax, size in zip(axes, sizes, strict=True):
            conds = [c for c in self.conditions if abs(c["strength"]) == size]
            rand = self.random[f"{size:g}"]
            lo, hi = conds[0]["band"] if conds else (0.0, 0.0)
            ax.axhspan(lo, hi, color="0.6", alpha=0.35, label="random band (same norm)")
            ax.scatter(np.full(len(rand), -1.0), rand, s=8, color="0.4", label="random directions")
            for k, c in enumerate(conds):
                ax.errorbar(
                    [k],
                    [c["effect"]],
                    yerr=[[c["effect"] - c["low"]], [c["high"] - c["effect"]]],
                    fmt="o",
                    color="C3" if c["outside"] else "C0",
                )
            ax.set_xticks(
                [-1, *range(len(conds))],
                ["random", *[f"{c['emotion']} {c['strength']:+g}" for c in conds]],
                rotation=30,
                fontsize=7,
            )
            ax.axhline(0, color="k", lw=0.5)
            ax.set_ylabel("change in P(shortcut)")
            ax.set_title(f"strength {size:g} x residual norm at {self.site}", fontsize=9)
            ax.legend(fontsize=7)
        return save_figure(fig, stem)


def pressure_suite(
    backend: Backend,
    vectors: Any,
    *,
    situations: "Sequence[Situation] | str | Path | None" = None,
    emotions: Sequence[str] = ("desperate", "calm"),
    strengths: Sequence[float] = (0.05,),
    site: Any = None,
    n_random: int = 20,
    orders: str = "both",
    chat: bool = True,
    seed: int = 0,
    n_resamples: int = 2000,
    batch_tokens: int = 2048,
    progress: bool = True,
    allow_mismatch: bool = False,
) -> PressureResult:
    """Run the pressure suite (see the module docstring).

    Args:
        backend: An emovec backend.
        vectors: The `EmotionVectors` bundle.
        situations: Situations, a JSONL file of them, or None for the shipped suite.
        emotions: Emotions steered toward and away from.
        strengths: Magnitudes (fractions of the site's mean residual norm; paper: 0.05); each
            is applied with both signs.
        site: Steering site (default: the bundle site nearest 2/3 of the depth).
        n_random: Norm-matched random directions per strength (>= 2; default 20).
        orders: "both" (each situation with the shortcut as A and as B) or "random".
        chat: Use the chat template.
        seed: Seeds the letter draw, the random directions and the bootstrap.
        n_resamples: Bootstrap resamples.
        batch_tokens: Padded tokens per forward.
        progress: Show a progress bar on stderr.
        allow_mismatch: Use vectors from another model of the same width.
    """
    sizes = sorted({abs(_finite(s, "strength")) for s in strengths})
    if not sizes or 0.0 in sizes:
        raise ValueError("Give non-zero strengths (each is applied with both signs).")
    check_random(n_random)
    if orders not in ("both", "random"):
        raise ValueError(f"orders must be 'both' or 'random', got {orders!r}.")
    (s_site,) = prepare(
        backend,
        vectors,
        emotions=emotions,
        sites=site,
        allow_mismatch=allow_mismatch,
        default_at_depth=True,
    )
    items = _situations(situations)
    norm = vectors.residual_norm(s_site)
    a_id, b_id = letters(backend, chat=chat)
    rows, shortcut_first, owner = _prompts(backend, items, orders, chat, seed)
    randoms = random_directions(int(backend.d_model), n_random, seed=seed)
    conditions, labels = signed_conditions(vectors, s_site, emotions, sizes, norm, randoms)
    bar = progress_bar(len(rows) * len(conditions), "pressure suite", progress)
    swept = sweep(
        backend,
        rows,
        conditions,
        ab_choice(a_id, b_id),
        torch.zeros(len(rows), 1),
        batch_tokens=batch_tokens,
        progress=bar,
    )
    bar.close()
    values, mass = swept[..., 0], swept[..., 1]
    per_sit = _per_situation(values, shortcut_first, owner, len(items))
    diffs = per_sit - per_sit[0:1]
    base_ci = bootstrap_ci(lambda s: s.mean(), per_sit[0], n_resamples=n_resamples, seed=seed)
    random_effects = random_effects_by_size(labels, [float(d.mean()) for d in diffs], sizes)
    results = _effects(labels, per_sit, mass, random_effects, n_resamples, seed)
    return PressureResult(
        site=str(s_site),
        strengths=[v for size in sizes for v in (size, -size)],
        baseline={"p": base_ci.estimate, "low": base_ci.low, "high": base_ci.high},
        conditions=results,
        random=random_effects,
        letter_mass=float(mass[0].mean()),
        p_first=float(values[0].mean()),
        per_situation={
            "ids": [it.id for it in items],
            "unsteered": per_sit[0].tolist(),
            **{f"{n} {s:+g}": per_sit[c].tolist() for c, (n, s) in _steered(labels)},
        },
        settings={
            **provenance(backend, vectors),
            "template": PRESSURE_TEMPLATE,
            "orders": orders,
            "chat": chat,
            "n_situations": len(items),
            "n_prompts": len(rows),
            "n_random": n_random,
            "residual_norm": norm,
            "seed": seed,
            "positions": "all",
        },
    )


def _situations(situations: "Sequence[Situation] | str | Path | None") -> list[Situation]:
    if situations is None or isinstance(situations, (str, Path)):
        items = load_situations(situations)
    else:
        items = list(situations)
    if len(items) < 2:
        raise ValueError(f"The pressure suite needs at least 2 situations, got {len(items)}.")
    return items


def _prompts(
    backend: Any, items: Sequence[Situation], orders: str, chat: bool, seed: int
) -> tuple[list[list[int]], list[bool], list[int]]:
    """Token rows of every prompt, whether the shortcut is option A, and its situation."""
    rng = np.random.default_rng(seed)
    rows, shortcut_first, owner = [], [], []
    for k, item in enumerate(items):
        firsts = [True, False] if orders == "both" else [bool(rng.integers(2))]
        for first in firsts:
            a, b = (item.shortcut, item.honest) if first else (item.honest, item.shortcut)
            content = PRESSURE_TEMPLATE.format(situation=item.situation, a=a, b=b)
            text = render(backend, content, chat=chat)
            rows.append(backend.tokenizer(text, add_special_tokens=False)["input_ids"])
            shortcut_first.append(first)
            owner.append(k)
    return rows, shortcut_first, owner


def _effects(
    labels: Sequence[tuple[str, float]],
    per_sit: Float[Tensor, "condition situation"],
    mass: Float[Tensor, "condition prompt"],
    random_effects: dict[str, list[float]],
    n_resamples: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Each emotion condition's change in P(shortcut), its interval, and the random band."""
    diffs = per_sit - per_sit[0:1]
    results = []
    for c, (name, s) in enumerate(labels):
        if name == "none" or name.startswith("random-"):
            continue
        band = list(random_band(random_effects[f"{abs(s):g}"]))
        ci = bootstrap_ci(lambda d: d.mean(), diffs[c], n_resamples=n_resamples, seed=seed)
        effect = float(diffs[c].mean())
        results.append(
            {
                "emotion": name,
                "strength": s,
                "p_shortcut": float(per_sit[c].mean()),
                "effect": effect,
                "low": ci.low,
                "high": ci.high,
                "band": band,
                "outside": outside(effect, band),
                "letter_mass": float(mass[c].mean()),
            }
        )
    return results


def _steered(labels: Sequence[tuple[str, float]]) -> list[tuple[int, tuple[str, float]]]:
    """The emotion conditions: neither the unsteered one (first) nor a random direction."""
    return [(c, lab) for c, lab in enumerate(labels) if c and not lab[0].startswith("random-")]


def _per_situation(
    values: Float[Tensor, "condition prompt"],
    shortcut_first: Sequence[bool],
    owner: Sequence[int],
    n_situations: int,
) -> Float[Tensor, "condition situation"]:
    """P(shortcut) per situation: the mean over its prompts (its orders), in float64."""
    first = torch.tensor(shortcut_first)
    p_short = torch.where(first[None], values, 1 - values)  # [condition, prompt]
    owner_t = torch.tensor(owner)
    return torch.stack(
        [p_short[:, owner_t == k].mean(1) for k in range(n_situations)], dim=1
    ).double()
