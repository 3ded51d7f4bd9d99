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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site
from emovec.ops import reject

from ._directions import _finite
from ._metrics import Metric, kl_per_token
from ._plots import figure, plain, save_figure, save_json
from ._positions import _check_positions, row_masks
from ._runs import Steering, progress_bar, rows_logits, sweep
from ._sites import _check_bundle, _sites
from ._spec import Steer

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


def random_directions(
    d_model: int,
    n: int,
    *,
    seed: int = 0,
    orthogonal_to: Float[Tensor, " d_model"] | None = None,
) -> Float[Tensor, "n d_model"]:
    """`n` seeded random unit directions (uniform on the sphere), optionally orthogonal to a vector.

    Example:
        >>> r = random_directions(8, 3, seed=1, orthogonal_to=torch.eye(8)[0])
        >>> r.norm(dim=-1).round(decimals=5).tolist(), r[:, 0].abs().max().item() < 1e-6
        ([1.0, 1.0, 1.0], True)
    """
    if n < 1 or d_model < 2:
        raise ValueError(
            f"Need n >= 1 random directions in d_model >= 2, got n={n}, d_model={d_model}."
        )
    gen = torch.Generator().manual_seed(int(seed))
    rows = torch.randn(n, d_model, generator=gen, dtype=torch.float64)
    if orthogonal_to is not None:
        unit = orthogonal_to.double() / orthogonal_to.double().norm()
        rows = reject(rows, unit[None])
    return (rows / rows.norm(dim=-1, keepdim=True)).float()


@dataclass
class DoseResponse:
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

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

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

    def save(self, folder: "str | Path") -> list[Path]:
        """`dose_response.json` and the plot (`.png`, `.svg`) in `folder`."""
        folder = Path(folder)
        paths = [save_json(self.to_dict(), folder / "dose_response.json")]
        return paths + self.plot(folder / "dose_response")

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


def _band(values: np.ndarray, band: tuple[float, float]) -> tuple[float, float]:
    lo, hi = np.percentile(values, list(band))
    return float(lo), float(hi)


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
    strengths = [_finite(s, "strength") for s in strengths]
    if not strengths:
        raise ValueError("Give at least one strength.")
    if n_random < 2:
        raise ValueError(f"n_random must be >= 2 to form a band (default 20), got {n_random}.")
    if not (0 <= band[0] < band[1] <= 100):
        raise ValueError(f"band must be two percentiles 0 <= low < high <= 100, got {band}.")
    if not prompts:
        raise ValueError("Give at least one prompt.")
    positions = _check_positions(positions)
    if positions == "generated":
        raise ValueError("positions='generated' has no effect on a prompt's next token: use 'all'.")
    _check_bundle(vectors, backend, allow_mismatch)
    if vectors is None:
        raise ValueError("dose_response needs an EmotionVectors bundle.")
    site_list = _sites(sites, vectors, backend)
    metric.check(backend.tokenizer)
    units = {site: vectors.vector(emotion, site).float() for site in site_list}
    norms = {site: vectors.residual_norm(site) if relative else 1.0 for site in site_list}
    shuffled_units: dict[Site, Tensor] = {}
    if shuffled is not None:
        for site in site_list:
            if shuffled == "permute":
                perm = torch.randperm(
                    int(backend.d_model), generator=torch.Generator().manual_seed(seed)
                )
                shuffled_units[site] = units[site][perm]
            else:
                if shuffled == emotion:
                    raise ValueError(
                        "The shuffled control must be another emotion than the one steered."
                    )
                shuffled_units[site] = vectors.vector(shuffled, site).float()
    rows = [backend.encode(p, chat=chat) for p in prompts]
    masks = row_masks(rows, positions)
    randoms = {
        site: random_directions(
            int(backend.d_model),
            n_random,
            seed=seed,
            orthogonal_to=units[site] if orthogonalize else None,
        )
        for site in site_list
    }

    # -- the sweep ------------------------------------------------------------------------
    conditions: list[Steering] = []
    keys: list[tuple[int, int, str, int]] = []  # site index, strength index, kind, seed
    for i, site in enumerate(site_list):
        for j, s in enumerate(strengths):
            amount = s * norms[site]
            conditions.append(((site, units[site], amount),))
            keys.append((i, j, "emotion", 0))
            if shuffled is not None:
                conditions.append(((site, shuffled_units[site], amount),))
                keys.append((i, j, "shuffled", 0))
            for r in range(n_random):
                conditions.append(((site, randoms[site][r], amount),))
                keys.append((i, j, "random", r))
    bar = progress_bar(len(rows) * (len(conditions) + 1), f"dose {emotion}", progress)
    reference = rows_logits(backend, rows, batch_tokens=batch_tokens, progress=bar)
    base_values = metric(reference, reference)
    values = sweep(
        backend,
        rows,
        conditions,
        metric,
        reference,
        masks=masks,
        batch_tokens=batch_tokens,
        progress=bar,
    )
    bar.close()
    baseline = float(base_values.mean())
    n_s, n_j = len(site_list), len(strengths)
    effect = [[0.0] * n_j for _ in range(n_s)]
    shuffled_effect = [[0.0] * n_j for _ in range(n_s)] if shuffled is not None else None
    random = [[[0.0] * n_random for _ in range(n_j)] for _ in range(n_s)]
    for (i, j, kind, r), row_values in zip(keys, values, strict=True):
        delta = float((row_values - base_values).mean())
        if kind == "emotion":
            effect[i][j] = delta
        elif kind == "shuffled" and shuffled_effect is not None:
            shuffled_effect[i][j] = delta
        else:
            random[i][j][r] = delta
    bands = [[_band(np.array(random[i][j]), band) for j in range(n_j)] for i in range(n_s)]
    outside = [
        [not (bands[i][j][0] <= effect[i][j] <= bands[i][j][1]) for j in range(n_j)]
        for i in range(n_s)
    ]

    result = DoseResponse(
        emotion=emotion,
        metric=metric.name,
        sites=[str(s) for s in site_list],
        strengths=strengths,
        baseline=baseline,
        effect=effect,
        random=random,
        band=bands,
        outside=outside,
        leaves_band={
            str(site): leaves_band(strengths, outside[i]) for i, site in enumerate(site_list)
        },
        shuffled=shuffled_effect,
        shuffled_label=shuffled,
        settings={
            "model_id": backend.model_id,
            "adapter": backend.name,
            "n_prompts": len(prompts),
            "n_random": n_random,
            "orthogonalize": orthogonalize,
            "band_percentiles": list(band),
            "positions": positions if isinstance(positions, str) else list(positions),
            "relative": relative,
            "residual_norms": {str(s): norms[s] for s in site_list},
            "chat": chat,
            "seed": seed,
            "vectors": (vectors.metadata or {}).get("path"),
        },
    )
    if neutral:
        _side_effect_kl(
            backend,
            result,
            site_list,
            units,
            randoms,
            norms,
            strengths,
            neutral,
            side_effect_randoms,
            progress,
        )
    if generation_prompts:
        _side_effect_perplexity(
            backend,
            result,
            site_list,
            units,
            norms,
            strengths,
            generation_prompts,
            max_new_tokens,
            progress,
        )
    return result


