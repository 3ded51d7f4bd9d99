"""Interventions as data: `Steer`, `Ablate`, `Clamp`, `Patch`, compiled into low-level `Edit`s.

A spec names *what* to do in the paper's terms (an emotion, a strength as a fraction of the
site's mean residual norm, the tokens to touch); `spec.edits(vectors, backend, batch)` turns it
into `emovec.Edit`s for one model and one batch. Every check (finite numbers, widths, sites,
positions, emotion names) runs there, before any model call, so a typo never costs a forward.

Positions are "all", "prompt", "generated", a bool mask `[batch, pos]` over the padded batch, or
token indices counted over each row's real tokens (an int or a sequence of ints; negative counts
from the end, so `last(3)` is the last three tokens). Index and mask positions apply to the
prompt forward only (they name prompt tokens); "all" and "generated" also reach decode steps.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from emovec._batch import TokenBatch
from emovec._edit import Edit
from emovec._site import Site
from emovec.ops import check_steering

from ._alignment import _align, patch_edit
from ._directions import _direction, _finite, _finite_vector, _scale_for, _subspace
from ._positions import PositionSpec, _bind_positions, _check_positions
from ._sites import SiteSpec, _check_bundle, _sites


class Intervention:
    """Base of the specs: composable with `+` (or a list) and compiled with `.edits(...)`."""

    def edits(
        self,
        vectors: Any,
        backend: Any,
        batch: TokenBatch | None = None,
        *,
        allow_mismatch: bool = False,
    ) -> list[Edit]:
        """The low-level edits for `backend` (and `batch`, when positions depend on it)."""
        raise NotImplementedError

    def __add__(self, other: "Intervention | Sequence[Intervention]") -> "Interventions":
        return Interventions((*_flatten(self), *_flatten(other)))

    def __radd__(self, other: Any) -> "Interventions":
        if other == 0:  # sum([...]) starts from 0
            return Interventions(tuple(_flatten(self)))
        return Interventions((*_flatten(other), *_flatten(self)))


def _flatten(item: Any) -> Iterator["Intervention"]:
    if isinstance(item, Interventions):
        yield from item.items
    elif isinstance(item, Intervention):
        yield item
    elif isinstance(item, (list, tuple)):
        for sub in item:
            yield from _flatten(sub)
    else:
        raise TypeError(f"Cannot combine {type(item).__name__} with an emovec intervention.")


@dataclass(frozen=True, eq=False)
class Interventions(Intervention):
    """Several interventions applied together, in order (what `a + b` builds)."""

    items: tuple[Intervention, ...] = ()

    def edits(self, vectors, backend, batch=None, *, allow_mismatch=False) -> list[Edit]:
        # Compile (and so validate) everything before returning anything: a Patch further down
        # the list would otherwise run its source forward before a later spec's error surfaces.
        plain = [i for i in self.items if not isinstance(i, Patch)]
        done = {
            id(i): i.edits(vectors, backend, batch, allow_mismatch=allow_mismatch) for i in plain
        }
        for item in self.items:
            if isinstance(item, Patch):
                item.validate(vectors, backend, batch, allow_mismatch=allow_mismatch)
        for item in self.items:
            if isinstance(item, Patch):
                done[id(item)] = item.edits(vectors, backend, batch, allow_mismatch=allow_mismatch)
        return [edit for item in self.items for edit in done[id(item)]]


def compile_edits(
    interventions: "Intervention | Sequence[Any]",
    vectors: Any,
    backend: Any,
    batch: TokenBatch | None = None,
    *,
    allow_mismatch: bool = False,
) -> list[Edit]:
    """Edits for one intervention or a list of them (validated together before any model call)."""
    return Interventions(tuple(_flatten(interventions))).edits(
        vectors, backend, batch, allow_mismatch=allow_mismatch
    )


@dataclass(frozen=True, eq=False)
class Steer(Intervention):
    """Add `strength` along an emotion's direction (or any vector) at `sites`.

    Args:
        emotion: An emotion name in the bundle, or a `[d_model]` vector (normalised here).
        strength: With `relative=True` (default) a fraction of the site's mean residual norm
            (the paper's unit: 0.05 is a gentle push, 0.5 a strong one); else an absolute length
            in residual-stream units. Negative values steer away.
        sites: Site(s) to steer at; default the bundle site nearest 2/3 of the depth.
        positions: See the module docstring.
        relative: Whether `strength` is relative to the residual norm.

    Example:
        >>> import torch
        >>> from emovec.vectors import EmotionVectors
        >>> class Model: d_model, n_layers, model_id = 2, 1, "toy"
        >>> ev = EmotionVectors(torch.tensor([[[0.0, 1.0]]]), ("calm",), (Site(0),),
        ...                     {"d_model": 2, "residual_norms": {"resid_post.0": 10.0}})
        >>> [edit] = Steer("calm", 0.5).edits(ev, Model(), allow_mismatch=True)
        >>> edit.apply(torch.zeros(1, 1, 2))
        tensor([[[0., 5.]]])
    """

    emotion: "str | Tensor"
    strength: float
    sites: SiteSpec = None
    positions: PositionSpec = "all"
    relative: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", _finite(self.strength, "strength"))
        object.__setattr__(self, "positions", _check_positions(self.positions))
        if not isinstance(self.emotion, (str, Tensor)):
            raise TypeError(
                f"Steer needs an emotion name or a [d_model] tensor, got {type(self.emotion).__name__}."
            )

    def edits(self, vectors, backend, batch=None, *, allow_mismatch=False) -> list[Edit]:
        _check_bundle(vectors, backend, allow_mismatch)
        positions = _bind_positions(self.positions, batch)
        out = []
        for site in _sites(self.sites, vectors, backend):
            unit = _direction(self.emotion, vectors, site, backend)
            amount = self.strength * _scale_for(self.relative, vectors, site)
            norms = {} if vectors is None else vectors.metadata.get("residual_norms") or {}
            named = isinstance(self.emotion, str)  # a given vector may be meant for any layer
            check_steering(
                site,
                amount,
                residual_norm=norms.get(str(site)),
                n_layers=int(backend.n_layers) if named else None,
            )
            out.append(Edit.steer(site, unit, amount, positions=positions))
        return out


@dataclass(frozen=True, eq=False)
class Clamp(Intervention):
    """Set the projection onto an emotion's unit direction to `value` at `sites`.

    Args:
        emotion: An emotion name, or a `[d_model]` vector (normalised here).
        value: The projection to impose; relative to the residual norm if `relative=True`.
        sites, positions: As for `Steer`.
        relative: Whether `value` is a fraction of the site's mean residual norm (default: no,
            an absolute projection; 0 removes the emotion's component).
    """

    emotion: "str | Tensor"
    value: float
    sites: SiteSpec = None
    positions: PositionSpec = "all"
    relative: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _finite(self.value, "value"))
        object.__setattr__(self, "positions", _check_positions(self.positions))

    def edits(self, vectors, backend, batch=None, *, allow_mismatch=False) -> list[Edit]:
        _check_bundle(vectors, backend, allow_mismatch)
        positions = _bind_positions(self.positions, batch)
        out = []
        for site in _sites(self.sites, vectors, backend):
            unit = _direction(self.emotion, vectors, site, backend)
            amount = self.value * _scale_for(self.relative, vectors, site)
            out.append(Edit.clamp(site, unit, amount, positions=positions))
        return out


@dataclass(frozen=True, eq=False)
class Ablate(Intervention):
    """Remove the span of some emotions (or of a basis) at `sites`: zero or mean ablation.

    Args:
        emotions: A name, a list of names, "all" (the bundle's whole span at each site), or a
            `[k, d_model]` basis; orthonormalised here.
        sites, positions: As for `Steer`.
        mean: None (zero ablation) or a `[d_model]` activation (or a mapping site -> one) whose
            component in the span replaces the current one (mean ablation).
    """

    emotions: "str | Sequence[str] | Tensor"
    sites: SiteSpec = None
    mean: "Tensor | Mapping[Any, Tensor] | None" = None
    positions: PositionSpec = "all"

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", _check_positions(self.positions))

    def edits(self, vectors, backend, batch=None, *, allow_mismatch=False) -> list[Edit]:
        _check_bundle(vectors, backend, allow_mismatch)
        positions = _bind_positions(self.positions, batch)
        out = []
        for site in _sites(self.sites, vectors, backend):
            basis = _subspace(self.emotions, vectors, site, backend)
            mean = self.mean
            if isinstance(mean, Mapping):
                mean = {Site.parse(k): v for k, v in mean.items()}.get(site)
                if mean is None:
                    raise ValueError(f"Ablate's mean mapping has no entry for site {site}.")
            if mean is not None:
                mean = _finite_vector(mean, backend, "mean")
            out.append(Edit.ablate(site, basis, mean=mean, positions=positions))
        return out


@dataclass(frozen=True, eq=False)
class Patch(Intervention):
    """Replace the emotion-subspace component of the target's activations by the source's.

    The chosen vectors are orthonormalised first, so patching a set patches its whole span.
    Source and target rows are aligned from the end: with `last=k`, the source row's last k
    real tokens patch the target row's last k; with `last=None` every position is patched and
    each source row must be as long as its target row.

    Args:
        source: Source prompt(s) (texts, tokenised like `backend.tokenize(..., chat=chat)`) or a
            `TokenBatch`; one row is broadcast over every target row.
        emotions: A name, a list, "all" (the bundle's span), "full" (the whole residual stream),
            or a `[k, d_model]` basis.
        sites: As for `Steer`.
        last: Number of final tokens to patch, or None for all.
        chat: Apply the chat template to source texts.
    """

    source: "str | Sequence[str] | TokenBatch"
    emotions: "str | Sequence[str] | Tensor" = "all"
    sites: SiteSpec = None
    last: int | None = None
    chat: bool = False

    def __post_init__(self) -> None:
        if self.last is not None and (
            isinstance(self.last, bool) or not isinstance(self.last, int) or self.last < 1
        ):
            raise ValueError(f"Patch(last=...) must be an int >= 1 or None, got {self.last!r}.")

    def _source_batch(self, backend: Any) -> TokenBatch:
        if isinstance(self.source, TokenBatch):
            return self.source
        texts = [self.source] if isinstance(self.source, str) else list(self.source)
        return backend.tokenize(texts, side="right", chat=self.chat)

    def validate(
        self, vectors, backend, batch, *, allow_mismatch=False
    ) -> tuple[list[Site], TokenBatch, Tensor, Tensor]:
        """All the checks (and the alignment), without running the model."""
        _check_bundle(vectors, backend, allow_mismatch)
        if batch is None:
            raise ValueError("Patch needs the target batch: pass batch=backend.tokenize(targets).")
        sites = _sites(self.sites, vectors, backend)
        for site in sites:
            _subspace(self.emotions, vectors, site, backend)
        source = self._source_batch(backend)
        src_pos, tgt_pos = _align(source, batch, self.last)
        return sites, source, src_pos, tgt_pos

    def edits(self, vectors, backend, batch=None, *, allow_mismatch=False) -> list[Edit]:
        sites, source, src_pos, tgt_pos = self.validate(
            vectors, backend, batch, allow_mismatch=allow_mismatch
        )
        assert batch is not None
        captured = backend.capture(source, sites)
        return [
            patch_edit(
                site,
                _subspace(self.emotions, vectors, site, backend),
                captured[site],
                batch,
                src_pos,
                tgt_pos,
            )
            for site in sites
        ]
