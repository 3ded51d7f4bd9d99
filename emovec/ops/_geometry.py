"""Geometry of vector sets: typed wrappers over scipy and scikit-learn.

They compute on the CPU in numpy and return torch tensors. scipy and scikit-learn are imported
inside the functions, so `import emovec` stays light.
"""

from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import torch
from jaxtyping import Float, Int, Shaped
from torch import Tensor

from . import _checks
from ._rank import spearman


class Procrustes(NamedTuple):
    """An orthogonal alignment of one vector set onto another.

    Attributes:
        rotation: Orthogonal `[d_model, d_model]` matrix R minimising `|a R - b|` (Frobenius);
            it may include a reflection.
        aligned_cosine: Cosine between each aligned row `a[i] R` and `b[i]`.
    """

    rotation: Float[Tensor, "d_model d_model"]
    aligned_cosine: Float[Tensor, " n"]


class Clusters(NamedTuple):
    """A k-means partition.

    Attributes:
        labels: Cluster index of each row.
        centroids: One row per cluster.
        inertia: Sum of squared distances of rows to their centroid.
    """

    labels: Int[Tensor, " n"]
    centroids: Float[Tensor, "k d_model"]
    inertia: float


class ConfidenceInterval(NamedTuple):
    """A bootstrap confidence interval around a statistic."""

    estimate: float
    low: float
    high: float


def _numpy(t: Tensor) -> np.ndarray:
    return _checks.linalg_dtype(t.detach()).cpu().numpy()


def _square(sim: Tensor, name: str) -> None:
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"{name} must be a square [n, n] matrix, got {tuple(sim.shape)}.")
    _checks.finite(sim, name)


def rsa(
    sim_a: Float[Tensor, "n n"],
    sim_b: Float[Tensor, "n n"],
) -> float:
    """Representational similarity: Spearman correlation of two similarity matrices.

    Only the strict upper triangles are compared (the diagonal is trivially 1 and the lower
    triangle repeats the upper one), e.g. present-speaker vs other-speaker cosine matrices.

    Args:
        sim_a: Similarities between n items.
        sim_b: Similarities between the same n items, in the same order.

    Returns:
        Spearman's rho in [-1, 1].

    Raises:
        ValueError: On NaN or Inf, non-square or differently shaped inputs, n < 3, or a
            constant triangle (rho is undefined).

    Example:
        >>> a = torch.tensor([[1.0, 0.9, 0.1], [0.9, 1.0, 0.4], [0.1, 0.4, 1.0]])
        >>> rsa(a, a**3)
        1.0
    """
    _square(sim_a, "sim_a")
    _square(sim_b, "sim_b")
    if sim_a.shape != sim_b.shape:
        raise ValueError(
            f"sim_a compares {sim_a.shape[0]} items but sim_b compares {sim_b.shape[0]}: pass"
            " similarities between the same items, in the same order."
        )
    n = sim_a.shape[0]
    if n < 3:
        raise ValueError(f"rsa needs at least 3 items (3 pairs), got {n}.")
    rows, cols = torch.triu_indices(n, n, offset=1, device=sim_a.device)
    upper_a, upper_b = sim_a[rows, cols], sim_b[rows, cols]
    if bool(upper_a.amin() == upper_a.amax()) or bool(upper_b.amin() == upper_b.amax()):
        raise ValueError("A similarity matrix is constant off the diagonal: rho is undefined.")
    return spearman(upper_a, upper_b)


def procrustes(
    a: Float[Tensor, "n d_model"],
    b: Float[Tensor, "n d_model"],
) -> Procrustes:
    """Orthogonal Procrustes: the rotation that best maps the rows of `a` onto those of `b`.

    Args:
        a: Vectors in one space (e.g. emotion vectors at one layer).
        b: The matching vectors, row for row, in another space of the same width.

    Returns:
        The rotation (via `scipy.linalg.orthogonal_procrustes`) and each row's cosine after it;
        in `a`'s dtype and device.

    Raises:
        ValueError: On NaN or Inf, shapes that differ, or zero-norm rows.

    Example:
        >>> a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> fit = procrustes(a, torch.tensor([[0.0, 1.0], [-1.0, 0.0]]))
        >>> fit.rotation.round(decimals=4) + 0.0, fit.aligned_cosine.round(decimals=4)
        (tensor([[ 0.,  1.],
                [-1.,  0.]]), tensor([1., 1.]))
    """
    from scipy.linalg import orthogonal_procrustes

    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    _checks.finite(a, "a")
    _checks.finite(b, "b")
    rotation, _ = orthogonal_procrustes(_numpy(a), _numpy(b))
    rotation = torch.from_numpy(rotation).to(dtype=a.dtype, device=a.device)
    aligned = a @ rotation
    b = b.to(dtype=a.dtype, device=a.device)
    dots = (aligned * b).sum(-1)
    norms = _checks.nonzero_norms(aligned, "a") * _checks.nonzero_norms(b, "b")
    return Procrustes(rotation, (dots / norms).clamp(-1.0, 1.0))


