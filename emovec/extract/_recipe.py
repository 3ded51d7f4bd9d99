"""The paper's recipe: story means minus the mean over emotions, neutral PCs out, unit length.

`extract_vectors` runs it end to end on a backend; the maths lives in small pure functions
(`emotion_directions`, `neutral_components`, `finish_vectors`) that tests drive directly.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site, parse_sites
from emovec.ops import pca_from_covariance, reject
from emovec.vectors import EmotionVectors

from ._capture import (
    PCA_MODES,
    Item,
    NeutralStatistics,
    RowMoments,
    StoryStatistics,
    capture_stream,
)
from ._checkpoint import Checkpoint, run_fingerprint
from ._items import (
    _Ledger,
    check_corpus,
    neutral_items,
    reiterable,
    story_items,
)
from ._truncation import Truncation, token_limit

RECIPE_NAME = "story-mean-minus-emotion-mean/neutral-pcs-removed/unit"


@dataclass(frozen=True)
class Recipe:
    """Settings of an extraction (recorded in every bundle's metadata under `recipe`).

    Attributes:
        start: First token of each text averaged (the paper: 50); texts shorter than
            `start + 8` start later than 0 but keep their last 8 tokens (never position 0).
        neutral_variance: Fraction of neutral variance whose PCs are projected out (paper: 0.5);
            0 skips denoising.
        pca_mode: "dialogue" (PCA over per-dialogue means from `start`, as the public
            replications do) or "token" (over every token from `start`, via a streamed
            covariance).
        batch_tokens: Padded tokens per forward.
        window: Records sorted together by length before batching.
        max_tokens: Cut longer texts to this many tokens, with a `TruncationWarning`, counted
            in the bundle's `corpus.truncation` (None: 2048, or the model's context if the
            backend reports a shorter one; see `emovec.extract.token_limit`).
    """

    start: int = 50
    neutral_variance: float = 0.5
    pca_mode: str = "dialogue"
    batch_tokens: int = 4096
    window: int = 2048
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.pca_mode not in PCA_MODES:
            raise ValueError(f"pca_mode must be one of {PCA_MODES}, got {self.pca_mode!r}.")
        if not 0.0 <= self.neutral_variance <= 1.0:
            raise ValueError(f"neutral_variance must lie in [0, 1], got {self.neutral_variance}.")
        if self.start < 0:
            raise ValueError(f"start must be >= 0, got {self.start}.")


def emotion_directions(
    means: Float[Tensor, "emotion d_model"],
) -> Float[Tensor, "emotion d_model"]:
    """Each emotion's mean minus the mean of the emotion means (every emotion weighs the same).

    Example:
        >>> emotion_directions(torch.tensor([[1.0, 2.0], [3.0, 2.0]]))
        tensor([[-1.,  0.],
                [ 1.,  0.]])
    """
    return means - means.mean(0, keepdim=True)


def neutral_components(
    covariance: Float[Tensor, "d_model d_model"],
    mean: Float[Tensor, " d_model"],
    *,
    variance: float,
) -> tuple[Float[Tensor, "k d_model"], float]:
    """The fewest leading PCs of the neutral covariance explaining `variance` (0: none).

    Returns:
        The components (orthonormal rows) and the fraction of variance they explain.

    Example:
        >>> cov = torch.diag(torch.tensor([3.0, 1.0]))
        >>> neutral_components(cov, torch.zeros(2), variance=0.5)
        (tensor([[1., 0.]]), 0.75)
    """
    if variance == 0:
        return covariance.new_zeros(0, covariance.shape[0]), 0.0
    pcs = pca_from_covariance(covariance, mean, variance=variance)
    return pcs.components, float(pcs.explained_variance_ratio.sum())


def finish_vectors(
    directions: Float[Tensor, "emotion d_model"],
    components: Float[Tensor, "k d_model"],
) -> tuple[Float[Tensor, "emotion d_model"], Float[Tensor, " emotion"]]:
    """Project `components` (orthonormal rows) out of `directions`, then scale rows to unit norm.

    Returns:
        The unit vectors and the norms they had before scaling.

    Example:
        >>> finish_vectors(torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0]]))
        (tensor([[0., 1.]]), tensor([4.]))
    """
    if components.shape[0]:
        directions = reject(directions, components.to(directions.dtype))
    norms = directions.norm(dim=-1)
    scale = norms.max().clamp(min=torch.finfo(directions.dtype).tiny)
    if bool((norms <= 1e-9 * scale).any()) or not bool((norms > 0).all()):
        raise ValueError(
            "An emotion vector is zero after removing the grand mean and the neutral PCs (a"
            " single emotion, or identical stories?): extraction needs at least two distinct"
            " emotions."
        )
    return directions / norms[:, None], norms


def collect_statistics(
    backend: Backend,
    stories: Iterable[Any] | None,
    neutral: Iterable[Any] | None,
    sites: Sequence[Site],
    recipe: Recipe,
    *,
    emotions: Sequence[str] | None = None,
    checkpoint: "str | Path | None" = None,
    resume: bool = True,
    checkpoint_every: int = 20,
    progress: bool = True,
    observe: "Callable[[list[Item], dict[Site, Tensor]], None] | None" = None,
    digest: dict[str, Any] | None = None,
    truncation: Truncation | None = None,
) -> tuple[StoryStatistics, NeutralStatistics | None, dict[str, Any]]:
    """Stream stories and neutral texts through the model into running statistics.

    `observe(items, captured)`, if given, also sees every batch of stories (`RowMoments`
    rows), e.g. to keep statistics of a subset from the same pass. With a checkpoint, batches
    restored from it are not seen again. `digest`, the corpus's `check_corpus` summary if the
    caller has it, keys the checkpoint without reading the corpus again. `truncation`, shared
    with the caller's other passes over the corpus, counts their cuts together (the caller then
    warns); by default this pass counts and warns on its own.

    Returns:
        Story statistics, neutral statistics (None without neutral texts) and a corpus summary
        (`sha256` over every record in stream order, counts).
    """
    d = int(backend.d_model)
    story_stats = StoryStatistics(sites, d, emotions)
    neutral_stats = None if neutral is None else NeutralStatistics(sites, d, mode=recipe.pca_mode)
    cuts = truncation or Truncation(token_limit(backend, recipe.max_tokens))

    def state() -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors = story_stats.state_dict()
        if neutral_stats is not None:
            tensors |= neutral_stats.state_dict()
        return tensors, {"emotions": story_stats.emotions}

    ckpt = None
    if checkpoint is not None:
        settings = {
            **run_fingerprint(backend, stories, neutral, sites, emotions, cuts.limit, digest),
            # every recipe setting but neutral_variance, which acts only after the statistics
            **{k: v for k, v in asdict(recipe).items() if k != "neutral_variance"},
        }
        ckpt = Checkpoint(checkpoint, settings, state, every=checkpoint_every)
        _restore(ckpt, resume, story_stats, neutral_stats)

    ledger = _Ledger()
    phases: list[tuple[str, Any, Any, Any]] = [
        ("story", stories, story_items(stories or ()), RowMoments(recipe.start))
    ]
    if neutral_stats is not None:
        phases.append(
            ("neutral", neutral, neutral_items(neutral or ()), neutral_stats.reducer(recipe.start))
        )
    for phase, records, items_in, reducer in phases:
        stream = capture_stream(
            backend,
            ledger.track(phase, items_in, story_stats.register if phase == "story" else None),
            sites,
            reducer,
            batch_tokens=recipe.batch_tokens,
            window=recipe.window,
            done=None if ckpt is None else ckpt.done(phase),
            progress=f"{phase} texts" if progress else False,
            total=len(records) if isinstance(records, Sized) else None,
            truncation=cuts,
        )
        for items, captured in stream:
            if neutral_stats is not None and phase == "neutral":
                neutral_stats.add(captured)
            else:
                story_stats.add([it.label or "" for it in items], captured)
                if observe is not None:
                    observe(items, captured)
            if ckpt is not None:
                ckpt.mark(phase, (it.id for it in items))
    if ckpt is not None:
        stray = {p: ids - ledger.seen.get(p, set()) for p, ids in ckpt.processed.items()}
        if any(stray.values()):
            example = next(iter(next(v for v in stray.values() if v)))
            raise ValueError(
                f"Checkpoint {ckpt.path} holds records that are not in this corpus (e.g."
                f" {example!r}): it belongs to another corpus. Start over (CLI: --force)."
            )
        ckpt.save(complete=True)
    if truncation is None:
        cuts.warn()
    corpus = {
        "sha256": ledger.hasher.hexdigest(),
        "n_stories": len(ledger.seen.get("story", ())),
        "n_neutral": len(ledger.seen.get("neutral", ())),
        "truncation": cuts.summary(),
    }
    return story_stats, neutral_stats, corpus


def _restore(
    ckpt: Checkpoint,
    resume: bool,
    story_stats: StoryStatistics,
    neutral_stats: NeutralStatistics | None,
) -> None:
    """Load the statistics a checkpoint holds into `story_stats` / `neutral_stats` (if resuming)."""
    saved = ckpt.load() if resume else None
    if saved is not None:
        tensors, header = saved
        story_stats.load_state_dict(tensors, header["emotions"])
        if neutral_stats is not None:
            neutral_stats.load_state_dict(tensors)


def build_vectors(
    backend: Backend,
    story_stats: StoryStatistics,
    neutral_stats: NeutralStatistics | None,
    recipe: Recipe,
    corpus: Mapping[str, Any],
) -> EmotionVectors:
    """Finish the recipe on collected statistics and wrap the result with its provenance."""
    means = story_stats.emotion_means()
    if len(story_stats.emotions) < 2:
        raise ValueError("Extraction needs stories for at least two emotions.")
    sites = story_stats.sites
    columns, removed, explained, pre_norms = [], {}, {}, {}
    for j, site in enumerate(sites):
        components = means.new_zeros(0, means.shape[-1])
        if neutral_stats is not None and recipe.neutral_variance > 0:
            cov = neutral_stats.covariances[site]
            if cov.count < 2:
                raise ValueError(
                    f"Neutral denoising needs at least 2 neutral texts, got {cov.count}; pass more"
                    " or set neutral_variance=0."
                )
            components, explained[str(site)] = neutral_components(
                cov.covariance(), cov.mean, variance=recipe.neutral_variance
            )
        unit, norms = finish_vectors(emotion_directions(means[:, j]), components)
        columns.append(unit)
        removed[str(site)] = int(components.shape[0])
        pre_norms[str(site)] = round(float(norms.mean()), 6)
    vectors = torch.stack(columns, dim=1).to(torch.float32)
    norm_stats = neutral_stats.norms if neutral_stats is not None else story_stats.norms
    counts = next(iter(story_stats.means.values())).count.tolist()
    provenance = backend.provenance
    metadata = {
        "model": provenance.model_record(),
        "adapter": provenance.adapter,
        "dtype": provenance.dtype,
        "d_model": int(backend.d_model),
        "n_layers": int(backend.n_layers),
        "sites": [str(s) for s in sites],
        "recipe": {"name": RECIPE_NAME, "min_tokens": 8, **asdict(recipe)},
        "corpus": {
            **corpus,
            "stories_per_emotion": dict(zip(story_stats.emotions, map(int, counts), strict=False)),
        },
        "residual_norms": {str(s): float(m.mean[0]) for s, m in norm_stats.items()},
        "residual_norm_source": "neutral" if neutral_stats is not None else "stories",
        "neutral_pcs_removed": removed,
        "neutral_variance_removed": explained,
        "mean_norm_before_unit": pre_norms,
        # Only TransformerLens bridges have the mode; it changes activations of LayerNorm models.
        "compatibility_mode": provenance.compatibility_mode,
        "emovec_version": _version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return EmotionVectors(vectors, tuple(story_stats.emotions), tuple(sites), metadata)


def extract_vectors(
    backend: Backend,
    stories: Iterable[Any],
    neutral: Iterable[Any] | None = None,
    *,
    sites: "str | Sequence[Site | str | int]" = "all",
    emotions: Sequence[str] | None = None,
    start: int = 50,
    neutral_variance: float = 0.5,
    pca_mode: str = "dialogue",
    batch_tokens: int = 4096,
    window: int = 2048,
    max_tokens: int | None = None,
    checkpoint: "str | Path | None" = None,
    resume: bool = True,
    checkpoint_every: int = 20,
    progress: bool = True,
    corpus_info: Mapping[str, Any] | None = None,
) -> EmotionVectors:
    """Emotion vectors from stories (and neutral texts for denoising), the paper's recipe.

    Per story, the residual activations from token `start` on are averaged at every site in one
    forward; per emotion these story means are averaged (streamed: memory does not grow with the
    corpus); each emotion's mean minus the mean over emotions is its direction; the neutral PCs
    explaining `neutral_variance` are projected out; rows are scaled to unit length. The mean
    residual norm per site over neutral tokens (from `start` on) is kept for norm-relative
    steering (measured over the stories when no neutral texts are given).

    Args:
        backend: An emovec backend.
        stories: Records with `emotion` and `text` (optional `id`, the key for resuming;
            positions otherwise): mappings or objects such as `emovec.corpus.Record`; streamed
            once.
        neutral: Neutral texts (strings, or records with `text`), streamed once; None skips
            denoising.
        sites: `"all"`, `"4:20"`, or a list of sites.
        emotions: Fix the emotion order (and refuse others); default: order of appearance.
        start, neutral_variance, pca_mode, batch_tokens, window, max_tokens: See `Recipe`.
        checkpoint: File for resumable statistics (saved every `checkpoint_every` batches).
        resume: Continue from `checkpoint` if it exists (else it is overwritten).
        checkpoint_every: Batches between checkpoint saves.
        progress: Show progress bars on stderr.
        corpus_info: Extra provenance merged into `metadata["corpus"]` (e.g. `source`, the
            corpus manifest's `content_hash`); `sha256` and the counts are always computed.

    Returns:
        An `EmotionVectors` bundle `[emotion, site, d_model]` of unit vectors.
    """
    recipe = Recipe(start, neutral_variance, pca_mode, batch_tokens, window, max_tokens)
    site_list = parse_sites(sites if isinstance(sites, str) else list(sites), backend.n_layers)
    token_limit(backend, max_tokens)
    digest = None
    if reiterable(stories) and reiterable(neutral):  # fail before any forward, not after
        digest = check_corpus(
            stories, neutral, neutral_variance=neutral_variance, emotions=emotions
        )
    story_stats, neutral_stats, corpus = collect_statistics(
        backend,
        stories,
        neutral,
        site_list,
        recipe,
        emotions=emotions,
        checkpoint=checkpoint,
        resume=resume,
        checkpoint_every=checkpoint_every,
        progress=progress,
        digest=digest,
    )
    corpus = {**(corpus_info or {}), **corpus}
    return build_vectors(backend, story_stats, neutral_stats, recipe, corpus)


def _version() -> str:
    import emovec

    return emovec.__version__
