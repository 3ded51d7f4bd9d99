"""Interventions on activations: steer, clamp, patch and ablate, as pure functions.

Each returns a new tensor (an in-place edit would alias activations that a framework saved) with
the shape, dtype and device of `x`; directions and bases are cast to `x`'s dtype and device.
"""

import math
import warnings

import torch
from einops import einsum
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site

from . import _checks
from ._subspace import _coefficients

# A step this many times the site's mean residual norm drowns the residual stream.
TOO_STRONG = 10.0


class SteeringWarning(UserWarning):
    """A legal steering setting that is almost surely a mistake: a step far longer than the
    residual stream it is added to, or a site in the first tenth of the model."""


def check_steering(
    site: Site, amount: float, *, residual_norm: float | None, n_layers: int | None
) -> None:
    """Warn (`SteeringWarning`) about a steering step that is legal but almost surely mistaken.

    Args:
        site: Where the step is added.
        amount: Its absolute length (strength times the residual norm for relative strengths).
        residual_norm: The site's mean residual norm over neutral text, if known.
        n_layers: The model's depth; None skips the early-site check (for a direction that
            is not an emotion's, which may be meant for any layer).

    Example:
        >>> check_steering(Site(20), 5.0, residual_norm=50.0, n_layers=30)  # 0.1: no warning
    """
    if residual_norm is not None and abs(amount) > TOO_STRONG * residual_norm:
        warnings.warn(
            f"Steering at {site} by {amount:.3g} is {abs(amount) / residual_norm:.3g} times the"
            f" site's mean residual norm ({residual_norm:.3g}): the output will be noise. Relative"
            " strengths of 0.05 to 0.5 are the usual range.",
            SteeringWarning,
            stacklevel=3,
        )
    before = site.layer + (site.stream == "resid_post")  # blocks that ran before the site
    if n_layers is not None and before * 10 < n_layers:
        warnings.warn(
            f"Steering at {site}, in the first tenth of a {n_layers}-layer model: emotion"
            " directions this early are mostly token identity, and the effect rarely reaches the"
            " output as an emotion. Sites near two thirds of the depth are the usual choice.",
            SteeringWarning,
            stacklevel=3,
        )


def _unit(
    direction: Float[Tensor, " d_model"], like: Tensor, *, times: float = 1.0
) -> Float[Tensor, " d_model"]:
    """`times * direction / |direction|` in `like`'s dtype and device, validated."""
    norm = float(torch.linalg.vector_norm(direction))
    # One check covers both: a NaN or Inf entry makes the norm NaN or Inf.
    if not (math.isfinite(norm) and norm > 0):
        _checks.finite(direction, "direction")
        _checks.nonzero_norms(direction, "direction")
        raise ValueError("The direction's norm overflowed: rescale it.")
    return (direction * (times / norm)).to(dtype=like.dtype, device=like.device)