def kmeans(x: Float[Tensor, "n d_model"], k: int, *, seed: int = 0) -> Clusters:
    """k-means clustering of the rows of `x` (`sklearn.cluster.KMeans`, 10 seeded restarts).

    Normalise the rows first to cluster by direction (cosine) rather than by length.

    Args:
        x: Rows to cluster (e.g. the 171 emotion vectors).
        k: Number of clusters (the paper uses 10).
        seed: Seeds the restarts; the same seed gives the same partition.

    Returns:
        Labels (int64, on `x`'s device), centroids (in `x`'s dtype) and inertia.

    Raises:
        ValueError: On NaN or Inf, or k outside [1, n].

    Example:
        >>> x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
        >>> kmeans(x, 2, seed=0).labels.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
        True
    """
    from sklearn.cluster import KMeans

    _checks.finite(x, "x")
    if not 1 <= k <= x.shape[0]:
        raise ValueError(f"k must be between 1 and the number of rows ({x.shape[0]}), got {k}.")
    # n_init: an int is valid (scikit-learn's annotation says str only).
    fit = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(_numpy(x))  # pyright: ignore[reportArgumentType]
    labels, centroids, inertia = fit.labels_, fit.cluster_centers_, fit.inertia_
    assert labels is not None and inertia is not None  # set by fit
    return Clusters(
        torch.from_numpy(labels.astype(np.int64)).to(x.device),
        torch.from_numpy(centroids).to(dtype=x.dtype, device=x.device),
        float(inertia),
    )


def hierarchical_order(
    sim: Float[Tensor, "n n"],
    *,
    method: Literal["average", "complete", "single", "weighted"] = "average",
) -> Int[Tensor, " n"]:
    """An order of the items that puts similar ones next to each other (for heatmaps).

    Agglomerative clustering (`scipy.cluster.hierarchy.linkage`, optimal leaf ordering) on the
    distance `1 - sim`.

    Args:
        sim: Symmetric similarities at most 1 (cosine or correlation).
        method: Linkage method.

    Returns:
        A permutation of `range(n)` (int64): `sim[order][:, order]` shows the blocks.

    Raises:
        ValueError: On NaN or Inf, a non-square or asymmetric matrix, or similarities above 1.

    Example:
        >>> sim = torch.tensor([[1.0, 0.0, 0.9], [0.0, 1.0, 0.1], [0.9, 0.1, 1.0]])
        >>> hierarchical_order(sim).tolist()
        [1, 2, 0]
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    _square(sim, "sim")
    n = sim.shape[0]
    dist = 1.0 - _numpy(sim).astype(np.float64)
    if np.abs(dist - dist.T).max() > 1e-6:
        raise ValueError("sim must be symmetric.")
    if dist.min() < -1e-6:
        raise ValueError("sim must not exceed 1 (use cosines or correlations).")
    if n < 2:
        return torch.zeros(n, dtype=torch.int64, device=sim.device)
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(np.clip((dist + dist.T) / 2, 0.0, None), checks=False)
    order = leaves_list(linkage(condensed, method=method, optimal_ordering=True))
    return torch.from_numpy(order.astype(np.int64)).to(sim.device)


def bootstrap_ci(
    fn: Callable[[Tensor], float | Tensor],
    samples: Shaped[Tensor, "n ..."],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    method: Literal["percentile", "basic", "BCa"] = "percentile",
    batched: bool = False,
) -> ConfidenceInterval:
    """Seeded bootstrap confidence interval of `fn(samples)` (`scipy.stats.bootstrap`).

    Rows of `samples` are resampled with replacement (paired: each resample keeps rows whole),
    so `fn` may be any statistic of a set of rows: a mean, a correlation of two columns, a
    probe's accuracy.

    Args:
        fn: The statistic; called on `samples[idx]` for each resample.
        samples: One observation per row.
        n_resamples: Number of bootstrap resamples.
        confidence: Confidence level of the interval.
        seed: Seeds the resampling; the same seed gives the same interval.
        method: scipy's interval method; "BCa" corrects bias and skew but costs n more calls.
        batched: `fn` takes a stack of resamples `[r, n, ...]` and returns `[r]` statistics,
            so all resamples cost a few vectorised calls instead of `n_resamples` calls.

    Returns:
        The statistic on all samples and the interval's bounds.

    Raises:
        ValueError: On fewer than 2 samples, NaN or Inf in floating-point samples, or a
            confidence outside (0, 1).

    Example:
        >>> ci = bootstrap_ci(lambda s: s.mean(), torch.arange(100.0), seed=0)
        >>> ci.low < ci.estimate < ci.high
        True
    """
    from scipy.stats import bootstrap

    n = samples.shape[0]
    if n < 2 or not 0.0 < confidence < 1.0:
        raise ValueError(f"Need >= 2 samples and confidence in (0, 1), got {n}, {confidence}.")
    if samples.is_floating_point():
        # A NaN row poisons only the resamples that draw it: NaN bounds, or a misleading
        # interval for a statistic that skips NaN (nanmean). Reject it up front.
        _checks.finite(samples, "samples")

    def statistic(idx: np.ndarray) -> float:
        return float(fn(samples[torch.from_numpy(idx).to(samples.device)]))

    def statistics(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = torch.from_numpy(np.array(idx)).to(samples.device)  # a copy: scipy may pass views
        return np.asarray(torch.as_tensor(fn(samples[rows])).detach().cpu(), dtype=np.float64)

    result = bootstrap(
        (np.arange(n),),
        statistics if batched else statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method=method,
        vectorized=batched,
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    estimate = torch.as_tensor(fn(samples[None]))[0] if batched else fn(samples)
    return ConfidenceInterval(float(estimate), float(low), float(high))
