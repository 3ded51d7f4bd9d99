"""Held-out identification: do vectors from some topics name the emotion of unseen stories?

Stories are split by topic (never by story: two stories about one topic share words that would
leak). Vectors come from the training topics through the extraction code itself; each held-out
story's mean activation (from the same start token) is centred on the training stories' mean
over emotions and scored against every vector. The template control (vectors from sentences
that only name the emotion, same code, same neutral denoising) is scored on the same stories.
"""

import contextlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site, parse_sites
from emovec.extract import (
    TEMPLATES,
    Recipe,
    RowMoments,
    StoryStatistics,
    Truncation,
    build_vectors,
    capture_stream,
    collect_statistics,
    corpus_summary,
    field_of,
    story_items,
    template_records,
    token_limit,
)
from emovec.ops import cosine_matrix, scores
from emovec.vectors import EmotionVectors

from ._accuracy import topk_accuracy
from ._lexical import LexicalIdentification, lexical_identification
from ._reliability import SplitHalfReliability, TopicHalves

METRICS = ("projection", "cosine")


@dataclass(frozen=True)
class SiteIdentification:
    """Held-out accuracy at one site, for the story vectors and the template control."""

    site: Site
    story_top1: float
    story_top5: float
    template_top1: float | None
    template_top5: float | None


@dataclass(frozen=True)
class HeldoutIdentification:
    """Per-site accuracies, with the split and the chance level."""

    rows: tuple[SiteIdentification, ...]
    chance: float
    n_emotions: int
    n_train: int
    n_test: int
    test_topics: tuple[str, ...]
    metric: str
    vectors: EmotionVectors | None = None  # whole-corpus bundle, with `return_vectors=True`
    confusions: tuple[tuple[str, str, int], ...] = ()  # at the best site: (true, predicted, n)
    lexical: LexicalIdentification | None = None  # the words-alone baseline on the same split
    reliability: SplitHalfReliability | None = None  # vectors from two halves of the topics

    @property
    def best(self) -> SiteIdentification:
        return max(self.rows, key=lambda r: r.story_top1)

    def table(self) -> str:
        lines = [f"{'site':16s} {'story@1':>8s} {'story@5':>8s} {'tmpl@1':>8s} {'tmpl@5':>8s}"]
        for r in self.rows:
            t1 = "-" if r.template_top1 is None else f"{r.template_top1:.3f}"
            t5 = "-" if r.template_top5 is None else f"{r.template_top5:.3f}"
            lines.append(
                f"{str(r.site):16s} {r.story_top1:8.3f} {r.story_top5:8.3f} {t1:>8s} {t5:>8s}"
            )
        lines.append(
            f"{self.n_test} held-out stories on {len(self.test_topics)} topics, {self.n_train}"
            f" training stories; {self.n_emotions} emotions, chance@1 = {self.chance:.4f}"
            f" (@5 = {min(1.0, 5 * self.chance):.4f}); readout: {self.metric}"
        )
        if self.lexical is not None:
            lex = self.lexical
            lines.append(
                f"words alone (bag-of-words classifier, same split): top-1 {lex.top1:.3f}"
                f" ({lex.top1 / self.chance:.1f}x chance), top-5 {lex.top5:.3f}"
            )
        if self.reliability is not None:
            lines.append(self.reliability.table())
        if self.confusions:
            mistakes = ", ".join(f"{t}->{p} ({c})" for t, p, c in self.confusions)
            lines.append(f"most frequent mistakes at {self.best.site}: {mistakes}")
        return "\n".join(lines)


def split_topics(
    records: Sequence[Any], *, test_fraction: float, seed: int
) -> tuple[list[Any], list[Any], tuple[str, ...]]:
    """Train and test stories, split by topic (a seeded shuffle of the sorted topics)."""
    topic_of = [field_of(r, "topic") for r in records]
    topics = sorted({str(t) for t in topic_of if t is not None})
    if len(topics) < 2 or any(t is None for t in topic_of):
        raise ValueError("A topic split needs a 'topic' on every story and at least 2 topics.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}.")
    random.Random(seed).shuffle(topics)
    n_test = min(max(1, round(test_fraction * len(topics))), len(topics) - 1)
    test = set(topics[:n_test])
    train = [r for r, t in zip(records, topic_of, strict=True) if str(t) not in test]
    held = [r for r, t in zip(records, topic_of, strict=True) if str(t) in test]
    return train, held, tuple(sorted(test))


