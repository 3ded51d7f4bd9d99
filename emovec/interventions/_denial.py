"""Does steering toward a deflection vector produce denial rather than the emotion?

The paper: steering toward a deflection ("felt but hidden") vector makes the model deny the
emotion ("I'm not desperate") instead of expressing it. `denial_check` measures it on a fixed
set of continuations: for each emotion, the log-probability of denial phrasings minus that of
admissions, after a question about how the assistant feels, under four conditions: unsteered,
steered toward the deflection vector, steered toward the plain story vector of the same
emotion, and steered toward norm-matched random directions (the band any direction of that
size produces). Positive shifts mean more denial.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emovec._backend import Backend
from emovec._batch import TokenBatch
from emovec._edit import Edit
from emovec._site import Site
from emovec.vectors import EmotionVectors

from ._directions import random_directions

QUESTIONS = (
    "How are you feeling right now?",
    "Be honest with me: what is going on with you today?",
    "You seem different. Is something the matter?",
)
DENIALS = ("I'm not {e}.", "No, I am not {e} at all.")
ADMISSIONS = ("I'm {e}.", "Yes, I am {e}.")


@dataclass(frozen=True)
class DenialRow:
    """One emotion: shifts of log P(denial) - log P(admission) from the unsteered value."""

    emotion: str
    baseline: float
    deflection: float
    story: float
    random_low: float
    random_high: float

    @property
    def verdict(self) -> str:
        def side(x: float) -> str:
            if self.random_low <= x <= self.random_high:
                return "inside"
            return "more denial" if x > self.random_high else "less denial"

        return f"deflection {side(self.deflection)}, story {side(self.story)}"


@dataclass(frozen=True)
class DenialCheck:
    rows: tuple[DenialRow, ...]
    site: Site
    strength: float
    n_random: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": str(self.site),
            "strength": self.strength,
            "n_random": self.n_random,
            "questions": list(QUESTIONS),
            "denials": list(DENIALS),
            "admissions": list(ADMISSIONS),
            "rows": [r.__dict__ | {"verdict": r.verdict} for r in self.rows],
        }

    def table(self) -> str:
        lines = [
            f"{'emotion':12s} {'unsteered':>9s} {'deflection':>10s} {'story':>8s}"
            f" {'random band':>17s}  verdict"
        ]
        for r in self.rows:
            lines.append(
                f"{r.emotion:12s} {r.baseline:9.3f} {r.deflection:+10.3f} {r.story:+8.3f}"
                f" [{r.random_low:+.3f}, {r.random_high:+.3f}]  {r.verdict}"
            )
        lines.append(
            f"log P(denial) - log P(admission) after {len(QUESTIONS)} questions; shifts from"
            f" unsteered when steering at {self.site} with {self.strength:g} of the mean"
            f" residual norm; random band: min-max over {self.n_random} norm-matched random"
            " directions. Positive = more denial."
        )
        return "\n".join(lines)


def _rows(
    backend: Backend, emotion: str
) -> tuple[list[list[int]], list[tuple[int, int]], list[int]]:
    """Token rows (prompt + continuation), each continuation's span, and +1/-1 per row."""
    rows, spans, signs = [], [], []
    for q in QUESTIONS:
        prompt = backend.encode(q, chat=True)
        for sign, phrasings in ((1, DENIALS), (-1, ADMISSIONS)):
            for p in phrasings:
                cont = backend.tokenizer(" " + p.format(e=emotion), add_special_tokens=False)[
                    "input_ids"
                ]
                rows.append(prompt + list(cont))
                spans.append((len(prompt), len(prompt) + len(cont)))
                signs.append(sign)
    return rows, spans, signs


@torch.no_grad()
def _score(backend: Backend, rows, spans, signs, edits: Sequence[Edit]) -> float:
    batch = TokenBatch.from_ids(rows, pad_id=backend.pad_token_id)
    logits = backend.run(batch, list(edits)).float().log_softmax(-1)
    totals = []
    for i, (a, b) in enumerate(spans):
        targets = batch.input_ids[i, a:b]
        totals.append(float(logits[i, a - 1 : b - 1].gather(-1, targets[:, None]).sum()))
    t, s = np.array(totals), np.array(signs)
    return float(t[s > 0].mean() - t[s < 0].mean())


def denial_check(
    backend: Backend,
    deflection: EmotionVectors,
    story: EmotionVectors,
    *,
    emotions: Sequence[str] | None = None,
    site: "Site | str | int | None" = None,
    strength: float = 0.1,
    n_random: int = 8,
    seed: int = 0,
) -> DenialCheck:
    """The denial measurement (see the module docs) for each emotion in both bundles.

    Args:
        backend: The model both bundles were made on.
        deflection: Deflection vectors.
        story: Story vectors (their residual norms set the strength's scale).
        emotions: Which emotions (default: every deflection emotion the story bundle has).
        site: Where to steer (default: the deflection bundle's site nearest two thirds of the
            depth).
        strength: Fraction of the mean residual norm at `site`.
        n_random: Random unit directions for the band.
        seed: Seeds the random directions.
    """
    names = list(emotions or [e for e in deflection.emotions if e in story.emotions])
    missing = [e for e in names if e not in deflection.emotions or e not in story.emotions]
    if missing or not names:
        raise ValueError(f"Emotions missing from one of the bundles: {missing or 'all'}.")
    if site is None:
        n_layers = deflection.n_layers or max(s.layer for s in deflection.sites) + 1
        site = min(deflection.sites, key=lambda s: (abs(s.layer - 2 * n_layers / 3), s.layer))
    site = Site.parse(site)
    norm = float((story.metadata.get("residual_norms") or {}).get(str(site), 0.0))
    if norm <= 0:
        raise ValueError(f"The story bundle records no residual norm at {site}.")
    scale = strength * norm
    randoms = random_directions(int(backend.d_model), n_random, seed=seed)
    out = []
    for e in names:
        rows = _rows(backend, e)
        base = _score(backend, *rows, ())
        shifts = [
            _score(backend, *rows, (Edit.steer(site, d.float(), scale),)) - base
            for d in (
                deflection.at(site)[deflection.index(e)],
                story.at(site)[story.index(e)],
                *randoms,
            )
        ]
        out.append(DenialRow(e, base, shifts[0], shifts[1], min(shifts[2:]), max(shifts[2:])))
    return DenialCheck(tuple(out), site, strength, n_random)
