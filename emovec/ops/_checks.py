"""Validators shared by the ops: each error names the problem and the fix.

They raise `ValueError` in shipped code. Under the test suite's runtime type checks a wrong shape
or dtype is caught one step earlier, as a `jaxtyping.TypeCheckError`.
"""

import math

import torch
from torch import Tensor

_LINALG_DTYPES = (torch.float32, torch.float64)


def all_finite(t: Tensor) -> bool:
    """Whether `t` has no NaN or Inf, from its extremes (NaN propagates through min and max).

    Two reductions and no boolean mask: several times faster than `isfinite(t).all()`.
    """
    if t.numel() == 0:
        return True
    low, high = torch.stack(torch.aminmax(t)).tolist()
    return math.isfinite(low) and math.isfinite(high)


def finite(t: Tensor, name: str) -> None:
    """Raise if `t` holds NaN or Inf."""
    if not all_finite(t):
        raise ValueError(
            f"{name} contains NaN or Inf: find where it was produced (an overflow in float16, a"
            " division by a zero norm) and pass finite values."
        )


def finite_via(result: Tensor, **inputs: Tensor) -> None:
    """Raise if `result`, computed from `inputs`, holds NaN or Inf; blame the guilty input.

    Checking a small derived tensor (the `[..., k]` coefficients) instead of a large activation
    costs k/d of a full scan, and still catches every bad entry: a NaN or Inf anywhere in a row
    of `x` or of the basis makes every dot product that touches it NaN or Inf.
    """
    if all_finite(result):
        return
    for name, t in inputs.items():
        finite(t, name)
    raise ValueError(
        f"The result overflowed although {', '.join(inputs)} are finite: rescale the inputs."
    )


def same_width(a: Tensor, b: Tensor, a_name: str, b_name: str) -> None:
    """Raise unless the last axes (d_model) of `a` and `b` agree."""
    if a.shape[-1:] != b.shape[-1:]:
        width_a, width_b = (t.shape[-1] if t.ndim else "no axis" for t in (a, b))
        raise ValueError(
            f"{a_name} has width {width_a} but {b_name} has {width_b}: both must live in the"
            " same d_model (vectors made for another model or another site?)."
        )


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether `shape` broadcasts to exactly `target` (no import of `torch._refs`, unlike
    `torch.broadcast_shapes`, whose first call costs seconds)."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target), strict=False))


def nonempty(t: Tensor, name: str) -> None:
    """Raise if `t` has no rows."""
    if t.shape[0] == 0:
        raise ValueError(f"{name} has no rows: pass at least one vector.")


def nonzero_norms(t: Tensor, name: str) -> Tensor:
    """Return the row norms of `t` (last axis), raising if any is zero."""
    norms = torch.linalg.vector_norm(t, dim=-1)
    if bool((norms == 0).any()):
        which = "is all zeros" if t.ndim == 1 else "has zero-norm rows"
        if t.ndim > 1:
            which += f" (first: {torch.nonzero(norms.reshape(-1) == 0).flatten()[:5].tolist()})"
        raise ValueError(
            f"{name} {which}: a direction must be non-zero; drop it or check how it was computed."
        )
    return norms


def linalg_dtype(t: Tensor) -> Tensor:
    """`t` in a dtype the linear-algebra kernels accept (half precision goes up to float32)."""
    return t if t.dtype in _LINALG_DTYPES else t.float()


def default_rtol(k: int, d: int, dtype: torch.dtype) -> float:
    """Relative rank tolerance: `max(k, d) * eps`, the convention of `numpy.linalg.matrix_rank`."""
    return max(k, d) * torch.finfo(dtype).eps


def full_rank(
    singular_values: Tensor, k: int, d: int, name: str, *, rtol: float | None, dtype: torch.dtype
) -> None:
    """Raise unless all `k` singular values exceed `rtol` times the largest one.

    Rank comes from singular values, not from a pivot or a QR diagonal: they are the distances to
    the nearest matrices of lower rank, so the test means "no row is within `rtol` (relative) of
    the span of the others", whatever the order of the rows.
    """
    tol = default_rtol(k, d, dtype) if rtol is None else rtol
    s_max = float(singular_values.max()) if singular_values.numel() else 0.0
    rank = int((singular_values > tol * s_max).sum()) if s_max > 0 else 0
    if k > d or rank < k:
        raise ValueError(
            f"{name} has {k} linearly dependent rows (numerical rank {rank}, relative tolerance"
            f" {tol:.1e} of the largest singular value): drop redundant rows, or take a basis of"
            " their span with `emovec.ops.pca`."
        )
