"""Whose emotion, and what is hidden: speaker vectors and deflection vectors.

**Speaker vectors.** Dialogues in which each speaker is assigned an emotion (or "neutral").
Crossing whose turn a token is in with whose emotion was assigned gives a 2x2 grid; the
*present-speaker* vectors average each speaker's tokens by that speaker's own emotion (the
emotion of the one speaking), the *other-speaker* vectors by the other speaker's emotion (the
emotion of the one addressed). Both follow the story recipe: per-dialogue speaker means, the
mean per emotion minus the mean over emotions, neutral PCs projected out, unit length.

**Deflection vectors.** Dialogues in which one speaker feels one emotion but displays another.
The deflecting speaker's tokens are averaged by the *felt* emotion (each felt emotion is shown
as every other, so the displayed one cancels), neutral PCs are removed, and the result is
orthogonalised against the story-emotion subspace (the PCs explaining `story_variance` of the
story vectors at that site): what is left is the representation of a hidden feeling that the
story vectors do not already carry. The fraction of each vector's norm that survives is kept.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site, parse_sites
from emovec.ops import pca, reject
from emovec.vectors import EmotionVectors

from ._capture import StoryStatistics
from ._dialogue import ROLES, RoleMeans, capture_role_means
from ._dialogue import field as field_of
from ._recipe import Recipe, build_vectors, collect_statistics

NEUTRAL = "neutral"
KINDS = ("present-speaker", "other-speaker")


def _labelled_rows(records: Sequence[Any], present: bool) -> tuple[list[int], list[int], list[str]]:
    """(dialogue, speaker, emotion) for every speaker turn set whose label is an emotion:
    the speaker's own (present) or the other speaker's (other)."""
    d_idx, roles, labels = [], [], []
    for i, rec in enumerate(records):
        own = [str(field_of(rec, "human")), str(field_of(rec, "assistant"))]
        for r in range(len(ROLES)):
            label = own[r] if present else own[1 - r]
            if label != NEUTRAL:
                d_idx.append(i)
                roles.append(r)
                labels.append(label)
    return d_idx, roles, labels


def _with(ev: EmotionVectors, **meta: Any) -> EmotionVectors:
    return EmotionVectors(ev.vectors, ev.emotions, ev.sites, {**ev.metadata, **meta})


def _vectors(
    backend: Backend,
    means: RoleMeans,
    rows: tuple[list[int], list[int], list[str]],
    neutral_stats: Any,
    recipe: Recipe,
    emotions: Sequence[str],
    corpus: dict[str, Any],
) -> EmotionVectors:
    d_idx, roles, labels = rows
    stats = StoryStatistics(means.sites, int(backend.d_model), emotions)
    stats.add(labels, means.rows(d_idx, roles))
    return build_vectors(backend, stats, neutral_stats, recipe, corpus)


def _capture(
    backend: Backend,
    records: Sequence[Any],
    neutral: Iterable[Any] | None,
    sites: list[Site],
    recipe: Recipe,
    batch_size: int,
    progress: bool,
) -> tuple[RoleMeans, Any]:
    """The dialogues' per-speaker means and the neutral statistics for denoising (None
    without neutral texts), each from one pass."""
    neutral_stats = None
    if neutral is not None:
        neutral_stats = collect_statistics(
            backend, None, neutral, sites, recipe, progress=progress
        )[1]
    means = capture_role_means(
        backend, records, sites, start=recipe.start, batch_size=batch_size,
        max_tokens=recipe.max_tokens, progress=progress,
    )  # fmt: skip
    return means, neutral_stats


@dataclass(frozen=True)
class SpeakerVectors:
    """Present- and other-speaker vectors from one pass, and the 2x2 grid behind them.

    `grid[(tokens, emotion)]`: vectors from one speaker's tokens (`"Human"` or `"Assistant"`)
    labelled by one speaker's emotion (`"own"` or `"other"`)."""

    present: EmotionVectors
    other: EmotionVectors
    grid: dict[tuple[str, str], EmotionVectors]
    means: RoleMeans = field(repr=False)
    records: tuple[Any, ...] = field(repr=False, default=())
    neutral_stats: Any = field(repr=False, default=None)


def speaker_vectors(
    backend: Backend,
    dialogues: Iterable[Any],
    neutral: Iterable[Any] | None = None,
    *,
    sites: "str | Sequence[Site | str | int]" = "all",
    start: int = 4,
    neutral_variance: float = 0.5,
    max_tokens: int | None = None,
    batch_size: int = 16,
    progress: bool = True,
) -> SpeakerVectors:
    """Present- and other-speaker vectors (see the module docs).

    Args:
        backend: An emovec backend.
        dialogues: Records with `id`, `text` (a "Human:"/"Assistant:" transcript), `human` and
            `assistant` (each an emotion or "neutral").
        neutral: Neutral texts for the denoising PCs (None: no denoising).
        sites: Sites to extract at.
        start: First token position averaged (earlier positions carry attention sinks).
        neutral_variance: Fraction of neutral variance projected out (paper: 0.5).
        max_tokens: Truncate longer dialogues.
        batch_size: Dialogues per forward.
        progress: Progress bars on stderr.
    """
    records = tuple(dialogues)
    for i, rec in enumerate(records):
        if field_of(rec, "human") is None or field_of(rec, "assistant") is None:
            raise ValueError(
                f"Speaker dialogue {i} needs 'human' and 'assistant' fields (an emotion or"
                " 'neutral' each)."
            )
    site_list = parse_sites(sites if isinstance(sites, str) else list(sites), backend.n_layers)
    recipe = Recipe(start=start, neutral_variance=neutral_variance, max_tokens=max_tokens)
    means, neutral_stats = _capture(
        backend, records, neutral, site_list, recipe, batch_size, progress
    )
    present_rows = _labelled_rows(records, present=True)
    emotions = sorted(set(present_rows[2]))
    corpus = {"n_dialogues": len(records), "kind": "speaker dialogues"}
    kinds = {}
    for kind, present in zip(KINDS, (True, False), strict=True):
        rows = _labelled_rows(records, present)
        ev = _vectors(backend, means, rows, neutral_stats, recipe, emotions, corpus)
        kinds[kind] = _with(ev, kind=kind)
    grid = {}
    for r, role in enumerate(ROLES):
        for present, which in ((True, "own"), (False, "other")):
            d_idx, roles, labels = _labelled_rows(records, present)
            keep = [k for k, x in enumerate(roles) if x == r]
            rows = ([d_idx[k] for k in keep], [roles[k] for k in keep], [labels[k] for k in keep])
            ev = _vectors(backend, means, rows, neutral_stats, recipe, emotions, corpus)
            grid[(role, which)] = _with(ev, kind=f"{role} tokens, {which} emotion")
    return SpeakerVectors(
        kinds["present-speaker"], kinds["other-speaker"], grid, means, records, neutral_stats
    )


