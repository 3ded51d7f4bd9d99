"""Dose-response with controls: an emotion's effect against norm-matched random directions.

For each site and strength the emotion vector is added with that strength (a fraction of the
site's mean residual norm), and so are `n_random` random unit directions (>= 20 by default) at
exactly the same norm, and optionally a shuffled-label control (another emotion's vector, or a
permutation of the vector's coordinates). The random directions' effects form a band (the 2.5
to 97.5 percentiles by default); the result says at which strengths the emotion's effect leaves
it. Side effects are measured on neutral text (KL of next-token distributions against the
unsteered model) and on generations (perplexity of the steered text under the unsteered model).
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site

from ._directions import _finite
from ._directions import random_directions as random_directions
from ._dose_result import DoseResponse as DoseResponse
from ._experiment import check_random, outside, prepare, provenance, random_band
from ._metrics import Metric
from ._positions import _check_positions, row_masks
from ._runs import Steering, progress_bar, rows_logits, sweep
from ._side_effects import DosePlan, side_effect_kl, side_effect_perplexity
from ._side_effects import generation_perplexity as generation_perplexity

NEUTRAL_TEXTS: tuple[str, ...] = (
    "The meeting is scheduled for Tuesday at ten in the second-floor conference room.",
    "To reset the router, hold the button on the back for ten seconds until the light blinks.",
    "Water boils at a lower temperature at high altitude because the air pressure is lower.",
    "The report lists quarterly revenue, operating costs and the number of new accounts.",
)
GENERATION_PROMPTS: tuple[str, ...] = (
    "Describe what you would do on an ordinary Tuesday afternoon.",
    "Explain how a bicycle gear works.",
)


def leaves_band(strengths: Sequence[float], outside: Sequence[bool]) -> dict[str, float | None]:
    """Smallest-magnitude positive and negative strengths whose effect is outside the band.

    Example:
        >>> leaves_band([-0.1, -0.05, 0.05, 0.1], [True, False, False, True])
        {'positive': 0.1, 'negative': -0.1}
    """
    pos = [s for s, o in zip(strengths, outside, strict=True) if o and s > 0]
    neg = [s for s, o in zip(strengths, outside, strict=True) if o and s < 0]
    return {"positive": min(pos) if pos else None, "negative": max(neg) if neg else None}


def dose_response(
    backend: Backend,
    vectors: Any,
    emotion: str,
    prompts: Sequence[str],
    *,
    metric: Metric,
    strengths: Sequence[float] = (-0.1, -0.05, -0.02, 0.02, 0.05, 0.1),
    sites: Any = None,
    n_random: int = 20,
    orthogonalize: bool = False,
    shuffled: str | None = None,
    band: tuple[float, float] = (2.5, 97.5),
    positions: Any = "all",
    relative: bool = True,
    chat: bool = True,
    neutral: Sequence[str] | None = NEUTRAL_TEXTS,
    side_effect_randoms: int = 5,
    generation_prompts: Sequence[str] | None = GENERATION_PROMPTS,
    max_new_tokens: int = 24,
    seed: int = 0,
    batch_tokens: int = 2048,
    progress: bool = True,
    allow_mismatch: bool = False,
) -> DoseResponse:
    """Sweep strengths x sites for one emotion vector against random and shuffled controls.

    Args:
        backend: An emovec backend.
        vectors: The `EmotionVectors` bundle.
        emotion: The emotion to steer toward (negative strengths steer away).
        prompts: Texts whose next-token `metric` is measured (chat template if `chat`).
        metric: A `Metric` (e.g. `Probability("A", among=("A", "B"))`, `LogProb(" calm")`).
        strengths: Strengths, relative to each site's mean residual norm unless `relative=False`.
        sites: Sites to sweep (default: the bundle site nearest 2/3 of the depth).
        n_random: Random unit directions per site (the band's sample; >= 2, default 20).
        orthogonalize: Make the random directions orthogonal to the emotion vector.
        shuffled: None, "permute" (the vector's coordinates permuted, seeded) or another
            emotion's name (its vector stands in with this emotion's label).
        band: Percentiles of the random effects that bound the band.
        positions: Tokens steered: "all", or token indices per prompt (e.g. `last(1)`).
        relative: Strengths are fractions of the residual norm (else absolute lengths).
        chat: Wrap prompts in the chat template.
        neutral: Neutral texts for the KL side effect (None skips it).
        side_effect_randoms: Random directions whose neutral KL is also measured (median kept).
        generation_prompts: Prompts generated from (greedy) for the perplexity side effect.
        max_new_tokens: Length of those generations.
        seed: Seeds the random directions and the permutation.
        batch_tokens: Padded tokens per forward.
        progress: Show progress bars on stderr.
        allow_mismatch: Use vectors from another model of the same width (deliberately).

    Returns:
        A `DoseResponse` (save it with `.save(folder)`).

    Raises:
        ValueError: On bad input (non-finite strengths, fewer than 2 random directions, an
            unknown emotion or site, a site outside the model), before any model call.
    """
    # -- validation: everything before the first forward ----------------------------------
    strengths, positions = _checked(vectors, strengths, n_random, band, prompts, positions)
    site_list = prepare(backend, vectors, sites=sites, allow_mismatch=allow_mismatch)
    metric.check(backend.tokenizer)
    d_model = int(backend.d_model)
    plan = _plan(vectors, emotion, site_list, strengths, relative, d_model, n_random,
                 orthogonalize, seed)  # fmt: skip
    shuffled_units = _shuffled_units(shuffled, emotion, plan.units, vectors, d_model, seed)
    rows = [backend.encode(p, chat=chat) for p in prompts]
    masks = row_masks(rows, positions)
    # -- the sweep ------------------------------------------------------------------------
    conditions, keys = _conditions(plan, shuffled_units)
    bar = progress_bar(len(rows) * (len(conditions) + 1), f"dose {emotion}", progress)
    reference = rows_logits(backend, rows, batch_tokens=batch_tokens, progress=bar)
    base_values = metric(reference, reference)
    values = sweep(
        backend, rows, conditions, metric, reference, masks=masks, batch_tokens=batch_tokens,
        progress=bar,
    )  # fmt: skip
    bar.close()
    n_s, n_j = len(site_list), len(strengths)
    effect, shuffled_effect, random = _effects(keys, values, base_values, n_s, n_j, n_random)
    bands = [[random_band(random[i][j], band) for j in range(n_j)] for i in range(n_s)]
    out = [[outside(effect[i][j], bands[i][j]) for j in range(n_j)] for i in range(n_s)]
    settings = {
        **provenance(backend, vectors), "n_prompts": len(prompts), "n_random": n_random,
        "orthogonalize": orthogonalize, "band_percentiles": list(band),
        "positions": positions if isinstance(positions, str) else list(positions),
        "relative": relative, "residual_norms": {str(s): plan.norms[s] for s in site_list},
        "chat": chat, "seed": seed,
    }  # fmt: skip
    leaves = {str(site): leaves_band(strengths, out[i]) for i, site in enumerate(site_list)}
    result = DoseResponse(
        emotion, metric.name, [str(s) for s in site_list], strengths, float(base_values.mean()),
        effect, random, bands, out, leaves, shuffled_effect, shuffled, settings=settings,
    )  # fmt: skip
    if neutral:
        side_effect_kl(backend, result, plan, neutral, side_effect_randoms, progress)
    if generation_prompts:
        side_effect_perplexity(backend, result, plan, generation_prompts, max_new_tokens, progress)
    return result


def _checked(
    vectors: Any,
    strengths: Sequence[float],
    n_random: int,
    band: tuple[float, float],
    prompts: Sequence[str],
    positions: Any,
) -> tuple[list[float], Any]:
    """The settings checked before any model call: finite strengths and the positions."""
    strengths = [_finite(s, "strength") for s in strengths]
    if not strengths:
        raise ValueError("Give at least one strength.")
    check_random(n_random)
    if not (0 <= band[0] < band[1] <= 100):
        raise ValueError(f"band must be two percentiles 0 <= low < high <= 100, got {band}.")
    if not prompts:
        raise ValueError("Give at least one prompt.")
    positions = _check_positions(positions)
    if positions == "generated":
        raise ValueError("positions='generated' has no effect on a prompt's next token: use 'all'.")
    if vectors is None:
        raise ValueError("dose_response needs an EmotionVectors bundle.")
    return strengths, positions


def _plan(
    vectors: Any,
    emotion: str,
    site_list: list[Site],
    strengths: list[float],
    relative: bool,
    d_model: int,
    n_random: int,
    orthogonalize: bool,
    seed: int,
) -> DosePlan:
    """The emotion's unit vector, the norm strengths scale and the random band, per site."""
    units = {site: vectors.vector(emotion, site).float() for site in site_list}
    norms = {site: vectors.residual_norm(site) if relative else 1.0 for site in site_list}
    randoms = {
        site: random_directions(
            d_model, n_random, seed=seed, orthogonal_to=u if orthogonalize else None
        )
        for site, u in units.items()
    }
    return DosePlan(site_list, strengths, units, norms, randoms)


def _shuffled_units(
    shuffled: str | None,
    emotion: str,
    units: dict[Site, Tensor],
    vectors: Any,
    d_model: int,
    seed: int,
) -> dict[Site, Tensor]:
    """The shuffled-label control per site: permuted coordinates, or another emotion's vector."""
    out: dict[Site, Tensor] = {}
    if shuffled is None:
        return out
    for site, unit in units.items():
        if shuffled == "permute":
            perm = torch.randperm(d_model, generator=torch.Generator().manual_seed(seed))
            out[site] = unit[perm]
        else:
            if shuffled == emotion:
                raise ValueError(
                    "The shuffled control must be another emotion than the one steered."
                )
            out[site] = vectors.vector(shuffled, site).float()
    return out


def _conditions(
    plan: DosePlan, shuffled_units: dict[Site, Tensor]
) -> tuple[list[Steering], list[tuple[int, int, str, int]]]:
    """Every steering of the sweep, keyed (site index, strength index, kind, random seed)."""
    site_list, strengths, units = plan.sites, plan.strengths, plan.units
    randoms, norms = plan.randoms, plan.norms
    conditions: list[Steering] = []
    keys: list[tuple[int, int, str, int]] = []
    for i, site in enumerate(site_list):
        for j, s in enumerate(strengths):
            amount = s * norms[site]
            conditions.append(((site, units[site], amount),))
            keys.append((i, j, "emotion", 0))
            if site in shuffled_units:
                conditions.append(((site, shuffled_units[site], amount),))
                keys.append((i, j, "shuffled", 0))
            for r in range(randoms[site].shape[0]):
                conditions.append(((site, randoms[site][r], amount),))
                keys.append((i, j, "random", r))
    return conditions, keys


def _effects(
    keys: Sequence[tuple[int, int, str, int]],
    values: Tensor,
    base_values: Tensor,
    n_s: int,
    n_j: int,
    n_random: int,
) -> tuple[list[list[float]], list[list[float]] | None, list[list[list[float]]]]:
    """Mean change of the metric per condition, sorted into emotion, shuffled and random."""
    effect = [[0.0] * n_j for _ in range(n_s)]
    has_shuffled = any(kind == "shuffled" for _, _, kind, _ in keys)
    shuffled_effect = [[0.0] * n_j for _ in range(n_s)] if has_shuffled else None
    random = [[[0.0] * n_random for _ in range(n_j)] for _ in range(n_s)]
    for (i, j, kind, r), row_values in zip(keys, values, strict=True):
        delta = float((row_values - base_values).mean())
        if kind == "emotion":
            effect[i][j] = delta
        elif kind == "shuffled" and shuffled_effect is not None:
            shuffled_effect[i][j] = delta
        else:
            random[i][j][r] = delta
    return effect, shuffled_effect, random
