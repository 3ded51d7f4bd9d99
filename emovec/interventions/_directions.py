"""What an intervention moves along, and how far: directions, subspaces and strengths.

An emotion name becomes its unit vector (or, for several, an orthonormal basis of their span)
at one site; a given vector or basis is checked against the model's width and normalised; a
relative strength is scaled by the site's mean residual norm.
"""

import math
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site
from emovec.ops import orthonormalize, reject


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return number


def _direction(what: "str | Tensor", vectors: Any, site: Site, backend: Any) -> Tensor:
    """A unit direction: an emotion's vector at `site`, or a given vector normalised."""
    if isinstance(what, str):
        if vectors is None:
            raise ValueError(
                f"Steering toward {what!r} needs an EmotionVectors bundle (vectors=...)."
            )
        return vectors.vector(what, site).float()
    return _unit_vector(what, backend, "direction")


def _unit_vector(what: Tensor, backend: Any, name: str) -> Tensor:
    if what.ndim != 1:
        raise ValueError(f"A {name} must be a 1-d [d_model] tensor, got shape {tuple(what.shape)}.")
    if what.shape[0] != int(backend.d_model):
        raise ValueError(
            f"The {name} has width {what.shape[0]}, but {backend.model_id} has"
            f" d_model={backend.d_model}: it was made for another model."
        )
    if not bool(torch.isfinite(what).all()):
        raise ValueError(f"The {name} contains NaN or Inf.")
    norm = what.float().norm()
    if norm == 0:
        raise ValueError(f"The {name} is zero: it has no direction.")
    return what.float() / norm


def _scale_for(relative: bool, vectors: Any, site: Site) -> float:
    if not relative:
        return 1.0
    if vectors is None:
        raise ValueError(
            "A relative strength is a fraction of the site's mean residual norm, which comes from"
            " an EmotionVectors bundle: pass vectors=..., or relative=False for an absolute strength."
        )
    return vectors.residual_norm(site)


def span_basis(
    rows: Float[Tensor, "k d_model"], *, rtol: float = 1e-5
) -> Float[Tensor, "r d_model"]:
    """An orthonormal basis of the span of `rows`, dropping dependent directions (by SVD).

    `orthonormalize` keeps order and signs but refuses dependent rows; emotion vectors taken
    together are dependent (each is a mean minus the mean of means), so the span of a whole
    bundle needs this rank-revealing version.

    Example:
        >>> span_basis(torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])).shape
        torch.Size([2, 3])
    """
    _, s, vh = torch.linalg.svd(rows.double(), full_matrices=False)
    keep = s > rtol * s.max()
    return vh[keep].to(rows.dtype)


def _basis(rows: Tensor) -> Tensor:
    if rows.shape[0] == 1:
        return rows / rows.norm()
    try:
        return orthonormalize(rows)
    except ValueError:
        return span_basis(rows)


def _subspace(
    emotions: "str | Sequence[str] | Tensor", vectors: Any, site: Site, backend: Any
) -> Tensor:
    """Orthonormal rows spanning the chosen emotions' vectors (or a given basis) at `site`."""
    if isinstance(emotions, Tensor):
        rows = emotions[None] if emotions.ndim == 1 else emotions
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f"A basis must be [k, d_model], got shape {tuple(emotions.shape)}.")
        for row in rows:
            _unit_vector(row, backend, "basis vector")
        return _basis(rows.float())
    if emotions == "full":
        return torch.eye(int(backend.d_model))
    if vectors is None:
        raise ValueError("Naming emotions needs an EmotionVectors bundle (vectors=...).")
    if emotions == "all":
        return span_basis(vectors.at(site).float())
    names = [emotions] if isinstance(emotions, str) else list(emotions)
    if not names:
        raise ValueError("Name at least one emotion (or 'all' for the bundle's whole span).")
    return _basis(torch.stack([vectors.vector(n, site).float() for n in names]))


def _finite_vector(v: Tensor, backend: Any, name: str) -> Tensor:
    if v.ndim != 1 or v.shape[0] != int(backend.d_model):
        raise ValueError(
            f"The {name} must be a [d_model={backend.d_model}] tensor, got shape {tuple(v.shape)}."
        )
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"The {name} contains NaN or Inf.")
    return v.float()


def random_directions(
    d_model: int,
    n: int,
    *,
    seed: int = 0,
    orthogonal_to: Float[Tensor, " d_model"] | None = None,
) -> Float[Tensor, "n d_model"]:
    """`n` seeded random unit directions (uniform on the sphere), optionally orthogonal to a vector.

    Example:
        >>> r = random_directions(8, 3, seed=1, orthogonal_to=torch.eye(8)[0])
        >>> r.norm(dim=-1).round(decimals=5).tolist(), r[:, 0].abs().max().item() < 1e-6
        ([1.0, 1.0, 1.0], True)
    """
    if n < 1 or d_model < 2:
        raise ValueError(
            f"Need n >= 1 random directions in d_model >= 2, got n={n}, d_model={d_model}."
        )
    gen = torch.Generator().manual_seed(int(seed))
    rows = torch.randn(n, d_model, generator=gen, dtype=torch.float64)
    if orthogonal_to is not None:
        unit = orthogonal_to.double() / orthogonal_to.double().norm()
        rows = reject(rows, unit[None])
    return (rows / rows.norm(dim=-1, keepdim=True)).float()
