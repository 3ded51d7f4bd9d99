"""Hypothesis strategies that build matrices by structure, not by entries.

Hypothesis draws a shape, a seed, a condition number and a scale; the matrix comes from a
controlled SVD with Haar-random orthogonal factors. Drawing raw entries would send the shrinker
towards degenerate, constant-filled arrays, and would rarely produce the ill-conditioned (but
still full-rank) inputs that break a careless implementation.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import Tensor

F64 = torch.float64

seeds = st.integers(0, 2**32 - 1)
# Log-uniform magnitudes, so 1e-3 is as likely as 1e3.
scales = st.floats(-3.0, 3.0).map(lambda e: 10.0**e)
batch_shapes = st.lists(st.integers(1, 3), max_size=2).map(tuple)


def haar_orthogonal(n: int, generator: torch.Generator) -> Tensor:
    """A Haar-random n x n orthogonal matrix: QR of a Gaussian, R's signs moved into Q
    (Mezzadri 2007; without that step the distribution is not uniform)."""
    q, r = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=F64))
    return q * torch.sign(torch.diagonal(r))


def spectrum(n: int, *, condition: float, scale: float, rank: int | None = None) -> list[float]:
    """n singular values from `scale` down to `scale / condition`, geometrically spaced; zeros
    beyond `rank`."""
    rank = n if rank is None else rank
    if rank <= 1:
        values = [scale] * rank
    else:
        values = [scale * condition ** (-i / (rank - 1)) for i in range(rank)]
    return values + [0.0] * (n - rank)


def from_svd(rows: int, cols: int, singular_values: Sequence[float], *, seed: int) -> Tensor:
    """`U diag(s) V^T` (float64) with Haar-random U and V drawn from `seed`."""
    g = torch.Generator().manual_seed(seed)
    r = len(singular_values)
    u = haar_orthogonal(rows, g)[:, :r]
    v = haar_orthogonal(cols, g)[:, :r]
    return (u * torch.tensor(singular_values, dtype=F64)) @ v.T


def gaussian(shape: tuple[int, ...], *, seed: int, scale: float = 1.0) -> Tensor:
    """Float64 N(0, scale^2) entries from `seed` (for activations, whose structure is iid)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=F64) * scale


@st.composite
def full_rank(
    draw: st.DrawFn,
    *,
    max_rows: int = 6,
    max_cols: int = 10,
    max_condition: float = 1e4,
    cols: int | None = None,
) -> Tensor:
    """[k, d] with k <= d, full row rank, condition number up to `max_condition`."""
    cols = draw(st.integers(1, max_cols)) if cols is None else cols
    rows = draw(st.integers(1, min(max_rows, cols)))
    condition = 10.0 ** draw(st.floats(0.0, math.log10(max_condition)))
    s = spectrum(rows, condition=condition, scale=draw(scales))
    return from_svd(rows, cols, s, seed=draw(seeds))


@st.composite
def rank_deficient(draw: st.DrawFn, *, max_rows: int = 6, max_cols: int = 10) -> Tensor:
    """[k, d] whose rank is below k: k <= d with a zeroed singular value, or k > d."""
    cols = draw(st.integers(1, max_cols))
    rows = draw(st.integers(2, max_rows + 1))
    rank = draw(st.integers(0, min(rows - 1, cols)))
    s = spectrum(min(rows, cols), condition=draw(st.floats(1.0, 100.0)), scale=draw(scales))
    s = s[:rank] + [0.0] * (len(s) - rank)
    return from_svd(rows, cols, s, seed=draw(seeds))


@dataclass(frozen=True)
class SubspaceCase:
    """Activations, an orthonormal basis, another basis of the same span, and a rotation."""

    x: Tensor
    basis: Tensor
    other_basis: Tensor
    rotation: Tensor


@st.composite
def subspace_cases(draw: st.DrawFn, *, max_d: int = 10) -> SubspaceCase:
    d = draw(st.integers(1, max_d))
    k = draw(st.integers(1, d))
    seed = draw(seeds)
    g = torch.Generator().manual_seed(seed)
    x = gaussian((*draw(batch_shapes), d), seed=seed + 1, scale=draw(scales))
    basis = haar_orthogonal(d, g)[:k]
    other = haar_orthogonal(k, g) @ basis
    return SubspaceCase(x, basis, other, haar_orthogonal(d, g))


@st.composite
def centred_rows(draw: st.DrawFn, *, max_rows: int = 12, max_cols: int = 8) -> Tensor:
    """[n, d] rows (plus a drawn mean) whose covariance has a known, well-separated spectrum.

    The left factor is orthogonal to the all-ones vector, so centring leaves the singular values
    as drawn; consecutive ones differ by at least 30%, so the components are well defined.
    """
    cols = draw(st.integers(1, max_cols))
    rows = draw(st.integers(cols + 1, max_rows + 1))
    seed = draw(seeds)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(rows, cols, generator=g, dtype=F64)
    u, _ = torch.linalg.qr(z - z.mean(0))
    ratios = [draw(st.floats(1.3, 2.5)) for _ in range(cols - 1)]
    s = [draw(scales)]
    for ratio in ratios:
        s.append(s[-1] / ratio)
    v = haar_orthogonal(cols, g)
    mean = gaussian((cols,), seed=seed + 1, scale=draw(scales))
    return (u * torch.tensor(s, dtype=F64)) @ v.T + mean
