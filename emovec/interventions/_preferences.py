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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site
from emovec.ops import bootstrap_ci

from ._directions import _finite, random_directions
from ._elo import fit_bradley_terry, pearson, rating_against, to_elo
from ._experiment import (
    check_random,
    outside,
    prepare,
    provenance,
    random_band,
)
from ._preferences_result import PreferenceResult as PreferenceResult
from ._runs import Steering, chunks, last_real, pad_masks, pad_rows, progress_bar, sweep
from ._suites import (
    PREFERENCE_TEMPLATE,
    Activity,
    ab_choice,
    choice_prompt,
    fill,
    letters,
    load_activities,
)


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
    check_random(n_random)
    (s_site,) = prepare(backend, vectors, emotions=emotions, sites=steer_site,
                        allow_mismatch=allow_mismatch, default_at_depth=True)  # fmt: skip
    (p_site,) = prepare(backend, vectors, sites=probe_site, allow_mismatch=allow_mismatch,
                        default_at_depth=True)  # fmt: skip
    acts = _activities(activities)
    n_layers = int(backend.n_layers)
    norm = vectors.residual_norm(s_site)
    vectors.site_index(p_site)
    a_id, b_id = letters(backend, chat=chat)
    rng = np.random.default_rng(seed)

    # -- 1 and 2: every ordered pair, logits and activity readings in one forward --------------
    n = len(acts)
    pairs, prompts = _pair_prompts(backend, acts, chat)
    final = Site(n_layers - 1)
    p_first, mass, mean_reads = _all_pairs(
        backend, prompts, pairs, n, (final, p_site), (a_id, b_id), batch_tokens, progress
    )
    elo = _elo(pairs, p_first, n)
    readings = mean_reads.float() @ vectors.at(p_site).float().T  # [activity, emotion]
    probe_r = {
        e: pearson(readings[:, k].numpy(), elo.numpy()) for k, e in enumerate(vectors.emotions)
    }
    # -- 3: steering on a target's tokens, against random directions --------------------------
    targets = _stratified(acts, n_targets, rng)
    games, g_rows, g_masks = _games(targets, n, n_opponents, rng, prompts, pairs)
    randoms = random_directions(int(backend.d_model), n_random, seed=seed)
    amount = strength * norm
    conditions: list[Steering] = [()]
    conditions += [((s_site, vectors.vector(e, s_site).float(), amount),) for e in emotions]
    conditions += [((s_site, randoms[r], amount),) for r in range(n_random)]
    bar = progress_bar(len(g_rows) * len(conditions), "preferences: steering", progress)
    swept = sweep(
        backend, g_rows, conditions, ab_choice(a_id, b_id), torch.zeros(len(g_rows), 1),
        masks=g_masks, batch_tokens=batch_tokens, progress=bar,
    )  # fmt: skip
    bar.close()
    values, g_mass = swept[..., 0], swept[..., 1]
    shifts = _shifts(values, games, targets, elo, len(conditions))
    random_shifts = shifts[1 + len(emotions) :].mean(1).tolist()
    lo, hi = random_band(random_shifts)
    steering = _steering(emotions, shifts, g_mass, (lo, hi), len(targets), n_resamples, seed)
    table, category_elo = _activity_table(acts, elo, readings, emotions, vectors)
    return PreferenceResult(
        table, category_elo, str(p_site), probe_r, str(s_site), strength,
        [acts[t].id for t in targets], steering, random_shifts, (lo, hi), float(mass.mean()),
        float(p_first.mean()),
        settings={
            **provenance(backend, vectors),
            "template": PREFERENCE_TEMPLATE,
            "chat": chat,
            "n_pairs": len(pairs),
            "n_games_steered": len(games),
            "n_random": n_random,
            "n_opponents": n_opponents,
            "absolute_strength": amount,
            "residual_norm": norm,
            "seed": seed,
        },
    )  # fmt: skip


