"""Principal component analysis, from rows or from a (streamed) covariance.

Sign convention: each component is flipped so that its largest-magnitude loading (the first
one, on exact ties) is positive. SVD and eigen-solvers fix a component only up to sign, and
this makes results reproducible across runs, solvers and the two entry points.
"""

from typing import NamedTuple

import torch
from jaxtyping import Float
from torch import Tensor

from . import _checks


class PrincipalComponents(NamedTuple):
    """Leading principal components, in descending order of variance.

    Attributes:
        components: Orthonormal rows, signed by the convention above.
        explained_variance: Variance along each component (the covariance's eigenvalues).
        explained_variance_ratio: Each component's share of the total variance; sums to <= 1.
        n_for_variance: The fewest components explaining `variance` (the number kept), or None
            when `variance` was not asked for.
        mean: The mean that was removed (zeros when `center=False`).
    """

    components: Float[Tensor, "k d_model"]
    explained_variance: Float[Tensor, " k"]
    explained_variance_ratio: Float[Tensor, " k"]
    n_for_variance: int | None
    mean: Float[Tensor, " d_model"]


def pca(
    x: Float[Tensor, "n d_model"],
    *,
    variance: float | None = None,
    k: int | None = None,
    center: bool = True,
) -> PrincipalComponents:
    """Principal components of the rows of `x`, by SVD of the centred rows.

    Each component is signed so that its largest-magnitude loading (the first one, on exact
    ties) is positive: SVD fixes a component only up to sign, and this makes results
    reproducible across runs and equal to `pca_from_covariance`'s.

    Args:
        x: One observation per row (e.g. per-dialogue mean activations).
        variance: Keep the fewest leading components whose ratios sum to at least this
            fraction (in (0, 1]); the paper removes the neutral PCs explaining 0.5.
        k: Keep exactly this many components instead. Give at most one of `variance` and `k`;
            with neither, all `min(n, d_model)` are kept.
        center: Subtract the mean first (variances divide by n - 1); if False, analyse the
            second moment about the origin (dividing by n).

    Returns:
        A `PrincipalComponents` tuple, in `x`'s dtype (half precision is computed in float32).

    Raises:
        ValueError: On NaN or Inf, too few rows, zero total variance, or invalid `variance`/`k`.

    Example:
        >>> x = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
        >>> p = pca(x, variance=0.5)
        >>> p.components + 0.0, p.explained_variance_ratio, p.n_for_variance
        (tensor([[1., 0.]]), tensor([0.8000]), 1)
    """
    _checks.finite(x, "x")
    n = x.shape[0]
    if n < (2 if center else 1):
        raise ValueError(f"pca needs at least {2 if center else 1} rows, got {n}.")
    work = _checks.linalg_dtype(x)
    mean = work.mean(0) if center else torch.zeros_like(work[0])
    _, s, vh = torch.linalg.svd(work - mean, full_matrices=False)
    result = _select(s * s / (n - 1 if center else n), vh, mean, variance=variance, k=k)
    return _cast(result, x.dtype)


def pca_from_covariance(
    cov: Float[Tensor, "d_model d_model"],
    mean: Float[Tensor, " d_model"],
    *,
    variance: float | None = None,
    k: int | None = None,
) -> PrincipalComponents:
    """Principal components from a covariance matrix, so PCA can run without keeping the rows.

    Args:
        cov: Symmetric covariance, e.g. `RunningCovariance.covariance()`.
        mean: The mean it was taken about; returned as the result's `mean`.
        variance: As in `pca`.
        k: As in `pca`.

    Returns:
        A `PrincipalComponents` tuple in `cov`'s dtype; it matches `pca` on the rows.

    Raises:
        ValueError: On NaN or Inf, a non-square or asymmetric `cov`, mismatched widths, zero
            total variance, or invalid `variance`/`k`.

    Example:
        >>> cov = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
        >>> p = pca_from_covariance(cov, torch.zeros(2), k=1)
        >>> p.components + 0.0, p.explained_variance_ratio
        (tensor([[0., 1.]]), tensor([0.7500]))
    """
    _checks.same_width(cov, mean, "cov", "mean")
    _checks.finite(cov, "cov")
    work = _checks.linalg_dtype(cov)
    asym = float((work - work.mT).abs().max())
    if asym > 1e-6 * max(float(work.abs().max()), torch.finfo(work.dtype).tiny):
        raise ValueError(
            f"cov is not symmetric (max |cov - cov.T| = {asym:.2e}): pass a covariance."
        )
    values, vectors = torch.linalg.eigh((work + work.mT) / 2)
    # eigh sorts ascending; rounding can leave tiny negative eigenvalues of a PSD matrix.
    values, vectors = values.flip(0).clamp_min(0.0), vectors.flip(1).mT
    result = _select(values, vectors, mean.to(work.dtype), variance=variance, k=k)
    return _cast(result, cov.dtype)


def _select(
    values: Tensor, vectors: Tensor, mean: Tensor, *, variance: float | None, k: int | None
) -> PrincipalComponents:
    total = values.sum()
    if not bool(total > 0):
        raise ValueError("The data have zero variance: every row is the same (after centring).")
    ratio = values / total
    available = values.shape[0]
    n_for_variance = None
    if variance is not None and k is not None:
        raise ValueError("Pass at most one of `variance` and `k`.")
    if variance is not None:
        if not 0.0 < variance <= 1.0:
            raise ValueError(f"variance must be a fraction in (0, 1], got {variance!r}.")
        # Prefixes that fall short, plus one; rounding may leave the full sum just below 1.
        keep = n_for_variance = min(int((ratio.cumsum(0) < variance).sum()) + 1, available)
    elif k is not None:
        if not 1 <= k <= available:
            raise ValueError(f"k must be between 1 and {available} (min(n, d_model)), got {k}.")
        keep = k
    else:
        keep = available
    components = vectors[:keep]
    largest = components.abs().argmax(dim=1, keepdim=True)
    components = components * torch.sign(components.gather(1, largest))
    return PrincipalComponents(components, values[:keep], ratio[:keep], n_for_variance, mean)


def _cast(p: PrincipalComponents, dtype: torch.dtype) -> PrincipalComponents:
    return p._replace(
        components=p.components.to(dtype),
        explained_variance=p.explained_variance.to(dtype),
        explained_variance_ratio=p.explained_variance_ratio.to(dtype),
        mean=p.mean.to(dtype),
    )
