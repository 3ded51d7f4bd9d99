"""Edits: pure, data-only changes to a residual-stream activation at one site."""

import math
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ._site import Site

PositionSpec = Literal["all", "prompt", "generated"]
POSITIONS: tuple[str, ...] = ("all", "prompt", "generated")


@dataclass(frozen=True, eq=False)
class Edit:
    """An affine change inside a subspace, at one site: `x + ((x @ B.T) * scale + offset) @ B`.

    Every intervention emovec knows is this one formula with other tensors, which keeps edits
    plain data (an adapter, or a remote nnsight block, inlines them as three torch operations):

    * steer: `B = unit direction`, `scale = None`, `offset = strength` (pure addition);
    * clamp: `B = unit direction`, `scale = -1`, `offset = value` (projection set to `value`);
    * ablate: `B = orthonormal basis`, `scale = -1`, `offset = 0` or the mean's coefficients;
    * patch: `B = orthonormal basis`, `scale = -1`, `offset = source coefficients [batch pos k]`.

    Build them with the constructors (`Edit.steer`, `Edit.clamp`, `Edit.ablate`, `Edit.patch`).

    Attributes:
        site: Where the edit applies.
        basis: `[k, d_model]` rows spanning the subspace.
        scale: `[k]` factor on the current coefficients, or None for pure addition.
        offset: `[k]` or `[batch, pos, k]` coefficients added along the basis.
        positions: "all", "prompt" (prompt tokens only), "generated" (decode steps only), or a
            boolean mask `[batch, pos]` over the prompt tokens.
    """

    site: Site
    basis: Float[Tensor, "k d_model"]
    offset: Tensor
    scale: Float[Tensor, " k"] | None = None
    positions: str | Tensor = "all"  # PositionSpec or a bool [batch, pos] mask; checked below

    def __post_init__(self) -> None:
        if self.basis.ndim != 2 or self.basis.shape[0] == 0:
            raise ValueError(
                f"Edit basis must be [k, d_model] with k >= 1, got {tuple(self.basis.shape)}."
            )
        if not torch.isfinite(self.basis).all() or not torch.isfinite(self.offset).all():
            raise ValueError("Edit contains NaN or Inf: check the direction and the strength.")
        k = self.basis.shape[0]
        if self.offset.shape[-1:] != (k,) or self.offset.ndim not in (1, 3):
            raise ValueError(
                f"Edit offset must be [k] or [batch, pos, k] with k={k}, got {tuple(self.offset.shape)}."
            )
        if self.scale is not None and self.scale.shape != (k,):
            raise ValueError(f"Edit scale must be [k] with k={k}, got {tuple(self.scale.shape)}.")
        if isinstance(self.positions, str):
            if self.positions not in POSITIONS:
                raise ValueError(
                    f"Edit positions must be one of {POSITIONS} or a bool mask, got {self.positions!r}."
                )
        elif self.positions.dtype != torch.bool or self.positions.ndim != 2:
            raise ValueError("An edit's position mask must be a bool tensor [batch, pos].")

    @property
    def d_model(self) -> int:
        return self.basis.shape[1]

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def steer(
        cls,
        site: Site,
        direction: Tensor,
        strength: float,
        *,
        positions: "str | Tensor" = "all",
    ) -> "Edit":
        """Add `strength` times the unit `direction`: a step of length `|strength|` (an absolute
        strength; see `emovec.Steer` for relative ones). The same formula as `emovec.ops.steer`.

        Raises:
            ValueError: A zero direction (it would steer nothing), NaN or Inf, a non-finite
                strength, or a direction that is not 1-d.
        """
        _check_finite(strength, "strength")
        unit = _unit(_as_vector(direction), "Edit.steer")
        offset = torch.full((1,), float(strength), dtype=unit.dtype, device=unit.device)
        return cls(site, unit[None], offset, None, positions)

    @classmethod
    def clamp(
        cls,
        site: Site,
        direction: Tensor,
        value: float,
        *,
        positions: "str | Tensor" = "all",
    ) -> "Edit":
        """Set the projection onto unit(`direction`) to `value`, leaving the rest untouched."""
        _check_finite(value, "value")
        unit = _unit(_as_vector(direction), "Edit.clamp")
        one = torch.ones(1, dtype=unit.dtype, device=unit.device)
        return cls(site, unit[None], one * float(value), -one, positions)

    @classmethod
    def ablate(
        cls,
        site: Site,
        basis: Float[Tensor, "k d_model"],
        *,
        mean: Float[Tensor, " d_model"] | None = None,
        positions: "str | Tensor" = "all",
    ) -> "Edit":
        """Zero (or mean-) ablate the span of orthonormal `basis` rows."""
        basis = basis[None] if basis.ndim == 1 else basis
        k = basis.shape[0]
        offset = (
            torch.zeros(k, dtype=basis.dtype, device=basis.device) if mean is None else basis @ mean
        )
        scale = -torch.ones(k, dtype=basis.dtype, device=basis.device)
        return cls(site, basis, offset, scale, positions)

    @classmethod
    def patch(
        cls,
        site: Site,
        basis: Float[Tensor, "k d_model"],
        source: Float[Tensor, "batch pos d_model"],
        *,
        positions: "str | Tensor" = "prompt",
    ) -> "Edit":
        """Replace the component in the span of orthonormal `basis` by `source`'s component."""
        basis = basis[None] if basis.ndim == 1 else basis
        offset = source.to(basis.dtype) @ basis.T
        scale = -torch.ones(basis.shape[0], dtype=basis.dtype, device=basis.device)
        return cls(site, basis, offset, scale, positions)

    # -- application --------------------------------------------------------------------------
    def apply(
        self,
        x: Float[Tensor, "batch pos d_model"],
        mask: Bool[Tensor, "batch pos"] | None = None,
    ) -> Float[Tensor, "batch pos d_model"]:
        """Return the edited activation (never in place); `mask` limits it to some positions."""
        if x.shape[-1] != self.d_model:
            raise ValueError(
                f"Edit at {self.site} has width {self.d_model} but the activation has {x.shape[-1]}:"
                " the vector was made for another model."
            )
        basis = self.basis.to(device=x.device, dtype=x.dtype)
        offset = self.offset.to(device=x.device, dtype=x.dtype)
        if self.scale is None:
            coeffs = offset
        else:
            coeffs = (x @ basis.T) * self.scale.to(device=x.device, dtype=x.dtype) + offset
        delta = coeffs @ basis
        if mask is None:
            return x + delta
        return x + delta * mask[..., None].to(device=x.device, dtype=x.dtype)


def _check_finite(value: float, name: str) -> None:
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")


def _as_vector(direction: Tensor) -> Tensor:
    if direction.ndim != 1:
        raise ValueError(
            f"A direction must be a 1-d [d_model] tensor, got shape {tuple(direction.shape)}."
        )
    return direction


def _unit(direction: Tensor, who: str) -> Tensor:
    if not bool(torch.isfinite(direction).all()):
        raise ValueError(f"{who}: the direction contains NaN or Inf: check how it was computed.")
    norm = direction.double().norm()
    if norm == 0:
        raise ValueError(
            f"{who}: the direction is all zeros, so the edit would do nothing: pass a non-zero"
            " vector (a zero bundle row means the bundle is broken; re-extract it)."
        )
    return (direction.double() / norm).to(direction.dtype)