def _activities(activities: "Sequence[Activity] | str | Path | None") -> list[Activity]:
    if activities is None or isinstance(activities, (str, Path)):
        acts = load_activities(activities)
    else:
        acts = list(activities)
    if len(acts) < 3:
        raise ValueError(f"The preference suite needs at least 3 activities, got {len(acts)}.")
    return acts


def _all_pairs(
    backend: Any,
    prompts: Sequence[Any],
    pairs: Sequence[tuple[int, int]],
    n: int,
    sites: tuple[Site, Site],
    ids: tuple[int, int],
    batch_tokens: int,
    progress: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """One forward per ordered pair: P(first | A, B), P(A or B), and each activity's mean
    activation over its tokens at the probe site (float64)."""
    final, p_site = sites
    a_id, b_id = ids
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
    return p_first, mass, reading_sum / reading_count[:, None]


def _games(
    targets: Sequence[int],
    n: int,
    n_opponents: int,
    rng: np.random.Generator,
    prompts: Sequence[Any],
    pairs: Sequence[tuple[int, int]],
) -> tuple[list[tuple[int, int, bool]], list[list[int]], list[list[bool]]]:
    """Each target against drawn opponents, in both orders: (target, opponent, target is A),
    with the prompts' token rows and the target's token mask in each."""
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
    return games, g_rows, g_masks


def _shifts(
    values: Tensor,
    games: Sequence[tuple[int, int, bool]],
    targets: Sequence[int],
    elo: Tensor,
    n_conditions: int,
) -> Tensor:
    """Elo shift of each target under each steering condition `[condition, target]`."""
    first = torch.tensor([g[2] for g in games])
    p_target = torch.where(first[None], values, 1 - values)  # [condition, game]
    shifts = torch.zeros(n_conditions, len(targets))
    for k, t in enumerate(targets):
        cols = [g for g, game in enumerate(games) if game[0] == t]
        opp = elo[[games[g][1] for g in cols]]
        base = rating_against(opp, p_target[0, cols])
        for c in range(1, n_conditions):
            shifts[c, k] = rating_against(opp, p_target[c, cols]) - base
    return shifts


def _steering(
    emotions: Sequence[str],
    shifts: Tensor,
    g_mass: Tensor,
    band: tuple[float, float],
    n_targets: int,
    n_resamples: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Each emotion's mean Elo shift, its interval over targets, and whether it leaves the band."""
    lo, hi = band
    steering = {}
    for k, e in enumerate(emotions):
        per_target = shifts[1 + k]
        if n_targets >= 2:
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
            "outside": outside(shift, (lo, hi)),
            "per_target": per_target.tolist(),
            "letter_mass": float(g_mass[1 + k].mean()),
        }
    return steering


def _pair_prompts(
    backend: Any, acts: Sequence[Activity], chat: bool
) -> tuple[list[tuple[int, int]], list[Any]]:
    """Every ordered pair of activities and its choice prompt."""
    n = len(acts)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    prompts = []
    for i, j in pairs:
        content, where = fill(PREFERENCE_TEMPLATE, a=acts[i].activity, b=acts[j].activity)
        prompts.append(choice_prompt(backend, content, [where["a"], where["b"]], chat=chat))
    return pairs, prompts


def _elo(pairs: Sequence[tuple[int, int]], p_first: Tensor, n: int) -> Tensor:
    """Elo ratings from every pair's P(first), counted as fractional wins (Bradley-Terry)."""
    wins = torch.zeros(n, n, dtype=torch.float64)
    for (i, j), p in zip(pairs, p_first.tolist(), strict=True):
        wins[i, j] += p
        wins[j, i] += 1 - p
    return to_elo(fit_bradley_terry(wins))


def _activity_table(
    acts: Sequence[Activity],
    elo: Tensor,
    readings: Tensor,
    emotions: Sequence[str],
    vectors: Any,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """One row per activity (Elo, probe readings) and the mean Elo of each category."""
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
    return table, {c: float(np.mean(v)) for c, v in cat_elo.items()}
