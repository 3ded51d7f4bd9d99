"""Similarity structure of a vector set at one site: is it organised like human emotion concepts?

`similarity(vectors, site)` computes the cosine matrix (ordered by hierarchical clustering for a
heatmap), a k-means partition (k = 10 as in the paper) with its silhouette, each emotion's
nearest neighbours, and the cosine of opposite-valence pairs, which the paper finds to be
anti-correlated. Pairs come from a curated antonym list (`ANTONYMS`) and from the norms (the
i-th most positive emotion with the i-th most negative).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from emovec._site import Site
from emovec.ops import cosine_matrix, hierarchical_order, kmeans
from emovec.vectors import EmotionVectors

from ._geometry_report import ratings_for

# Hand-picked opposites among the paper's 171 words: same topic of feeling, opposite valence.
ANTONYMS: tuple[tuple[str, str], ...] = (
    ("happy", "sad"),
    ("calm", "afraid"),
    ("relaxed", "tense"),
    ("joyful", "miserable"),
    ("hopeful", "depressed"),
    ("proud", "ashamed"),
    ("grateful", "resentful"),
    ("loving", "hateful"),
    ("safe", "vulnerable"),
    ("pleased", "annoyed"),
    ("content", "frustrated"),
    ("peaceful", "hostile"),
    ("optimistic", "gloomy"),
    ("self-confident", "self-conscious"),
    ("relieved", "worried"),
    ("satisfied", "disgusted"),
    ("serene", "panicked"),
    ("cheerful", "grumpy"),
    ("energized", "tired"),
    ("patient", "impatient"),
)


@dataclass(frozen=True)
class PairCosine:
    """The cosine of one pair of opposite-valence emotions, and where the pair came from."""

    positive: str
    negative: str
    cosine: float
    source: str  # "antonyms" or "norms"


@dataclass(frozen=True)
class Similarity:
    """The similarity structure of the vectors at one site.

    Attributes:
        site: The site.
        emotions: Row and column names of `cosine`.
        cosine: `[emotion, emotion]` cosine matrix, in bundle order.
        order: A hierarchical-clustering order of the emotions (`cosine[order][:, order]`).
        labels: k-means cluster of each emotion (clustered on unit rows).
        silhouette: Mean silhouette of that partition under cosine distance, in [-1, 1].
        neighbours: Each emotion's nearest others, `(name, cosine)`, most similar first.
        pairs: Opposite-valence pairs present in the bundle, with their cosine.
        mean_offdiagonal: Mean cosine over all distinct pairs (the baseline for `pairs`).
    """

    site: Site
    emotions: tuple[str, ...]
    cosine: Float[Tensor, "emotion emotion"]
    order: Int[Tensor, " emotion"]
    labels: Int[Tensor, " emotion"]
    silhouette: float
    neighbours: dict[str, tuple[tuple[str, float], ...]]
    pairs: tuple[PairCosine, ...]
    mean_offdiagonal: float

    @property
    def k(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def clusters(self) -> list[tuple[str, ...]]:
        """The k-means clusters as lists of names, largest first."""
        groups = [
            tuple(
                e
                for e, label in zip(self.emotions, self.labels.tolist(), strict=True)
                if label == c
            )
            for c in range(self.k)
        ]
        return sorted(groups, key=lambda g: (-len(g), g))

    def pair_mean(self, source: str | None = None) -> float:
        """Mean cosine of the opposite-valence pairs (of one `source`, or all); NaN if none."""
        values = [p.cosine for p in self.pairs if source is None or p.source == source]
        return sum(values) / len(values) if values else float("nan")

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (for JSON)."""
        return {
            "site": str(self.site),
            "k": self.k,
            "silhouette": self.silhouette,
            "clusters": [list(c) for c in self.clusters()],
            "mean_offdiagonal_cosine": self.mean_offdiagonal,
            "opposite_pairs": [p.__dict__ for p in self.pairs],
            "opposite_pairs_mean": {
                "all": self.pair_mean(),
                "antonyms": self.pair_mean("antonyms"),
                "norms": self.pair_mean("norms"),
            },
            "neighbours": {e: [list(x) for x in n] for e, n in self.neighbours.items()},
        }