@dataclass(frozen=True)
class DeflectionVectors:
    """Deflection vectors (unit, orthogonalised against the story subspace) and how much of
    each survived: `surviving[site][emotion]` is the norm left after removing the story
    subspace from the unit vector (1 = orthogonal to it already)."""

    vectors: EmotionVectors
    surviving: dict[str, dict[str, float]]
    story_components: dict[str, int]


def deflection_vectors(
    backend: Backend,
    dialogues: Iterable[Any],
    story_vectors: EmotionVectors,
    neutral: Iterable[Any] | None = None,
    *,
    sites: "str | Sequence[Site | str | int] | None" = None,
    story_variance: float = 0.99,
    start: int = 4,
    neutral_variance: float = 0.5,
    max_tokens: int | None = None,
    batch_size: int = 16,
    progress: bool = True,
) -> DeflectionVectors:
    """Deflection vectors (see the module docs).

    Args:
        backend: An emovec backend.
        dialogues: Records with `id`, `text`, `speaker` ("human" or "assistant": who deflects),
            `felt` and `shown` (emotions).
        story_vectors: The story-emotion bundle whose subspace is removed (same model).
        neutral: Neutral texts for the denoising PCs.
        sites: Sites (default: the story bundle's).
        story_variance: Fraction of the story vectors' variance whose PCs span the subspace
            that is removed (the paper: 0.99).
        start, neutral_variance, max_tokens, batch_size, progress: As in `speaker_vectors`.
    """
    records = tuple(dialogues)
    d_idx, roles, labels = [], [], []
    for i, rec in enumerate(records):
        who = str(field_of(rec, "speaker") or "").lower()
        felt = field_of(rec, "felt")
        if who not in ("human", "assistant") or not felt:
            raise ValueError(
                f"Deflection dialogue {i} needs 'speaker' ('human' or 'assistant') and 'felt'."
            )
        d_idx.append(i)
        roles.append(0 if who == "human" else 1)
        labels.append(str(felt))
    if not 0.0 < story_variance <= 1.0:
        raise ValueError(f"story_variance must lie in (0, 1], got {story_variance}.")
    site_list = (
        list(story_vectors.sites)
        if sites is None
        else parse_sites(sites if isinstance(sites, str) else list(sites), backend.n_layers)
    )
    missing = [s for s in site_list if s not in story_vectors.sites]
    if missing:
        raise ValueError(f"The story bundle has no vectors at {[str(s) for s in missing]}.")
    recipe = Recipe(start=start, neutral_variance=neutral_variance, max_tokens=max_tokens)
    means, neutral_stats = _capture(
        backend, records, neutral, site_list, recipe, batch_size, progress
    )
    emotions = sorted(set(labels))
    raw = _vectors(
        backend, means, (d_idx, roles, labels), neutral_stats, recipe, emotions,
        {"n_dialogues": len(records), "kind": "deflection dialogues"},
    )  # fmt: skip
    columns, surviving, n_components = [], {}, {}
    for site in site_list:
        basis = story_subspace(story_vectors.at(site), story_variance)
        unit = raw.at(site).double()
        left = reject(unit, basis) if basis.shape[0] else unit
        norms = left.norm(dim=-1)
        surviving[str(site)] = dict(zip(raw.emotions, map(float, norms), strict=True))
        n_components[str(site)] = int(basis.shape[0])
        columns.append(left / norms.clamp(min=1e-12)[:, None])
    vectors = torch.stack(columns, dim=1).float()
    meta = {
        **raw.metadata,
        "kind": "deflection",
        "story_subspace": {
            "variance": story_variance,
            "components": n_components,
            "story_bundle": (story_vectors.metadata.get("corpus") or {}).get("content_hash"),
        },
        "surviving_norm": surviving,
    }
    return DeflectionVectors(
        EmotionVectors(vectors, raw.emotions, raw.sites, meta), surviving, n_components
    )


def story_subspace(
    vectors: Float[Tensor, "emotion d_model"], variance: float
) -> Float[Tensor, "k d_model"]:
    """Orthonormal rows spanning the fewest PCs of the story vectors that explain `variance`
    of their variance (PCA about the vectors' mean, which the recipe makes zero).

    Example:
        >>> v = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, -0.1, 0.0]])
        >>> story_subspace(v, 0.9).shape, story_subspace(v, 0.999).shape
        (torch.Size([1, 3]), torch.Size([2, 3]))
    """
    x = vectors.double()
    full = pca(x)
    cumulative = full.explained_variance_ratio.cumsum(0)
    k = min(int((cumulative < variance - 1e-12).sum()) + 1, full.components.shape[0])
    return full.components[:k]
