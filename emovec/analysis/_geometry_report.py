"""PCA geometry of a vector set, per site, against human valence and arousal ratings.

`geometry_report(vectors, norms)` runs a PCA of the emotion vectors at every site and
correlates each of the top PCs with the human ratings (Pearson and Spearman, each with a
bootstrap 95% interval over emotions), counts the components needed for 50% and 80% of the
variance, and recommends a site by the rule in `RECOMMENDATION_RULE`. The paper's reference
numbers: PC1 vs valence r = 0.81, PC2 vs arousal r = 0.66 (Claude Sonnet 4.5, 45 words).

A PC's sign is arbitrary (see `emovec.ops.pca`), so |r| is what compares across sites; on
small models valence may come out as PC2 or PC3, which is why every top PC is tested.
"""

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site
from emovec.ops import ConfidenceInterval, bootstrap_ci, pca, spearman
from emovec.vectors import EmotionVectors

from ._ratings import RATINGS as RATINGS
from ._ratings import Ratings as Ratings
from ._ratings import ratings_for as ratings_for
from ._readout import ReadoutTable, readout_by_site

VARIANCE_LEVELS = (0.5, 0.8)
RECOMMENDATION_RULE = (
    "Among sites at or after one third of the model's depth (early layers carry the current"
    " token's identity more than its emotion), take the largest valence alignment: the largest"
    " |Pearson r| between valence and any of the top PCs. Sites within 0.02 of that best count"
    " as tied, and the tie goes to the site closest to two thirds of the depth (the paper's"
    " default layer). With no site in the back two thirds, every site is eligible."
)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else float("nan")


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    denom = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(-1) / denom, np.nan)


def pearson_resamples(pairs: Float[Tensor, "r n 2"]) -> Float[Tensor, " r"]:
    """`pearson_columns` of each resample in a stack (for a batched bootstrap)."""
    x = pairs.detach().double().cpu().numpy()
    return torch.from_numpy(_corr_rows(x[..., 0], x[..., 1]))


def spearman_resamples(pairs: Float[Tensor, "r n 2"]) -> Float[Tensor, " r"]:
    """`spearman_columns` of each resample in a stack (average ranks for ties)."""
    from scipy.stats import rankdata

    # Not `emovec.ops.spearman` per resample: at ~0.5 ms a call, the default report (3 PCs x
    # 2 ratings x 1000 resamples per site) would spend ~3 s per site on it. scipy still ranks,
    # all resamples in one call; the tests hold the result to `spearman` within 1e-12.
    x = pairs.detach().double().cpu().numpy()
    ranks = rankdata(x, axis=-2)
    return torch.from_numpy(_corr_rows(ranks[..., 0], ranks[..., 1]))


def pearson_columns(pairs: Float[Tensor, "n 2"]) -> float:
    """Pearson r of the two columns of `pairs` (NaN when a column is constant).

    Example:
        >>> round(pearson_columns(torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 7.0]])), 4)
        0.9934
    """
    x = pairs.detach().double().cpu().numpy()
    return _corr(x[:, 0], x[:, 1])


def spearman_columns(pairs: Float[Tensor, "n 2"]) -> float:
    """Spearman rho of the two columns of `pairs` (`emovec.ops.spearman`; NaN when a column
    is constant).

    Example:
        >>> spearman_columns(torch.tensor([[1.0, 1.0], [2.0, 8.0], [3.0, 27.0]]))
        1.0
    """
    if bool((pairs.amax(0) == pairs.amin(0)).any()):
        return float("nan")
    return spearman(pairs[:, 0], pairs[:, 1])


@dataclass(frozen=True)
class Correlation:
    """One PC against one rating: Pearson r and Spearman rho, each with a bootstrap interval."""

    pc: int
    rating: str
    pearson: float
    pearson_low: float
    pearson_high: float
    spearman: float
    spearman_low: float
    spearman_high: float


@dataclass(frozen=True)
class SiteGeometry:
    """The PCA of one site's vectors and how its top PCs line up with the human ratings.

    Attributes:
        site: The site.
        explained: Explained-variance ratio of each component (all of them).
        n_for_variance: Fewest components reaching each level of `VARIANCE_LEVELS`.
        coords: Every emotion's coordinates on the top PCs, `[emotion, k]`.
        correlations: One `Correlation` per top PC and rating.
        readout: Per rating, Pearson r of a leave-one-emotion-out ridge readout from the
            vectors (`emovec.analysis.loo_ridge_r`): is the rating linearly readable at all.
    """

    site: Site
    explained: tuple[float, ...]
    n_for_variance: dict[float, int]
    coords: Float[Tensor, "emotion k"]
    correlations: tuple[Correlation, ...]
    readout: dict[str, float] = field(default_factory=dict)

    def corr(self, pc: int, rating: str) -> Correlation:
        """The correlation of PC `pc` (1-based) with `rating`."""
        for c in self.correlations:
            if c.pc == pc and c.rating == rating:
                return c
        raise KeyError(f"No correlation for PC{pc} and {rating!r} at {self.site}.")

    def alignment(self, rating: str) -> Correlation:
        """The top PC with the largest |Pearson r| with `rating`."""
        return max(
            (c for c in self.correlations if c.rating == rating), key=lambda c: abs(c.pearson)
        )