def _side_effect_kl(
    backend, result, site_list, units, randoms, norms, strengths, neutral, n_rand, progress
) -> None:
    batch = backend.tokenize(list(neutral))
    mask = batch.mask.clone()
    mask[:, 0] = False  # position 0 (an attention sink on small models) is left out
    reference = backend.run(batch)
    n_rand = min(n_rand, randoms[site_list[0]].shape[0])
    bar = progress_bar(
        len(site_list) * len(strengths) * (1 + n_rand), "side effects (KL)", progress
    )
    kl, kl_rand = [], []
    for site in site_list:
        row, row_rand = [], []
        for s in strengths:
            amount = s * norms[site]
            edits = Steer(units[site], amount, site, relative=False).edits(None, backend)
            row.append(float(kl_per_token(backend.run(batch, edits), reference, mask)))
            bar.update()
            values = []
            for r in range(n_rand):
                edits = Steer(randoms[site][r], amount, site, relative=False).edits(None, backend)
                values.append(float(kl_per_token(backend.run(batch, edits), reference, mask)))
                bar.update()
            row_rand.append(float(np.median(values)) if values else float("nan"))
        kl.append(row)
        kl_rand.append(row_rand)
    bar.close()
    result.kl_neutral = kl
    result.kl_neutral_random = kl_rand if n_rand else None


def generation_perplexity(
    backend: Backend, prompt_ids: Sequence[Sequence[int]], token_ids: Sequence[Sequence[int]]
) -> float:
    """Perplexity of generated tokens (after their prompts) under `backend` without edits."""
    total, count = 0.0, 0
    for prompt, gen in zip(prompt_ids, token_ids, strict=True):
        if not gen:
            continue
        row = torch.tensor([list(prompt) + list(gen)])
        logits = backend.run(_one(row))[0]
        log_p = logits[len(prompt) - 1 : -1].float().log_softmax(-1)
        total -= float(log_p[torch.arange(len(gen)), torch.tensor(list(gen))].sum())
        count += len(gen)
    return float(np.exp(total / count)) if count else float("nan")


def _one(row: Tensor):
    from emovec._batch import TokenBatch

    return TokenBatch(row, torch.ones_like(row))


def _side_effect_perplexity(
    backend, result, site_list, units, norms, strengths, prompts, max_new_tokens, progress
) -> None:
    bar = progress_bar(len(site_list) * len(strengths) + 1, "side effects (generation)", progress)
    plain = backend.generate(list(prompts), max_new_tokens=max_new_tokens, chat=True)
    result.perplexity_baseline = generation_perplexity(backend, plain.prompt_ids, plain.token_ids)
    bar.update()
    table = []
    for site in site_list:
        row = []
        for s in strengths:
            edits = Steer(units[site], s * norms[site], site, relative=False).edits(None, backend)
            gen = backend.generate(
                list(prompts), max_new_tokens=max_new_tokens, edits=edits, chat=True
            )
            row.append(generation_perplexity(backend, gen.prompt_ids, gen.token_ids))
            bar.update()
        table.append(row)
    bar.close()
    result.perplexity = table
