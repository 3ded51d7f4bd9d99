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

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._batch import TokenBatch
from emovec._edit import POSITIONS, Edit
from emovec._site import Site, parse_sites
from emovec.ops import orthonormalize

SiteSpec = Site | str | int | Sequence[Site | str | int] | None
PositionSpec = str | Tensor | int | Sequence[int]


def last(k: int) -> tuple[int, ...]:
    """Positions of each row's last `k` real tokens (for `positions=`).

    Example:
        >>> last(3)
        (-3, -2, -1)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"last(k) needs an int k >= 1, got {k!r}.")
    return tuple(range(-k, 0))


def default_site(vectors: Any, n_layers: int | None = None) -> Site:
    """The bundle's site nearest two thirds of the model's depth (the paper's default layer).

    Example:
        >>> from emovec.vectors import EmotionVectors
        >>> ev = EmotionVectors(torch.eye(3)[:1, None].expand(1, 3, 3).clone(), ("calm",),
        ...                     (Site(2), Site(10), Site(20)), {"n_layers": 30})
        >>> default_site(ev)
        Site(layer=20, stream='resid_post')
    """
    depth: int = (
        n_layers or getattr(vectors, "n_layers", None) or (max(s.layer for s in vectors.sites) + 1)
    )
    target = 2 * depth / 3
    return min(vectors.sites, key=lambda s: (abs(s.layer - target), s.layer, s.stream))


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


# -- shared validation -------------------------------------------------------------------------
def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return number


def _check_positions(positions: Any) -> PositionSpec:
    if isinstance(positions, str):
        if positions not in POSITIONS:
            raise ValueError(
                f"positions must be one of {POSITIONS}, a bool mask [batch, pos] or token indices,"
                f" got {positions!r}."
            )
        return positions
    if isinstance(positions, Tensor):
        if positions.dtype != torch.bool or positions.ndim != 2:
            raise ValueError("A position mask must be a bool tensor [batch, pos].")
        return positions
    if isinstance(positions, bool):
        raise ValueError("positions cannot be a bool: use 'all' or a mask.")
    if isinstance(positions, int):
        return (positions,)
    if (
        isinstance(positions, (range, list, tuple))
        and positions
        and all(isinstance(p, int) and not isinstance(p, bool) for p in positions)
    ):
        return tuple(positions)
    raise ValueError(
        f"positions must be 'all', 'prompt', 'generated', a bool mask or token indices, got {positions!r}."
    )


def _bind_positions(positions: PositionSpec, batch: TokenBatch | None) -> "str | Tensor":
    """Turn token indices into a mask over `batch`; check a mask's shape; pass strings through."""
    if isinstance(positions, str):
        return positions
    if isinstance(positions, Tensor):
        if batch is not None and tuple(positions.shape) != tuple(batch.input_ids.shape):
            raise ValueError(
                f"Position mask has shape {tuple(positions.shape)} but the batch is"
                f" {tuple(batch.input_ids.shape)} [batch, pos]: build the mask over the padded batch."
            )
        return positions
    if batch is None:
        raise ValueError(
            "Token-index positions need the batch they refer to: pass batch=backend.tokenize(...)"
            " (left-padded for generate) to .edits()."
        )
    indices = (positions,) if isinstance(positions, int) else tuple(positions)
    mask = torch.zeros(batch.input_ids.shape, dtype=torch.bool)
    real = batch.attention_mask.bool().cpu()
    for row in range(real.shape[0]):
        where = torch.nonzero(real[row]).flatten()
        n = len(where)
        for p in indices:
            if not -n <= p < n:
                raise ValueError(
                    f"Position {p} is out of range for row {row}, which has {n} tokens"
                    f" (valid: {-n}..{n - 1})."
                )
            mask[row, where[p]] = True
    return mask


def row_masks(rows: Sequence[Sequence[int]], positions: PositionSpec) -> list[list[bool]] | None:
    """Per-row token masks for index positions (None for "all"/"prompt": every token).

    Example:
        >>> row_masks([[5, 6, 7], [8, 9]], (-1,))
        [[False, False, True], [False, True]]
    """
    if isinstance(positions, str):
        if positions == "generated":
            raise ValueError("positions='generated' never touches a prompt's tokens: use 'all'.")
        return None
    if isinstance(positions, Tensor):
        raise ValueError("Give token indices (e.g. last(3)) here, not a mask over one batch.")
    out = []
    for row in rows:
        one = TokenBatch.from_ids([list(row)], pad_id=0)
        mask = _bind_positions(positions, one)
        assert isinstance(mask, Tensor)
        out.append(mask[0].tolist())
    return out


def _sites(spec: SiteSpec, vectors: Any, backend: Any) -> list[Site]:
    if spec is None:
        if vectors is None:
            raise ValueError("Pass sites=... (there are no vectors to take a default site from).")
        return [default_site(vectors, int(backend.n_layers)).check(int(backend.n_layers))]
    if isinstance(spec, (list, tuple)) and not spec:
        raise ValueError("sites is empty: name at least one site.")
    return parse_sites(
        spec if isinstance(spec, (str, int, Site)) else list(spec), int(backend.n_layers)
    )


def _check_bundle(vectors: Any, backend: Any, allow_mismatch: bool) -> None:
    if vectors is None:
        return
    if not hasattr(vectors, "vectors") or not hasattr(vectors, "emotions"):
        raise TypeError(
            f"vectors must be an emovec EmotionVectors bundle, got {type(vectors).__name__}."
        )
    vectors.check(backend, allow_mismatch=allow_mismatch)


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


# -- the specs ---------------------------------------------------------------------------------
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


def _finite_vector(v: Tensor, backend: Any, name: str) -> Tensor:
    if v.ndim != 1 or v.shape[0] != int(backend.d_model):
        raise ValueError(
            f"The {name} must be a [d_model={backend.d_model}] tensor, got shape {tuple(v.shape)}."
        )
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"The {name} contains NaN or Inf.")
    return v.float()


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


