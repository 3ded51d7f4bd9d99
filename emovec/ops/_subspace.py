"""Subspaces given by k x d_model bases: projection, rejection, orthonormal bases, angles."""

import torch
from einops import einsum
from jaxtyping import Float
from torch import Tensor

from . import _checks


def _coefficients(
    x: Float[Tensor, "*batch d_model"],
    basis: Float[Tensor, "k d_model"],
    names: tuple[str, str] = ("x", "basis"),
) -> Float[Tensor, "*batch k"]:
    """Coordinates of `x` along the rows of `basis`, validated (private; shared by the ops)."""
    _checks.same_width(x, basis, *names)
    coeffs = einsum(x, basis, "... d_model, k d_model -> ... k")
    _checks.finite_via(coeffs, **dict(zip(names, (x, basis), strict=True)))
    return coeffs


def project(
    x: Float[Tensor, "*batch d_model"],
    basis: Float[Tensor, "k d_model"],
) -> Float[Tensor, "*batch d_model"]:
    """Keep only the part of `x` that lies in the span of `basis`.

    Args:
        x: Activations with any leading axes.
        basis: Orthonormal rows: make them with `orthonormalize` (from any independent rows)
            or take `pca(...).components`. Not re-checked here, for speed: other rows give a
            wrong result without an error. Cast to the dtype and device of `x`.

    Returns:
        The orthogonal projection of `x` onto the subspace; same shape, dtype and device as `x`.

    Raises:
        ValueError: On NaN or Inf in `x` or `basis`, or if their widths differ.

    Example:
        >>> b = torch.tensor([[1.0, 0.0]])
        >>> project(torch.tensor([3.0, 4.0]), b)
        tensor([3., 0.])
    """
    basis = basis.to(dtype=x.dtype, device=x.device)
    coeffs = _coefficients(x, basis)
    return einsum(coeffs, basis, "... k, k d_model -> ... d_model")


def reject(
    x: Float[Tensor, "*batch d_model"],
    basis: Float[Tensor, "k d_model"],
) -> Float[Tensor, "*batch d_model"]:
    """Remove the part of `x` that lies in the span of `basis` (directional ablation).

    Args:
        x: Activations with any leading axes.
        basis: Orthonormal rows: make them with `orthonormalize` (from any independent rows)
            or take `pca(...).components`. Not re-checked here, for speed: other rows give a
            wrong result without an error. Cast to the dtype and device of `x`.

    Returns:
        `x` minus its projection onto the subspace; same shape, dtype and device as `x`.

    Raises:
        ValueError: On NaN or Inf in `x` or `basis`, or if their widths differ.

    Example:
        >>> b = torch.tensor([[1.0, 0.0]])
        >>> reject(torch.tensor([3.0, 4.0]), b)
        tensor([0., 4.])
    """
    basis = basis.to(dtype=x.dtype, device=x.device)
    coeffs = _coefficients(x, basis)
    return x - einsum(coeffs, basis, "... k, k d_model -> ... d_model")


def orthonormalize(
    vectors: Float[Tensor, "k d_model"],
    *,
    rtol: float | None = None,
) -> Float[Tensor, "k d_model"]:
    """An orthonormal basis of the span of `vectors` that keeps their order and signs.

    Row i of the result lies in the span of input rows 0..i and has a positive dot product with
    input row i (Gram-Schmidt's result, computed stably by Householder QR).

    Args:
        vectors: Linearly independent rows (k <= d_model).
        rtol: Rows count as dependent when a singular value is at most `rtol` times the largest.
            Default `max(k, d_model) * eps` of the working dtype (numpy's `matrix_rank` rule).

    Returns:
        `[k, d_model]` orthonormal rows; same dtype and device as `vectors`.

    Raises:
        ValueError: On no rows, NaN or Inf, or linearly dependent rows.

    Example:
        >>> orthonormalize(torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
        tensor([[ 0.6000,  0.8000],
                [ 0.8000, -0.6000]])
    """
    return _orthonormal_rows(vectors, "vectors", rtol=rtol)


def _orthonormal_rows(
    vectors: Float[Tensor, "k d_model"], name: str, *, rtol: float | None
) -> Float[Tensor, "k d_model"]:
    """`orthonormalize`, with errors naming the caller's argument (`basis`, `a`, ...)."""
    _checks.nonempty(vectors, name)
    _checks.finite(vectors, name)
    work = _checks.linalg_dtype(vectors)
    k, d = work.shape
    if k > d:  # more rows than dimensions: dependent; say how dependent
        _checks.full_rank(torch.linalg.svdvals(work), k, d, name, rtol=rtol, dtype=work.dtype)
    q, r = torch.linalg.qr(work.mT)
    # R has the singular values of `vectors` (Q has orthonormal columns), at k x k instead of
    # k x d_model cost.
    _checks.full_rank(torch.linalg.svdvals(r), k, d, name, rtol=rtol, dtype=work.dtype)
    # QR fixes each column of Q only up to sign; flipping by sign(R_ii) makes R's diagonal
    # positive, which is what keeps each output row pointing the way its input row does.
    signs = torch.sign(torch.diagonal(r))
    return (q * signs).mT.contiguous().to(vectors.dtype)


def principal_angles(
    a: Float[Tensor, "k_a d_model"],
    b: Float[Tensor, "k_b d_model"],
    *,
    rtol: float | None = None,
) -> Float[Tensor, " k"]:
    """Principal angles (radians, ascending) between the spans of the rows of `a` and of `b`.

    Any linearly independent rows will do: both sets are orthonormalised first. Small angles come
    from sines and large ones from cosines (Bjorck-Golub), so both ends are accurate.

    Args:
        a: Rows spanning the first subspace.
        b: Rows spanning the second subspace.
        rtol: Rank tolerance passed to `orthonormalize`.

    Returns:
        `min(k_a, k_b)` angles in [0, pi/2]; 0 for shared directions, pi/2 for orthogonal ones.
        In the dtype of `a` and `b` (promoted if they differ); half precision is computed in
        float32 and rounded at the end.

    Raises:
        ValueError: On NaN or Inf, mismatched widths, or linearly dependent rows (the message
            names `a` or `b`).

    Example:
        >>> a = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> b = torch.tensor([[0.0, 1.0, 1.0]])
        >>> torch.rad2deg(principal_angles(a, b)).round()
        tensor([45.])
    """
    _checks.same_width(a, b, "a", "b")
    out_dtype = torch.promote_types(a.dtype, b.dtype)
    work = torch.promote_types(_checks.linalg_dtype(a).dtype, _checks.linalg_dtype(b).dtype)
    qa = _orthonormal_rows(a.to(work), "a", rtol=rtol)
    qb = _orthonormal_rows(b.to(device=a.device, dtype=work), "b", rtol=rtol)
    if qa.shape[0] > qb.shape[0]:
        qa, qb = qb, qa
    # Same singular vectors, so descending cosines pair with ascending sines.
    cos = torch.linalg.svdvals(qa @ qb.mT).clamp(0.0, 1.0)
    sin = torch.linalg.svdvals(reject(qa, qb)).flip(0).clamp(0.0, 1.0)
    return torch.where(cos * cos >= 0.5, torch.asin(sin), torch.acos(cos)).to(out_dtype)