@dataclass(frozen=True)
class GeometryReport:
    """Per-site PCA geometry against human ratings, and the recommended site.

    Attributes:
        sites: One `SiteGeometry` per site of the bundle, in bundle order.
        emotions: Every emotion in the bundle (the PCA runs over all of them).
        ratings: The rated subset used for correlations.
        n_layers: Depth of the model (from the bundle, else the deepest site + 1).
        recommended: The site chosen by `rule`.
        rule: The recommendation rule, in words.
        n_resamples: Bootstrap resamples behind each interval.
    """

    sites: tuple[SiteGeometry, ...]
    emotions: tuple[str, ...]
    ratings: Ratings
    n_layers: int
    recommended: Site
    rule: str = RECOMMENDATION_RULE
    n_resamples: int = 1000
    notes: tuple[str, ...] = field(default=())

    def at(self, site: "Site | str | int") -> SiteGeometry:
        """The geometry at one site."""
        wanted = Site.parse(site)
        for s in self.sites:
            if s.site == wanted:
                return s
        raise KeyError(f"No site {wanted} in this report.")

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (for JSON): per site the variance and every correlation."""
        return {
            "recommended_site": str(self.recommended),
            "rule": self.rule,
            "n_emotions": len(self.emotions),
            "n_rated": len(self.ratings.emotions),
            "norms": self.ratings.source,
            "n_resamples": self.n_resamples,
            "sites": [
                {
                    "site": str(s.site),
                    "explained_top": list(s.explained[: s.coords.shape[1]]),
                    "n_for_variance": {f"{k:g}": v for k, v in s.n_for_variance.items()},
                    "correlations": [c.__dict__ for c in s.correlations],
                    "readout": dict(s.readout),
                }
                for s in self.sites
            ],
        }

    def table(self) -> str:
        """One line per site: PC1-3 variance, best |r| with valence and arousal, 50%/80% counts."""
        lines = [
            f"{'site':16s} {'PC1':>6s} {'PC2':>6s} {'PC3':>6s}  {'valence r (PC)':>15s}"
            f"  {'arousal r (PC)':>15s} {'n50':>4s} {'n80':>4s}"
        ]
        for s in self.sites:
            ev = "".join(f" {x:6.3f}" for x in (*s.explained, *[math.nan] * 3)[:3])
            val, aro = s.alignment("valence"), s.alignment("arousal")
            counts = "".join(f" {s.n_for_variance[v]:4d}" for v in VARIANCE_LEVELS)
            mark = "*" if s.site == self.recommended else " "
            lines.append(
                f"{str(s.site):15s}{mark}{ev}  {val.pearson:+10.3f} (PC{val.pc})"
                f"  {aro.pearson:+10.3f} (PC{aro.pc}){counts}"
            )
        lines.append(
            f"{len(self.ratings.emotions)} of {len(self.emotions)} emotions rated"
            f" ({self.ratings.source}); * = recommended site"
        )
        return "\n".join(lines)


def _interval(
    fn: Callable[[Tensor], Tensor], pairs: Tensor, n_resamples: int, seed: int
) -> ConfidenceInterval:
    """A batched `bootstrap_ci` of a per-resample statistic, or NaNs when a column is constant
    (no correlation is defined)."""
    nan = float("nan")
    if bool((pairs.amax(0) == pairs.amin(0)).any()):
        return ConfidenceInterval(nan, nan, nan)
    with warnings.catch_warnings():
        # A resample that repeats one emotion many times can be constant; scipy then warns
        # and the interval comes back NaN, which the report shows as "n/a".
        warnings.simplefilter("ignore", category=RuntimeWarning)
        from scipy.stats import DegenerateDataWarning

        warnings.simplefilter("ignore", category=DegenerateDataWarning)
        return bootstrap_ci(fn, pairs, n_resamples=n_resamples, seed=seed, batched=True)


def recommend_site(
    alignments: Sequence[tuple[Site, float]], n_layers: int, *, tie: float = 0.02
) -> Site:
    """Pick a site by `RECOMMENDATION_RULE` from `(site, valence |r|)` pairs.

    Example:
        >>> recommend_site([(Site(2), 0.9), (Site(12), 0.70), (Site(20), 0.69)], 30)
        Site(layer=20, stream='resid_post')
    """
    if not alignments:
        raise ValueError("recommend_site needs at least one site.")
    eligible = [a for a in alignments if a[0].layer >= n_layers / 3] or list(alignments)
    clean = [(s, 0.0 if math.isnan(r) else abs(r)) for s, r in eligible]
    best = max(r for _, r in clean)
    tied = [s for s, r in clean if r >= best - tie]
    return min(tied, key=lambda s: (abs(s.layer - 2 * n_layers / 3), s.layer, s.stream))


def readout_table(vectors: EmotionVectors, norms: Any = None) -> ReadoutTable:
    """The leave-one-emotion-out readout r of human valence and arousal at every site
    (`emovec.analysis.loo_ridge_r`; norms as `ratings_for` accepts, None: the shipped ones).

    Example:
        >>> names = [f"e{i}" for i in range(12)]
        >>> v = torch.randn(12, 1, 8, generator=torch.Generator().manual_seed(0))
        >>> rated = {n: {"valence": float(v[i, 0, 0]), "arousal": float(v[i, 0, 1])}
        ...          for i, n in enumerate(names)}
        >>> readout_table(EmotionVectors(v, names, [Site(0)]), rated).best("valence")[1] > 0.9
        True
    """
    ratings = ratings_for(vectors.emotions, norms)
    targets = {n: torch.tensor(ratings.column(n), dtype=torch.float64) for n in RATINGS}
    return readout_by_site(vectors, ratings.emotions, targets)


def geometry_report(
    vectors: EmotionVectors,
    norms: Any = None,
    *,
    n_components: int = 3,
    n_resamples: int = 1000,
    seed: int = 0,
    progress: bool = False,
    readout_r: bool = True,
) -> GeometryReport:
    """PCA of the vectors at every site, correlated with human valence and arousal.

    Args:
        vectors: A bundle with at least 4 emotions.
        norms: Human ratings, as `ratings_for` accepts (None: the shipped norms).
        n_components: How many top PCs to correlate with the ratings.
        n_resamples: Bootstrap resamples (over rated emotions) per interval.
        seed: Seeds the bootstrap.
        progress: Show a progress bar over sites on stderr.
        readout_r: Also fit the leave-one-emotion-out ridge readout of each rating per site
            (`SiteGeometry.readout`; about 0.1 s per site for 126 rated emotions).

    Returns:
        A `GeometryReport`.

    Raises:
        ValueError: Too few emotions, or too few of them rated (see `ratings_for`).

    Example:
        >>> names = ["joy", "grief", "rage", "calm", "awe", "bored"]
        >>> valence = torch.tensor([8.0, 2.0, 2.5, 7.0, 7.5, 3.0])
        >>> v = torch.randn(6, 1, 16, generator=torch.Generator().manual_seed(0)) * 0.05
        >>> v[:, 0, 0] += valence
        >>> norms = {n: {"valence": float(x), "arousal": 5.0} for n, x in zip(names, valence)}
        >>> rep = geometry_report(EmotionVectors(v, names, [Site(0)]), norms, n_resamples=50)
        >>> round(abs(rep.sites[0].corr(1, "valence").pearson), 2)
        1.0
    """
    if len(vectors.emotions) < 4:
        raise ValueError(f"geometry_report needs at least 4 emotions, got {len(vectors.emotions)}.")
    ratings = ratings_for(vectors.emotions, norms)
    rows = torch.tensor([vectors.index(e) for e in ratings.emotions])
    columns = {name: torch.tensor(ratings.column(name), dtype=torch.float64) for name in RATINGS}
    n_layers = vectors.n_layers or max(s.layer for s in vectors.sites) + 1
    table = readout_by_site(vectors, ratings.emotions, columns) if readout_r else None
    sites = []
    iterator = vectors.sites
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="geometry", unit="site", leave=False)
    for site in iterator:
        x = vectors.at(site).double()
        full = pca(x)
        k = min(n_components, full.components.shape[0])
        coords = (x - full.mean) @ full.components[:k].T
        cumulative = full.explained_variance_ratio.cumsum(0)
        n_for = {
            level: min(int((cumulative < level - 1e-12).sum()) + 1, len(cumulative))
            for level in VARIANCE_LEVELS
        }
        correlations = []
        for pc in range(k):
            for name in RATINGS:
                pairs = torch.stack([coords[rows, pc], columns[name]], dim=1)
                p = _interval(pearson_resamples, pairs, n_resamples, seed)
                s = _interval(spearman_resamples, pairs, n_resamples, seed)
                correlations.append(
                    Correlation(pc + 1, name, p.estimate, p.low, p.high, s.estimate, s.low, s.high)
                )
        readout = {n: table.r[n][len(sites)] for n in RATINGS} if table is not None else {}
        sites.append(
            SiteGeometry(
                site,
                tuple(float(r) for r in full.explained_variance_ratio),
                n_for,
                coords.float(),
                tuple(correlations),
                readout,
            )
        )
    chosen = recommend_site(
        [(s.site, s.alignment("valence").pearson) for s in sites], n_layers=n_layers
    )
    return GeometryReport(
        tuple(sites), vectors.emotions, ratings, n_layers, chosen, n_resamples=n_resamples
    )
