"""The one set of checks every `EmotionVectors` passes, whether built in memory or loaded.

Construction runs `check_contents` (shape, names, dtype, finite entries, non-zero rows, metadata
that agrees with the tensor); `EmotionVectors.load` adds `check_unit_rows`, which warns instead
of failing: a file whose rows are not unit vectors is legal but almost surely a mistake (scores
then scale with each row's length). Steering, clamping and ablation normalise directions
themselves, so such a bundle still steers by the strength asked for.
"""

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site

UNIT_TOLERANCE = 1e-3


class BundleWarning(UserWarning):
    """A vector bundle that loads but is almost surely not what was meant (rows not unit)."""


def check_contents(
    vectors: Float[Tensor, "emotion site d_model"],
    emotions: Sequence[str],
    sites: Sequence[Site],
    metadata: Mapping[str, Any],
) -> None:
    """Raise `ValueError` naming the first problem of a bundle and how to fix it."""
    n_e, n_s = len(emotions), len(sites)
    if vectors.ndim != 3 or tuple(vectors.shape[:2]) != (n_e, n_s):
        raise ValueError(
            f"vectors must be [emotion, site, d_model] = [{n_e}, {n_s}, d], got"
            f" {tuple(vectors.shape)}."
        )
    for what, items in (("emotion", emotions), ("site", sites)):
        seen: set[Any] = set()
        for item in items:
            if item in seen:
                raise ValueError(f"Duplicate {what} {str(item)!r} in an EmotionVectors.")
            seen.add(item)
    if not vectors.is_floating_point():
        raise ValueError(f"vectors must be floating point, got {vectors.dtype}.")
    if not bool(torch.isfinite(vectors).all()):
        bad = (~torch.isfinite(vectors)).any(dim=-1).nonzero()
        e, s = (int(i) for i in bad[0])
        raise ValueError(
            f"vectors contain NaN or Inf (first: {emotions[e]!r} at {sites[s]}; {bad.shape[0]}"
            " rows in all): re-extract the bundle, or drop those emotions with select()."
        )
    zero = (vectors.double().norm(dim=-1) == 0).nonzero()
    if zero.numel():
        e, s = (int(i) for i in zero[0])
        raise ValueError(
            f"The vector of {emotions[e]!r} at {sites[s]} is all zeros ({zero.shape[0]} zero"
            " rows in all): a zero direction scores and steers nothing. Re-extract the bundle,"
            " or drop the emotion with select()."
        )
    _check_metadata(int(vectors.shape[-1]), sites, metadata)


def _check_metadata(d_model: int, sites: Sequence[Site], metadata: Mapping[str, Any]) -> None:
    recorded = metadata.get("d_model")
    if recorded is not None and int(recorded) != d_model:
        raise ValueError(
            f"metadata says d_model={recorded} but the vectors are {d_model} wide: the file was"
            " edited or assembled wrongly. Re-extract it."
        )
    names = metadata.get("sites")
    if names is not None and [str(Site.parse(s)) for s in names] != [str(s) for s in sites]:
        raise ValueError(
            f"metadata lists sites {list(names)[:4]} but the vectors hold"
            f" {[str(s) for s in sites][:4]}: the file was edited or assembled wrongly."
        )
    n_layers = metadata.get("n_layers")
    if n_layers is not None and sites and max(s.layer for s in sites) >= int(n_layers):
        raise ValueError(
            f"metadata says the model has {n_layers} layers but a site lies at layer"
            f" {max(s.layer for s in sites)}: the file was edited or assembled wrongly."
        )
    for site, norm in (metadata.get("residual_norms") or {}).items():
        value = float(norm) if isinstance(norm, (int, float)) else math.nan
        if not (math.isfinite(value) and value > 0):
            raise ValueError(
                f"The residual norm recorded for {site} is {norm!r}; it must be a positive"
                " number (it is the unit of steering strength). Re-extract the bundle."
            )


def check_unit_rows(
    vectors: Float[Tensor, "emotion site d_model"],
    emotions: Sequence[str],
    sites: Sequence[Site],
    where: str,
) -> None:
    """Warn (`BundleWarning`) if a row's length is not 1 within `UNIT_TOLERANCE`."""
    norms = vectors.double().norm(dim=-1)
    off = ((norms - 1).abs() > UNIT_TOLERANCE).nonzero()
    if off.numel():
        e, s = (int(i) for i in off[0])
        warnings.warn(
            f"{where}: {off.shape[0]} of {norms.numel()} rows are not unit vectors (e.g."
            f" {emotions[e]!r} at {sites[s]} has length {float(norms[e, s]):.4g}); scores scale"
            " with that length. Steering still uses the unit direction. Use .normalized() to"
            " rescale the rows (and save the result) if the lengths carry no meaning.",
            BundleWarning,
            stacklevel=3,
        )
