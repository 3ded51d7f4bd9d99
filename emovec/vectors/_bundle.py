"""`EmotionVectors`: a set of unit emotion directions at residual-stream sites, and its file.

File format (one file, `*.safetensors`): a single tensor `vectors` of shape
`[emotion, site, d_model]` (float32), and in the safetensors header's string metadata one key,
`emovec`, holding JSON: `{"format": "emovec.vectors/1", "emotions": [...], "sites": [...],
"metadata": {...}}`. Safetensors never unpickles, so loading a file from elsewhere runs no code.
"""

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save
from torch import Tensor

from emovec._backend import Backend
from emovec._files import write_atomic as write_atomic
from emovec._site import Site

from ._validate import check_contents, check_unit_rows

FORMAT = "emovec.vectors/1"
_KEY = "emovec"


class VectorFileError(ValueError):
    """A vector file that cannot be read: missing, truncated, corrupt, or not an emovec bundle."""


class ModelMismatchError(ValueError):
    """Vectors used with a model they were not made for."""


class UnknownNameError(KeyError):
    """An emotion or site the bundle does not hold (the message suggests close matches)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class EmotionVectors:
    """Emotion directions `[emotion, site, d_model]` with their names, sites and provenance.

    Extraction (`emovec.extract.extract_vectors`) makes the rows unit vectors; steering strength
    is then a fraction of `residual_norm(site)`, the mean residual norm over neutral text.

    A bundle is immutable: `select` and friends return new ones.

    Args:
        vectors: One row per emotion and site (kept as `.vectors`).
        emotions: Names, in row order (kept as a tuple, `.emotions`).
        sites: Sites in column order; strings and layer numbers are parsed (`.sites`, a tuple
            of `Site`).
        metadata: JSON-serialisable provenance: model identity, recipe, corpus hash, residual
            norms per site (see `emovec.extract` for the keys it writes); `.metadata`.

    Example:
        >>> ev = EmotionVectors(
        ...     torch.eye(3)[:, None, :], ("calm", "afraid", "happy"), (Site(1),),
        ...     {"d_model": 3, "n_layers": 2, "residual_norms": {"resid_post.1": 2.5}},
        ... )
        >>> ev.vector("afraid", "resid_post.1")
        tensor([0., 1., 0.])
        >>> ev.residual_norm(1)
        2.5
    """

    __slots__ = ("_emotion_index", "_emotions", "_metadata", "_site_index", "_sites", "_vectors")

    def __init__(
        self,
        vectors: Float[Tensor, "emotion site d_model"],
        emotions: Sequence[str],
        sites: "Sequence[Site | str | int]",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._vectors = vectors
        self._emotions = tuple(str(e) for e in emotions)
        self._sites = tuple(Site.parse(s) for s in sites)
        self._metadata = dict(metadata or {})
        check_contents(vectors, self._emotions, self._sites, self._metadata)
        self._emotion_index = {e: i for i, e in enumerate(self._emotions)}
        self._site_index = {s: i for i, s in enumerate(self._sites)}

    @property
    def vectors(self) -> Float[Tensor, "emotion site d_model"]:
        return self._vectors

    @property
    def emotions(self) -> tuple[str, ...]:
        return self._emotions

    @property
    def sites(self) -> tuple[Site, ...]:
        return self._sites

    @property
    def metadata(self) -> dict[str, Any]:
        """The provenance (a copy: edit it and build a new bundle to change it)."""
        return dict(self._metadata)

    # -- shape and identity -------------------------------------------------------------------
    @property
    def d_model(self) -> int:
        return int(self.vectors.shape[-1])

    @property
    def n_layers(self) -> int | None:
        """Layer count of the model the vectors came from, if recorded."""
        value = self._metadata.get("n_layers")
        return None if value is None else int(value)

    @property
    def model_id(self) -> str | None:
        return (self._metadata.get("model") or {}).get("model_id")

    def __len__(self) -> int:
        return len(self.emotions)

    def __repr__(self) -> str:
        sites = ", ".join(str(s) for s in self.sites[:3]) + (", ..." if len(self.sites) > 3 else "")
        return (
            f"EmotionVectors({len(self.emotions)} emotions x {len(self.sites)} sites [{sites}],"
            f" d_model={self.d_model}, model={self.model_id!r})"
        )

    # -- lookups ------------------------------------------------------------------------------
    def index(self, emotion: str) -> int:
        """Row of `emotion`; an unknown name raises `UnknownNameError` (a `KeyError`) with hints."""
        try:
            return self._emotion_index[emotion]
        except KeyError:
            close = difflib.get_close_matches(str(emotion), self.emotions, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownNameError(
                f"No emotion {emotion!r} in these vectors ({len(self.emotions)} emotions).{hint}"
            ) from None

    def site_index(self, site: "Site | str | int") -> int:
        """Column of `site` (a `Site`, `"resid_post.12"` or a layer number)."""
        parsed = Site.parse(site)
        try:
            return self._site_index[parsed]
        except KeyError:
            have = ", ".join(str(s) for s in self.sites[:8]) + (
                " ..." if len(self.sites) > 8 else ""
            )
            raise UnknownNameError(
                f"No site {parsed} in these vectors (they have {have})."
            ) from None

    def at(self, site: "Site | str | int") -> Float[Tensor, "emotion d_model"]:
        """All emotion vectors at one site."""
        return self.vectors[:, self.site_index(site)]

    def vector(self, emotion: str, site: "Site | str | int") -> Float[Tensor, " d_model"]:
        """One emotion's vector at one site."""
        return self.vectors[self.index(emotion), self.site_index(site)]

    def residual_norm(self, site: "Site | str | int") -> float:
        """Mean residual-stream norm at `site` over neutral text (the unit of steering strength)."""
        key = str(Site.parse(site))
        self.site_index(key)
        norms = self._metadata.get("residual_norms") or {}
        if key not in norms:
            raise UnknownNameError(f"These vectors record no residual norm for {key}.")
        return float(norms[key])

    def select(
        self,
        emotions: Sequence[str] | None = None,
        sites: "Sequence[Site | str | int] | None" = None,
    ) -> "EmotionVectors":
        """A new bundle with only `emotions` and/or `sites`, in the order given."""
        rows = (
            list(range(len(self.emotions)))
            if emotions is None
            else [self.index(e) for e in emotions]
        )
        cols = (
            list(range(len(self.sites))) if sites is None else [self.site_index(s) for s in sites]
        )
        vectors = self.vectors[rows][:, cols].clone()
        sites_kept = tuple(self.sites[j] for j in cols)
        meta = dict(self._metadata)
        if "sites" in meta:
            meta["sites"] = [str(s) for s in sites_kept]
        return EmotionVectors(vectors, tuple(self.emotions[i] for i in rows), sites_kept, meta)

    def normalized(self) -> "EmotionVectors":
        """A new bundle whose rows are scaled to unit length (the explicit fix for a file that
        `load` warned about); metadata records the lengths the rows had."""
        norms = self.vectors.double().norm(dim=-1, keepdim=True)
        meta = dict(self._metadata)
        meta["normalized_from"] = {
            str(s): dict(zip(self.emotions, map(float, norms[:, j, 0]), strict=True))
            for j, s in enumerate(self.sites)
        }
        unit = (self.vectors.double() / norms).to(self.vectors.dtype)
        return EmotionVectors(unit, self.emotions, self.sites, meta)

    # -- model compatibility ------------------------------------------------------------------
    def check(self, backend: Any, *, allow_mismatch: bool = False) -> "EmotionVectors":
        """Raise `ModelMismatchError` unless `backend` is the model these vectors came from.

        Width is always checked (a vector of another width cannot be added to the residual
        stream), and every site must exist in the model. The layer count and the model identity
        (weights hash when both sides know it, else the model id) are checked unless
        `allow_mismatch=True`, for deliberate cross-model use (e.g. a fine-tune of the source).

        Returns:
            `self`, so that `EmotionVectors.load(p).check(backend)` reads naturally.
        """
        where = self._metadata.get("path") or "these vectors"
        if int(backend.d_model) != self.d_model:
            raise ModelMismatchError(
                f"{where} have d_model={self.d_model} but {backend.model_id} has"
                f" d_model={backend.d_model}: they were made for another model, and no override"
                " can add a vector of the wrong width. Extract vectors for this model."
            )
        for site in self.sites:
            if site.layer >= int(backend.n_layers):
                raise ModelMismatchError(
                    f"{where} include site {site}, but {backend.model_id} has only"
                    f" {backend.n_layers} layers: select() the sites that exist."
                )
        if allow_mismatch:
            return self
        problems = []
        if self.n_layers is not None and self.n_layers != int(backend.n_layers):
            problems.append(f"{self.n_layers} layers vs {backend.n_layers}")
        model = self._metadata.get("model") or {}
        # A full backend says where its weights came from; a partial stand-in does not.
        theirs = backend.provenance if isinstance(backend, Backend) else None
        ours_hash = model.get("weights_sha256")
        their_hash = theirs.weights_sha256 if theirs is not None else None
        if ours_hash and their_hash:
            if ours_hash != their_hash:
                problems.append(f"weights sha256 {ours_hash[:12]}... vs {their_hash[:12]}...")
        elif model.get("model_id") and model.get("model_id") != backend.model_id:
            problems.append(f"model {model.get('model_id')!r} vs {backend.model_id!r}")
        ours_mode = self._metadata.get("compatibility_mode")
        their_mode = theirs.compatibility_mode if theirs is not None else None
        if ours_mode is not None and their_mode is not None and bool(ours_mode) != bool(their_mode):
            problems.append(
                f"TransformerLens compatibility mode {'on' if ours_mode else 'off'} at extraction"
                f" vs {'on' if their_mode else 'off'} now (it changes LayerNorm models' activations)"
            )
        if problems:
            raise ModelMismatchError(
                f"{where} were extracted from another model ({'; '.join(problems)}). Extract"
                " vectors for this model, or pass allow_mismatch=True (CLI: --allow-mismatch) if"
                " the cross-model use is deliberate."
            )
        return self

    # -- files --------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The file contents (see the module docstring for the format)."""
        meta = {k: v for k, v in self._metadata.items() if k != "path"}
        header = {
            "format": FORMAT,
            "emotions": list(self.emotions),
            "sites": [str(s) for s in self.sites],
            "metadata": meta,
        }
        try:
            text = json.dumps(header, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"EmotionVectors metadata must be plain JSON data: {err}") from None
        tensors = {"vectors": self.vectors.detach().to("cpu", torch.float32).contiguous()}
        return _st_save(tensors, metadata={_KEY: text})

    def save(self, path: "str | os.PathLike[str]") -> Path:
        """Write the bundle to `path` atomically (temp file, fsync, rename); returns the path."""
        return write_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: "str | os.PathLike[str]") -> "EmotionVectors":
        """Read a bundle written by `save`, through the same checks as the constructor.

        Every loader in emovec (score, monitor, steer, report, the main job) goes through here:
        float entries, all finite, no all-zero row (the error names the emotion), metadata that
        agrees with the tensor (width, sites, layer count, positive residual norms). Rows that
        are not unit vectors load with a `BundleWarning` (see `normalized`).

        Raises:
            VectorFileError: The file is missing, truncated, corrupt or not an emovec bundle;
                the message names the file.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise VectorFileError(
                f"Cannot read vector file {path}: {err.strerror or err}."
            ) from None
        try:
            tensors = _st_load(data)
            header = _read_header(data)
        except (SafetensorError, ValueError, KeyError, json.JSONDecodeError) as err:
            raise VectorFileError(
                f"{path} is not a readable emovec vector file (truncated or corrupt? {err})."
                " Re-extract it or copy it again."
            ) from None
        if header.get("format") != FORMAT or "vectors" not in tensors:
            raise VectorFileError(
                f"{path} is a safetensors file but not an emovec vector bundle"
                f" (format {header.get('format')!r}, expected {FORMAT!r})."
            )
        meta = dict(header.get("metadata") or {})
        meta["path"] = str(path)
        raw = tensors["vectors"]
        if not raw.is_floating_point():
            raise VectorFileError(
                f"{path} holds an inconsistent vector bundle: vectors must be floating point, got"
                f" {raw.dtype}. Re-extract it."
            )
        try:  # float32 is the format's dtype; other floats are cast
            bundle = cls(raw.float(), header["emotions"], header["sites"], meta)
        except (KeyError, TypeError, ValueError) as err:
            raise VectorFileError(f"{path} holds an inconsistent vector bundle: {err}") from None
        check_unit_rows(bundle.vectors, bundle.emotions, bundle.sites, str(path))
        return bundle


def _read_header(data: bytes) -> dict[str, Any]:
    """The `emovec` JSON from a safetensors file's header (8-byte length, then JSON)."""
    if len(data) < 8:
        raise ValueError("the file is shorter than a safetensors header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError("the header runs past the end of the file")
    raw = json.loads(data[8 : 8 + size])
    text = (raw.get("__metadata__") or {}).get(_KEY)
    if text is None:
        raise KeyError("no 'emovec' entry in the safetensors metadata")
    header = json.loads(text)
    if not isinstance(header, dict):
        raise ValueError("the 'emovec' metadata is not a JSON object")
    return header