def valence_pairs(
    emotions: Sequence[str], norms: Any = None, *, n: int = 10
) -> list[tuple[str, str]]:
    """Opposite-valence pairs from the norms: the i-th most positive with the i-th most negative.

    Args:
        emotions: Candidate emotions (only rated ones are used).
        norms: As `ratings_for` accepts (None: the shipped norms).
        n: Number of pairs (fewer if fewer than 2n emotions are rated).

    Example:
        >>> valence_pairs(["calm", "afraid", "happy", "sad"], n=2)
        [('happy', 'sad'), ('calm', 'afraid')]
    """
    rated = ratings_for(emotions, norms, minimum=2)
    ranked = sorted(zip(rated.valence, rated.emotions, strict=True), reverse=True)
    n = min(n, len(ranked) // 2)
    return [(ranked[i][1], ranked[-1 - i][1]) for i in range(n)]


def similarity(
    vectors: EmotionVectors,
    site: "Site | str | int",
    *,
    k: int = 10,
    n_neighbours: int = 5,
    antonyms: Sequence[tuple[str, str]] = ANTONYMS,
    norms: Any = None,
    n_norm_pairs: int = 10,
    seed: int = 0,
) -> Similarity:
    """Cosine structure, clusters, neighbours and opposite-valence pairs at one site.

    Args:
        vectors: A bundle with at least 3 emotions.
        site: The site to analyse.
        k: Number of k-means clusters (clipped to the number of emotions minus one).
        n_neighbours: Neighbours listed per emotion.
        antonyms: Curated opposite pairs `(positive, negative)`; those not in the bundle are
            skipped.
        norms: Ratings for norm-derived pairs (as `ratings_for` accepts); `False` skips them.
        n_norm_pairs: Number of norm-derived pairs.
        seed: Seeds k-means.

    Returns:
        A `Similarity`.

    Example:
        >>> v = torch.tensor([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0], [-0.9, -0.1]])[:, None]
        >>> ev = EmotionVectors(v, ["happy", "joyful", "sad", "miserable"], [Site(0)])
        >>> s = similarity(ev, 0, k=2, norms=False)
        >>> [(p.positive, p.negative, round(p.cosine, 2)) for p in s.pairs]
        [('happy', 'sad', -1.0), ('joyful', 'miserable', -1.0)]
    """
    x = vectors.at(site).double()
    n = x.shape[0]
    if n < 3:
        raise ValueError(f"similarity needs at least 3 emotions, got {n}.")
    names = vectors.emotions
    cos = cosine_matrix(x, x)
    order = hierarchical_order(cos)
    unit = x / x.norm(dim=1, keepdim=True)
    k = max(2, min(k, n - 1))
    labels = kmeans(unit, k, seed=seed).labels
    silhouette = _silhouette(cos, labels)
    others = cos.clone()
    others.fill_diagonal_(-float("inf"))
    m = min(n_neighbours, n - 1)
    top = others.topk(m, dim=1)
    neighbours = {
        names[i]: tuple(
            (names[j], float(c))
            for j, c in zip(top.indices[i].tolist(), top.values[i].tolist(), strict=True)
        )
        for i in range(n)
    }
    index = {e: i for i, e in enumerate(names)}
    pairs = [
        PairCosine(a, b, float(cos[index[a], index[b]]), "antonyms")
        for a, b in antonyms
        if a in index and b in index
    ]
    if norms is not False:
        seen = {(p.positive, p.negative) for p in pairs}
        for a, b in valence_pairs(names, norms, n=n_norm_pairs):
            if (a, b) not in seen:
                pairs.append(PairCosine(a, b, float(cos[index[a], index[b]]), "norms"))
    upper = torch.triu_indices(n, n, offset=1)
    mean_off = float(cos[upper[0], upper[1]].mean())
    return Similarity(
        Site.parse(site),
        names,
        cos.float(),
        order,
        labels,
        silhouette,
        neighbours,
        tuple(pairs),
        mean_off,
    )


def _silhouette(cos: Tensor, labels: Tensor) -> float:
    """Mean silhouette under cosine distance (NaN when every emotion is its own cluster)."""
    from sklearn.metrics import silhouette_score

    k = int(labels.max()) + 1
    if not 2 <= k <= len(labels) - 1:
        return float("nan")
    dist = (1.0 - cos).clamp(min=0.0).numpy()
    dist = (dist + dist.T) / 2
    dist[range(len(dist)), range(len(dist))] = 0.0
    return float(silhouette_score(dist, labels.numpy(), metric="precomputed"))


def plot_similarity(result: Similarity) -> Any:
    """The cosine heatmap in hierarchical-clustering order, names on both axes. Returns the
    matplotlib figure."""
    from matplotlib.figure import Figure

    n = len(result.emotions)
    size = min(16.0, max(5.0, 0.09 * n + 3))
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.subplots()
    order = result.order.tolist()
    shown = result.cosine[order][:, order].numpy()
    image = ax.imshow(shown, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    labels = [result.emotions[i] for i in order]
    font = 7 if n <= 60 else 4
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    fig.colorbar(image, ax=ax, shrink=0.6, label="cosine")
    ax.set_title(
        f"cosine similarity at {result.site} (hierarchical order); k-means k={result.k},"
        f" silhouette {result.silhouette:.2f}",
        fontsize=9,
    )
    return fig