def _finite_number(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def steer(
    x: Float[Tensor, "*batch d_model"],
    direction: Float[Tensor, " d_model"],
    strength: float,
    *,
    relative_to: float | None = None,
) -> Float[Tensor, "*batch d_model"]:
    """Add `strength` times the unit `direction` to every row of `x`.

    `x` itself is not scanned for NaN or Inf: adding a constant vector can neither create nor
    spread them (a bad entry stays exactly where it was), and the scan would cost more than the
    addition. The ops that mix entries of `x` (all the others) do check.

    Args:
        x: Activations with any leading axes.
        direction: Any non-zero vector; it is unit-normalised first.
        strength: Signed length of the step; an absolute length, or a fraction of
            `relative_to` when that is given.
        relative_to: A typical residual norm at this site (the mean over a neutral data set);
            steering by 0.5 then moves `x` by half that norm, which compares across layers and
            models.

    Returns:
        `x + strength * relative_to * direction / |direction|`.

    Raises:
        ValueError: On a zero or non-finite direction, a non-finite strength, a non-positive or
            non-finite `relative_to`, or mismatched widths.

    Example:
        >>> steer(torch.zeros(2), torch.tensor([3.0, 4.0]), 0.5, relative_to=10.0)
        tensor([3., 4.])
    """
    _checks.same_width(x, direction, "x", "direction")
    amount = _finite_number(strength, "strength")
    if relative_to is not None:
        if not (math.isfinite(relative_to) and relative_to > 0):
            raise ValueError(
                f"relative_to must be a positive, finite residual norm, got {relative_to!r}."
            )
        amount *= relative_to
    return x + _unit(direction, x, times=amount)


def clamp(
    x: Float[Tensor, "*batch d_model"],
    direction: Float[Tensor, " d_model"],
    value: float,
) -> Float[Tensor, "*batch d_model"]:
    """Set the projection of every row of `x` onto the unit `direction` to `value`.

    Args:
        x: Activations with any leading axes.
        direction: Any non-zero vector; it is unit-normalised first.
        value: The projection each row gets (in units of `x`).

    Returns:
        `x` with its component along the direction replaced; the orthogonal part is untouched.

    Raises:
        ValueError: On NaN or Inf, a zero direction, a non-finite value, or mismatched widths.

    Example:
        >>> clamp(torch.tensor([3.0, 4.0]), torch.tensor([2.0, 0.0]), -1.0)
        tensor([-1.,  4.])
    """
    _checks.same_width(x, direction, "x", "direction")
    target = _finite_number(value, "value")
    unit = _unit(direction, x)
    coeff = einsum(x, unit, "... d_model, d_model -> ...")
    _checks.finite_via(coeff, x=x)
    # A broadcast product, not a k = 1 matmul: the outer product is memory-bound either way.
    return x + (target - coeff)[..., None] * unit


def patch_projection(
    x: Float[Tensor, "*batch d_model"],
    source: Float[Tensor, "*#batch d_model"],
    basis: Float[Tensor, "k d_model"],
) -> Float[Tensor, "*batch d_model"]:
    """Give `x` the component of `source` inside the span of `basis`; keep the rest of `x`.

    Args:
        x: Activations to edit, with any leading axes.
        source: Activations from another run, broadcastable to `x`.
        basis: Orthonormal rows: make them with `orthonormalize` (from any independent rows)
            or take `pca(...).components`. Not re-checked here, for speed: other rows give a
            wrong result without an error. Cast to the dtype and device of `x`.

    Returns:
        `reject(x, basis) + project(source, basis)`, shaped like `x`.

    Raises:
        ValueError: On NaN or Inf, mismatched widths, or a `source` that does not broadcast to
            `x`'s shape.

    Example:
        >>> b = torch.tensor([[1.0, 0.0]])
        >>> patch_projection(torch.tensor([3.0, 4.0]), torch.tensor([7.0, -1.0]), b)
        tensor([7., 4.])
    """
    _checks.same_width(source, x, "source", "x")
    if not _checks.broadcasts_to(source.shape, x.shape):
        raise ValueError(
            f"source of shape {tuple(source.shape)} does not broadcast to x's shape"
            f" {tuple(x.shape)}: pass one source row per x row, or one for all."
        )
    _checks.same_width(x, basis, "x", "basis")
    basis = basis.to(dtype=x.dtype, device=x.device)
    # One coefficient product on the difference: fewer passes over the activations.
    delta = einsum(source.to(x) - x, basis, "... d_model, k d_model -> ... k")
    _checks.finite_via(delta, x=x, source=source, basis=basis)
    return x + einsum(delta, basis, "... k, k d_model -> ... d_model")


def ablate(
    x: Float[Tensor, "*batch d_model"],
    basis: Float[Tensor, "k d_model"],
    *,
    mean: Float[Tensor, " d_model"] | None = None,
) -> Float[Tensor, "*batch d_model"]:
    """Zero-ablate (or mean-ablate) the span of `basis` in `x`.

    Args:
        x: Activations with any leading axes.
        basis: Orthonormal rows: make them with `orthonormalize` (from any independent rows)
            or take `pca(...).components`. Not re-checked here, for speed: other rows give a
            wrong result without an error. Cast to the dtype and device of `x`.
        mean: If given, the subspace component is set to `mean`'s (a mean activation over a
            reference data set) instead of zero, which keeps `x` on-distribution.

    Returns:
        `reject(x, basis)`, plus `project(mean, basis)` for mean ablation; shaped like `x`.

    Raises:
        ValueError: On NaN or Inf, or mismatched widths.

    Example:
        >>> b = torch.tensor([[0.0, 1.0]])
        >>> ablate(torch.tensor([3.0, 4.0]), b, mean=torch.tensor([9.0, 0.5]))
        tensor([3.0000, 0.5000])
    """
    basis = basis.to(dtype=x.dtype, device=x.device)
    coeffs = -_coefficients(x, basis)
    if mean is not None:
        mean = mean.to(dtype=x.dtype, device=x.device)
        coeffs = coeffs + _coefficients(mean, basis, ("mean", "basis"))
    return x + einsum(coeffs, basis, "... k, k d_model -> ... d_model")