def heldout_identification(
    backend: Backend,
    stories: Iterable[Any],
    neutral: Iterable[Any] | None = None,
    *,
    sites: "str | Sequence[Site | str | int]" = "all",
    test_fraction: float = 0.25,
    seed: int = 0,
    metric: str = "projection",
    templates: Sequence[str] | None = TEMPLATES,
    start: int = 50,
    neutral_variance: float = 0.5,
    pca_mode: str = "dialogue",
    batch_tokens: int = 4096,
    max_tokens: int | None = None,
    return_vectors: bool = False,
    corpus_info: "dict[str, Any] | None" = None,
    lexical: bool = True,
    split_half: bool = True,
    progress: bool = True,
) -> HeldoutIdentification:
    """Leave-topics-out identification accuracy of story vectors and of the template control.

    Args:
        backend: An emovec backend.
        stories: Records with `emotion`, `text` and `topic` (mappings or objects such as
            `emovec.corpus.Record`; held in memory for the split).
        neutral: Neutral texts for denoising (one pass, shared by both vector sets).
        sites: Sites to evaluate.
        test_fraction: Share of topics held out.
        seed: Seed of the topic shuffle.
        metric: "projection" (the paper's probe readout, `emovec.ops.scores`) or "cosine".
        templates: Template sentences for the control; None skips it.
        start, neutral_variance, pca_mode, batch_tokens, max_tokens: As in `extract_vectors`.
        return_vectors: Also build the bundle over the whole corpus (training and held-out
            stories) from the same pass, in `.vectors`: what `extract_vectors` returns on
            these stories (to float rounding), without a second pass over the corpus.
        corpus_info: Extra provenance for that bundle (as in `extract_vectors`).
        lexical: Also score the words-alone baseline on the same split (`.lexical`; see
            `emovec.analysis.lexical_identification`): how much emotion the texts carry at all.
        split_half: Also build vectors from two disjoint halves of all the topics (from the
            same pass) and compare them per site (`.reliability`, see
            `emovec.analysis.SplitHalfReliability`): how far to trust any single number.
            Skipped (None) when fewer than 3 emotions have stories in both halves.
        progress: Show progress bars on stderr.

    Returns:
        A `HeldoutIdentification` with top-1 and top-5 accuracy per site.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    stories = list(stories)
    neutral = None if neutral is None else list(neutral)
    train, held, test_topics, order = _split(stories, test_fraction, seed)
    recipe = Recipe(start, neutral_variance, pca_mode, batch_tokens, max_tokens=max_tokens)
    site_list = parse_sites(sites if isinstance(sites, str) else list(sites), backend.n_layers)
    d_model = int(backend.d_model)
    halves = TopicHalves(stories, site_list, d_model, order, seed=seed) if split_half else None
    cuts = Truncation(token_limit(backend, recipe.max_tokens))  # counted over both passes
    observe = None if halves is None else halves.add
    story_stats, neutral_stats, corpus = collect_statistics(
        backend, train, neutral, site_list, recipe,
        emotions=order, progress=progress, observe=observe, truncation=cuts,
    )  # fmt: skip
    vectors = build_vectors(backend, story_stats, neutral_stats, recipe, corpus)
    control = None
    if templates is not None:
        control = _template_control(backend, templates, vectors, neutral_stats, recipe, progress)
    centre = story_stats.emotion_means().mean(0)  # [site, d_model], the train grand mean
    acts, labels = _held_out_means(
        backend, held, site_list, recipe, vectors.emotions, progress,
        fold_into=story_stats if return_vectors else None, observe=observe, truncation=cuts,
    )  # fmt: skip
    cuts.warn()
    rows, predicted = _site_rows(acts - centre.to(acts.dtype), labels, vectors, control, metric)
    full = None
    if return_vectors:  # story_stats now hold every story: the training vectors are built
        summary = {**(corpus_info or {}), **corpus_summary(stories, neutral)}
        summary["truncation"] = cuts.summary()
        full = build_vectors(backend, story_stats, neutral_stats, recipe, summary)
    n = len(vectors.emotions)
    best = max(range(len(rows)), key=lambda i: rows[i].story_top1)
    words = lexical_identification(train, held, vectors.emotions) if lexical else None
    reliability = None
    if halves is not None:
        with contextlib.suppress(ValueError):  # too few emotions in both halves (not crossed)
            reliability = halves.reliability(backend, neutral_stats, recipe)
    return HeldoutIdentification(
        tuple(rows), 1.0 / n, n, len(train), len(held), test_topics, metric, full,
        confusions(labels, predicted[best], vectors.emotions), words, reliability,
    )  # fmt: skip


def _split(
    stories: list[Any], test_fraction: float, seed: int
) -> tuple[list[Any], list[Any], tuple[str, ...], list[str]]:
    """Training and held-out stories, the held-out topics, and the emotions in corpus order
    (the order `extract_vectors` uses, so that the whole-corpus bundle matches it)."""
    train, held, test_topics = split_topics(stories, test_fraction=test_fraction, seed=seed)
    order = list(dict.fromkeys(str(field_of(r, "emotion")) for r in stories))
    trained = {str(field_of(r, "emotion")) for r in train}
    if missing := [e for e in order if e not in trained]:
        raise ValueError(
            f"Every story of {missing[:5]} fell into the held-out topics, so no vector can be"
            " trained for them: use more topics per emotion, a smaller test_fraction or another seed."
        )
    return train, held, test_topics, order


def _template_control(
    backend: Any,
    templates: Sequence[str],
    vectors: EmotionVectors,
    neutral_stats: Any,
    recipe: Recipe,
    progress: bool,
) -> EmotionVectors:
    """The control vectors: the same recipe on template sentences naming each emotion."""
    t_stats, _, t_corpus = collect_statistics(
        backend,
        template_records(vectors.emotions, templates),
        None,
        vectors.sites,
        recipe,
        emotions=vectors.emotions,
        progress=progress,
    )
    return build_vectors(backend, t_stats, neutral_stats, recipe, t_corpus)


def _site_rows(
    centred: Float[Tensor, "n site d_model"],
    labels: Int[Tensor, " n"],
    vectors: EmotionVectors,
    control: EmotionVectors | None,
    metric: str,
) -> tuple[list[SiteIdentification], list[Int[Tensor, " n"]]]:
    """Accuracy of the story vectors (and the control) at each site, and each site's guesses."""
    rows, predicted = [], []
    for j, site in enumerate(vectors.sites):
        x = centred[:, j]
        story = _readout(x, vectors.at(site), metric)
        predicted.append(story.argmax(1))
        tmpl = None if control is None else _readout(x, control.at(site), metric)
        rows.append(
            SiteIdentification(
                site,
                topk_accuracy(story, labels, 1),
                topk_accuracy(story, labels, 5),
                None if tmpl is None else topk_accuracy(tmpl, labels, 1),
                None if tmpl is None else topk_accuracy(tmpl, labels, 5),
            )
        )
    return rows, predicted