def patch_edit(
    site: Site,
    basis: Float[Tensor, "k d_model"],
    source_acts: Float[Tensor, "source pos d_model"],
    target: TokenBatch,
    src_pos: Tensor,
    tgt_pos: Tensor,
) -> Edit:
    """The `Edit` that moves `source_acts`' component in `basis` into `target` at aligned positions."""
    n = len(target)
    rows = torch.arange(n)[:, None].expand_as(tgt_pos)
    src_rows = rows if source_acts.shape[0] == n else torch.zeros_like(rows)
    mask = torch.zeros(target.input_ids.shape, dtype=torch.bool)
    mask[rows, tgt_pos] = True
    acts = source_acts.float().cpu()
    aligned = torch.zeros(*target.input_ids.shape, acts.shape[-1])
    aligned[rows, tgt_pos] = acts[src_rows, src_pos]
    return Edit.patch(site, basis, aligned, positions=mask)


def _align(source: TokenBatch, target: TokenBatch, last: int | None) -> tuple[Tensor, Tensor]:
    """Positions `[batch, k]` in source and target rows, aligned from each row's last token."""
    n_src, n_tgt = len(source), len(target)
    if n_src not in (1, n_tgt):
        raise ValueError(
            f"Patch has {n_src} source rows for {n_tgt} target rows: give one source, or one per target."
        )
    src_len = source.attention_mask.sum(-1).cpu()
    tgt_len = target.attention_mask.sum(-1).cpu()
    src_first = _first_real(source)
    tgt_first = _first_real(target)
    src_rows = range(n_tgt) if n_src == n_tgt else [0] * n_tgt
    if last is None:
        for t, s in zip(range(n_tgt), src_rows, strict=True):
            if int(src_len[s]) != int(tgt_len[t]):
                raise ValueError(
                    f"Patching every position needs equal lengths, but source row {s} has"
                    f" {int(src_len[s])} tokens and target row {t} has {int(tgt_len[t])}: pass last=k."
                )
        k = int(tgt_len.min()) if int(tgt_len.max()) == int(tgt_len.min()) else None
        if k is None:
            raise ValueError(
                "Patching every position needs target rows of one length: pass last=k."
            )
    else:
        k = last
        short = [
            (what, i, int(n))
            for what, lens in (("source", src_len), ("target", tgt_len))
            for i, n in enumerate(lens)
            if n < k
        ]
        if short:
            what, i, n = short[0]
            raise ValueError(
                f"Patch(last={k}) is out of range: {what} row {i} has only {n} tokens."
            )
    offsets = torch.arange(-k, 0)
    tgt = (tgt_first + tgt_len)[:, None] + offsets[None]
    src_idx = torch.tensor(list(src_rows))
    src = (src_first + src_len)[src_idx][:, None] + offsets[None]
    return src, tgt


def _first_real(batch: TokenBatch) -> Tensor:
    """Index of each row's first real token (0 when right-padded)."""
    mask = batch.attention_mask.cpu()
    return torch.argmax(mask, dim=-1)
