"""Orthogonalising sets of vectors: among themselves, or against a subspace."""

from typing import Literal, NamedTuple

import torch
from jaxtyping import Float
from torch import Tensor

from . import _checks
from ._subspace import _orthonormal_rows, orthonormalize, reject

Method = Literal["gram_schmidt", "symmetric"]


class Orthogonalized(NamedTuple):
    """Vectors with a subspace removed, and how much of each survived.

    Attributes:
        vectors: The rejected vectors (not renormalised).
        surviving_norm: `|rejected| / |original|` per vector, in [0, 1].
    """

    vectors: Float[Tensor, "*batch d_model"]
    surviving_norm: Float[Tensor, "*batch"]


def orthogonalize_set(
    vectors: Float[Tensor, "k d_model"],
    *,
    method: Method = "gram_schmidt",
    rtol: float | None = None,
) -> Float[Tensor, "k d_model"]:
    """An orthonormal basis of the span of `vectors`, chosen by `method`.

    * `"gram_schmidt"`: order- and sign-preserving (`orthonormalize`): row 0 keeps its
      direction, later rows give up whatever they share with earlier ones.
    * `"symmetric"` (Lowdin): `U V^T` from the SVD `vectors = U S V^T`, the orthonormal set
      closest to the originals in Frobenius norm; no row is privileged, so the result does not
      depend on the order of the rows (it permutes with them).

    Args:
        vectors: Linearly independent rows (k <= d_model).
        method: `"gram_schmidt"` or `"symmetric"`.
        rtol: Rank tolerance relative to the largest singular value; default
            `max(k, d_model) * eps` of the working dtype.

    Returns:
        `[k, d_model]` orthonormal rows spanning the same subspace; same dtype and device.

    Raises:
        ValueError: On an unknown method, no rows, NaN or Inf, or linearly dependent rows.

    Example:
        >>> v = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
        >>> orthogonalize_set(v, method="symmetric").round(decimals=4)
        tensor([[ 0.5145,  0.8575],
                [ 0.8575, -0.5145]])
    """
    if method == "gram_schmidt":
        return orthonormalize(vectors, rtol=rtol)
    if method != "symmetric":
        raise ValueError(f"method must be 'gram_schmidt' or 'symmetric', got {method!r}.")
    _checks.nonempty(vectors, "vectors")
    _checks.finite(vectors, "vectors")
    work = _checks.linalg_dtype(vectors)
    k, d = work.shape
    u, s, vh = torch.linalg.svd(work, full_matrices=False)
    _checks.full_rank(s, k, d, "vectors", rtol=rtol, dtype=work.dtype)
    return (u @ vh).to(vectors.dtype)


def orthogonalize_against(
    vectors: Float[Tensor, "*batch d_model"],
    basis: Float[Tensor, "k d_model"],
    *,
    rtol: float | None = None,
) -> Orthogonalized:
    """Remove from each vector its component in the span of `basis`.

    Args:
        vectors: Non-zero vectors with any leading axes (e.g. deflection vectors).
        basis: Linearly independent rows spanning the subspace to remove (e.g. the principal
            components of the story-emotion vectors); orthonormalised here, so any basis works.
        rtol: Rank tolerance passed to `orthonormalize`.

    Returns:
        The rejected vectors (same shape, dtype, device) and the fraction of each norm that
        survived.

    Raises:
        ValueError: On NaN or Inf, zero-norm vectors, mismatched widths or a dependent basis
            (each message names `vectors` or `basis`).

    Example:
        >>> out = orthogonalize_against(torch.tensor([[3.0, 4.0]]), torch.tensor([[2.0, 0.0]]))
        >>> out.vectors, out.surviving_norm
        (tensor([[0., 4.]]), tensor([0.8000]))
    """
    _checks.same_width(vectors, basis, "vectors", "basis")
    _checks.finite(vectors, "vectors")
    norms = _checks.nonzero_norms(vectors, "vectors")
    rejected = reject(vectors, _orthonormal_rows(basis, "basis", rtol=rtol))
    return Orthogonalized(rejected, torch.linalg.vector_norm(rejected, dim=-1) / norms)