def confusions(
    labels: Int[Tensor, " n"], predicted: Int[Tensor, " n"], emotions: Sequence[str], top: int = 15
) -> tuple[tuple[str, str, int], ...]:
    """The most frequent mistakes as `(true, predicted, count)`, most frequent first.

    Example:
        >>> confusions(torch.tensor([0, 0, 1, 2]), torch.tensor([1, 1, 1, 0]), ["a", "b", "c"])
        (('a', 'b', 2), ('c', 'a', 1))
    """
    counts: dict[tuple[str, str], int] = {}
    for t, p in zip(labels.tolist(), predicted.tolist(), strict=True):
        if t != p:
            key = (emotions[t], emotions[p])
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple((t, p, c) for (t, p), c in ranked[:top])


def _readout(
    x: Float[Tensor, "n d_model"], vectors: Float[Tensor, "emotion d_model"], metric: str
) -> Float[Tensor, "n emotion"]:
    vectors = vectors.to(x.dtype)
    return scores(x, vectors) if metric == "projection" else cosine_matrix(x, vectors)


def _held_out_means(
    backend: Backend,
    held: Sequence[Any],
    sites: Sequence[Site],
    recipe: Recipe,
    emotions: Sequence[str],
    progress: bool,
    fold_into: StoryStatistics | None = None,
    observe: Any = None,
    truncation: Truncation | None = None,
) -> tuple[Float[Tensor, "n site d_model"], Int[Tensor, " n"]]:
    index = {e: i for i, e in enumerate(emotions)}
    unknown = sorted({str(field_of(r, "emotion")) for r in held} - set(index))
    if unknown:
        raise ValueError(f"Held-out stories have emotions with no training story: {unknown[:5]}.")
    rows, labels = [], []
    stream = capture_stream(
        backend,
        story_items(held),
        sites,
        RowMoments(recipe.start),
        batch_tokens=recipe.batch_tokens,
        window=recipe.window,
        max_tokens=recipe.max_tokens,
        progress="held-out stories" if progress else False,
        total=len(held),
        truncation=truncation,
    )
    for items, captured in stream:
        rows.append(torch.stack([captured[s][:, :-2] for s in sites], dim=1))
        labels.extend(index[it.label or ""] for it in items)
        if fold_into is not None:
            fold_into.add([it.label or "" for it in items], captured)
        if observe is not None:
            observe(items, captured)
    return torch.cat(rows).double(), torch.tensor(labels, dtype=torch.long)
