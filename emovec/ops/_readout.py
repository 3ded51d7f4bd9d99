"""Reading activations out along emotion vectors: probe scores and cosine similarities."""

import math

import torch
from einops import einsum
from jaxtyping import Float
from torch import Tensor

from . import _checks


def scores(
    x: Float[Tensor, "*batch d_model"],
    vectors: Float[Tensor, "emotion d_model"],
) -> Float[Tensor, "*batch emotion"]:
    """Probe readout: the projection of every row of `x` onto every emotion vector.

    Vectors are used as given; with unit vectors (how emovec stores them) a score is the length
    of `x`'s component along that emotion, in the units of the residual stream.

    Args:
        x: Activations with any leading axes.
        vectors: One non-zero row per emotion; cast to the dtype and device of `x`.

    Returns:
        `x . vectors[e]` for each emotion `e`, as a new last axis.

    Raises:
        ValueError: On NaN or Inf, mismatched widths, or an all-zero row of `vectors` (its score
            would be 0 whatever `x` is: a vector lost in extraction, not a probe).

    Example:
        >>> v = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
        >>> scores(torch.tensor([[3.0, 4.0]]), v)
        tensor([[3., 5.]])
    """
    out = readout(x, vectors)
    # O(emotion * d_model), next to the product's O(batch * emotion * d_model).
    _checks.nonzero_norms(vectors, "vectors")
    return out


def readout(
    x: Float[Tensor, "*batch d_model"],
    vectors: Float[Tensor, "emotion d_model"],
) -> Float[Tensor, "*batch emotion"]:
    """`scores` without the zero-row check, for callers that read the same vectors on every
    token and checked them once (the monitor); NaN, Inf and widths are still checked."""
    _checks.same_width(x, vectors, "x", "vectors")
    vectors = vectors.to(dtype=x.dtype, device=x.device)
    out = einsum(x, vectors, "... d_model, emotion d_model -> ... emotion")
    _checks.finite_via(out, x=x, vectors=vectors)
    return out


def cosine_matrix(
    a: Float[Tensor, "m d_model"],
    b: Float[Tensor, "n d_model"],
) -> Float[Tensor, "m n"]:
    """Cosine similarity of every row of `a` with every row of `b`.

    Args:
        a: Non-zero rows.
        b: Non-zero rows of the same width; cast to the dtype and device of `a`.

    Returns:
        `[m, n]` cosines in [-1, 1].

    Raises:
        ValueError: On NaN or Inf, zero-norm rows, or mismatched widths.

    Example:
        >>> a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> cosine_matrix(a, torch.tensor([[3.0, 3.0]])).round(decimals=4)
        tensor([[0.7071],
                [0.7071]])
    """
    _checks.same_width(a, b, "a", "b")
    b = b.to(dtype=a.dtype, device=a.device)
    a_unit, b_unit = _unit_rows(a, "a"), _unit_rows(b, "b")
    return einsum(a_unit, b_unit, "m d_model, n d_model -> m n").clamp(-1.0, 1.0)


def _unit_rows(t: Float[Tensor, "n d_model"], name: str) -> Float[Tensor, "n d_model"]:
    if t.shape[0] == 0:
        return t
    norms = torch.linalg.vector_norm(t, dim=-1, keepdim=True)
    # One check covers both: a NaN or Inf entry makes its row's norm NaN or Inf (and a NaN
    # minimum fails `> 0`).
    low, high = torch.stack(torch.aminmax(norms)).tolist()
    if not (math.isfinite(high) and low > 0):
        _checks.finite(t, name)
        _checks.nonzero_norms(t, name)
        raise ValueError(f"A row norm of {name} overflowed: rescale it.")
    return t / norms
