"""The preference suite: Elo of activities from A/B choices, probe correlation, steering shifts.

1. Every ordered pair of activities is asked as "Would you prefer to (A) ... or (B) ...?" in
   the chat template; the next-token logits of "A" and "B" give a soft choice, and a
   Bradley-Terry fit over all pairs (both orders, so letter bias cancels) gives each activity
   an Elo rating.
2. In the same forward, each emotion probe is read on the activity's tokens (mean over them,
   projected onto the vector at `probe_site`); per emotion, the Pearson r between this reading
   and Elo across activities.
3. For a sample of target activities, each steered emotion is added on the target's tokens
   only (at `steer_site`, `strength` x the site's residual norm) in its games against a sample
   of opponents; the target's Elo is refitted against the opponents' fixed baseline ratings.
   The same is done with `n_random` norm-matched random directions: their mean shifts form the
   band the emotions' shifts are compared with.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site
from emovec.ops import bootstrap_ci

from ._directions import _finite
from ._dose import random_directions
from ._elo import fit_bradley_terry, pearson, rating_against, to_elo
from ._plots import figure, plain, save_figure, save_json
from ._runs import Steering, chunks, last_real, pad_masks, pad_rows, progress_bar, sweep
from ._sites import _check_bundle, _sites, default_site
from ._suites import (
    PREFERENCE_TEMPLATE,
    Activity,
    ab_choice,
    choice_prompt,
    fill,
    letters,
    load_activities,
)


@dataclass
class PreferenceResult:
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

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

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

    def save(self, folder: "str | Path") -> list[Path]:
        folder = Path(folder)
        return [
            save_json(self.to_dict(), folder / "preferences.json"),
            *self.plot(folder / "preferences"),
        ]

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


def _stratified(activities: Sequence[Activity], n: int, rng: np.random.Generator) -> list[int]:
    """`n` activity indices drawn round-robin across categories (seeded)."""
    by_cat: dict[str, list[int]] = {}
    for i, a in enumerate(activities):
        by_cat.setdefault(a.category, []).append(i)
    pools = [list(rng.permutation(v)) for _, v in sorted(by_cat.items())]
    out: list[int] = []
    while len(out) < min(n, len(activities)):
        for pool in pools:
            if pool and len(out) < n:
                out.append(int(pool.pop()))
    return out


def preference_suite(
    backend: Backend,
    vectors: Any,
    *,
    activities: "Sequence[Activity] | str | Path | None" = None,
    emotions: Sequence[str] = ("blissful", "hostile"),
    strength: float = 0.5,
    steer_site: Any = None,
    probe_site: Any = None,
    n_random: int = 20,
    n_targets: int = 8,
    n_opponents: int = 10,
    chat: bool = True,
    seed: int = 0,
    n_resamples: int = 2000,
    batch_tokens: int = 2048,
    progress: bool = True,
    allow_mismatch: bool = False,
) -> PreferenceResult:
    """Run the preference suite (see the module docstring).

    Args:
        backend: An emovec backend.
        vectors: The `EmotionVectors` bundle.
        activities: Activities, a JSONL file of them, or None for the shipped suite.
        emotions: Emotions steered toward (blissful should raise Elo, hostile lower it).
        strength: Steering strength, a fraction of `steer_site`'s mean residual norm (paper: 0.5).
        steer_site, probe_site: Default: the bundle site nearest 2/3 of the depth.
        n_random: Norm-matched random directions forming the band (>= 2; default 20).
        n_targets: Activities steered (drawn across categories, seeded).
        n_opponents: Opponents per target (drawn, seeded); each game is asked in both orders.
        chat: Use the chat template.
        seed: Seeds the draws and the random directions.
        n_resamples: Bootstrap resamples for the confidence intervals over targets.
        batch_tokens: Padded tokens per forward.
        progress: Show progress bars on stderr.
        allow_mismatch: Use vectors from another model of the same width.
    """
    strength = _finite(strength, "strength")
    if n_random < 2:
        raise ValueError(f"n_random must be >= 2 to form a band (default 20), got {n_random}.")
    _check_bundle(vectors, backend, allow_mismatch)
    if activities is None or isinstance(activities, (str, Path)):
        acts = load_activities(activities)
    else:
        acts = list(activities)
    if len(acts) < 3:
        raise ValueError(f"The preference suite needs at least 3 activities, got {len(acts)}.")
    for e in emotions:
        vectors.index(e)
    n_layers = int(backend.n_layers)
    (s_site,) = _sites(
        steer_site if steer_site is not None else default_site(vectors, n_layers), vectors, backend
    )
    (p_site,) = _sites(
        probe_site if probe_site is not None else default_site(vectors, n_layers), vectors, backend
    )
    norm = vectors.residual_norm(s_site)
    vectors.site_index(p_site)
    a_id, b_id = letters(backend, chat=chat)
    rng = np.random.default_rng(seed)

    # -- 1 and 2: every ordered pair, logits and activity readings in one forward --------------
    n = len(acts)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    prompts = []
    for i, j in pairs:
        content, where = fill(PREFERENCE_TEMPLATE, a=acts[i].activity, b=acts[j].activity)
        prompts.append(choice_prompt(backend, content, [where["a"], where["b"]], chat=chat))
    final = Site(n_layers - 1)
    p_first = torch.zeros(len(pairs))
    mass = torch.zeros(len(pairs))
    reading_sum = torch.zeros(n, int(backend.d_model), dtype=torch.float64)
    reading_count = torch.zeros(n)
    rows = [p.ids for p in prompts]
    bar = progress_bar(len(rows), "preferences: all pairs", progress)
    for group in chunks(rows, batch_tokens):
        batch = pad_rows([rows[k] for k in group], backend.pad_token_id)
        mask_a = pad_masks([prompts[k].masks[0] for k in group], batch)
        mask_b = pad_masks([prompts[k].masks[1] for k in group], batch)

        def reducer(
            x: Tensor, mask: Tensor, mask_a: Tensor = mask_a, mask_b: Tensor = mask_b
        ) -> Tensor:
            ma, mb = mask_a.to(x.device, x.dtype), mask_b.to(x.device, x.dtype)
            mean_a = torch.einsum("bpd,bp->bd", x, ma) / ma.sum(-1, keepdim=True).clamp(min=1)
            mean_b = torch.einsum("bpd,bp->bd", x, mb) / mb.sum(-1, keepdim=True).clamp(min=1)
            return torch.stack([last_real(x, mask), mean_a, mean_b], dim=1)

        captured = backend.capture(batch, sorted({final, p_site}), reducer)
        logits = backend.unembed(captured[final][:, 0]).float().cpu()
        ab = logits[:, [a_id, b_id]]
        probs = ab.softmax(-1)[:, 0]
        full = logits.softmax(-1)
        reads = captured[p_site].double().cpu()
        for k, idx in enumerate(group):
            i, j = pairs[idx]
            p_first[idx] = probs[k]
            mass[idx] = full[k, a_id] + full[k, b_id]
            reading_sum[i] += reads[k, 1]
            reading_sum[j] += reads[k, 2]
            reading_count[i] += 1
            reading_count[j] += 1
        bar.update(len(group))
    bar.close()
    wins = torch.zeros(n, n, dtype=torch.float64)
    for (i, j), p in zip(pairs, p_first.tolist(), strict=True):
        wins[i, j] += p
        wins[j, i] += 1 - p
    elo = to_elo(fit_bradley_terry(wins))
    readings = (reading_sum / reading_count[:, None]).float() @ vectors.at(
        p_site
    ).float().T  # [activity, emotion]
    probe_r = {
        e: pearson(readings[:, k].numpy(), elo.numpy()) for k, e in enumerate(vectors.emotions)
    }

    # -- 3: steering on a target's tokens, against random directions --------------------------
    targets = _stratified(acts, n_targets, rng)
    games: list[tuple[int, int, bool]] = []  # (target, opponent, target is A)
    for t in targets:
        others = [u for u in range(n) if u != t]
        for u in rng.choice(others, size=min(n_opponents, len(others)), replace=False).tolist():
            games += [(t, u, True), (t, u, False)]
    index = {pair: k for k, pair in enumerate(pairs)}
    g_rows, g_masks = [], []
    for t, u, t_first in games:
        prompt = prompts[index[(t, u) if t_first else (u, t)]]
        g_rows.append(prompt.ids)
        g_masks.append(prompt.masks[0] if t_first else prompt.masks[1])
    randoms = random_directions(int(backend.d_model), n_random, seed=seed)
    amount = strength * norm
    conditions: list[Steering] = [()]
    conditions += [((s_site, vectors.vector(e, s_site).float(), amount),) for e in emotions]
    conditions += [((s_site, randoms[r], amount),) for r in range(n_random)]
    dummy = torch.zeros(len(g_rows), 1)
    bar = progress_bar(len(g_rows) * len(conditions), "preferences: steering", progress)
    swept = sweep(
        backend,
        g_rows,
        conditions,
        ab_choice(a_id, b_id),
        dummy,
        masks=g_masks,
        batch_tokens=batch_tokens,
        progress=bar,
    )
    bar.close()
    values, g_mass = swept[..., 0], swept[..., 1]
    first = torch.tensor([g[2] for g in games])
    p_target = torch.where(first[None], values, 1 - values)  # [condition, game]
    shifts = torch.zeros(len(conditions), len(targets))
    for k, t in enumerate(targets):
        cols = [g for g, game in enumerate(games) if game[0] == t]
        opp = elo[[games[g][1] for g in cols]]
        base = rating_against(opp, p_target[0, cols])
        for c in range(1, len(conditions)):
            shifts[c, k] = rating_against(opp, p_target[c, cols]) - base
    random_shifts = shifts[1 + len(emotions) :].mean(1).tolist()
    lo, hi = (float(v) for v in np.percentile(random_shifts, [2.5, 97.5]))
    steering = {}
    for k, e in enumerate(emotions):
        per_target = shifts[1 + k]
        if len(targets) >= 2:
            ci = bootstrap_ci(
                lambda s: s.mean(), per_target.double(), n_resamples=n_resamples, seed=seed
            )
            interval = [ci.low, ci.high]
        else:
            interval = [float("nan"), float("nan")]
        shift = float(per_target.mean())
        steering[e] = {
            "shift": shift,
            "ci": interval,
            "outside": not (lo <= shift <= hi),
            "per_target": per_target.tolist(),
            "letter_mass": float(g_mass[1 + k].mean()),
        }
    table = [
        {
            "id": a.id,
            "category": a.category,
            "activity": a.activity,
            "elo": float(elo[i]),
            "probe": {e: float(readings[i, vectors.index(e)]) for e in emotions},
        }
        for i, a in enumerate(acts)
    ]
    cat_elo: dict[str, list[float]] = {}
    for row in table:
        cat_elo.setdefault(row["category"], []).append(row["elo"])
    return PreferenceResult(
        activities=table,
        category_elo={c: float(np.mean(v)) for c, v in cat_elo.items()},
        probe_site=str(p_site),
        probe_r=probe_r,
        steer_site=str(s_site),
        strength=strength,
        targets=[acts[t].id for t in targets],
        steering=steering,
        random_shifts=random_shifts,
        band=(lo, hi),
        letter_mass=float(mass.mean()),
        p_first=float(p_first.mean()),
        settings={
            "model_id": backend.model_id,
            "adapter": backend.name,
            "template": PREFERENCE_TEMPLATE,
            "chat": chat,
            "n_pairs": len(pairs),
            "n_games_steered": len(games),
            "n_random": n_random,
            "n_opponents": n_opponents,
            "absolute_strength": amount,
            "residual_norm": norm,
            "seed": seed,
            "vectors": (vectors.metadata or {}).get("path"),
        },
    )
