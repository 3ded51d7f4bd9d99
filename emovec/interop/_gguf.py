"""llama.cpp control vectors (GGUF) in and out of emovec bundles.

The format (llama.cpp's `common_control_vector_load`, and repeng's `export_gguf`): a GGUF file
whose `general.architecture` is "controlvector", with string `controlvector.model_hint` (the
model's architecture, e.g. "llama"), uint32 `controlvector.layer_count` (how many directions it
holds), and one float32 1-d tensor `direction.N` of width d_model per steered layer.

Numbering: llama.cpp adds `direction.N` to the output of block N (0-based), after the block's
MLP residual add and before the next block, i.e. emovec's `resid_post.N` (= `resid_pre.N+1`, =
Hugging Face's `hidden_states[N+1]`). N starts at 1: llama.cpp refuses `direction.0` (the output
of block 0 cannot be steered), and the output of the last block is steered before the final
norm, as emovec's `resid_post.<last>` is.

Scale: llama.cpp adds `scale x direction.N` (`--control-vector FILE` is scale 1,
`--control-vector-scaled FILE S` is scale S), to every token position. emovec writes
`strength x residual_norm(site) x unit(mix)`, so at scale 1 llama.cpp adds exactly what
`emovec.Steer(mix_vector, strength, sites=..., positions="all")` adds; the strength, the mix and
the residual norms are recorded under `emovec.*` keys in the file.
"""

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from emovec._files import write_atomic
from emovec._site import Site
from emovec.vectors import EmotionVectors, VectorFileError

from ._mix import mix_vector, parse_mix

ARCH = "controlvector"
# llama.cpp architecture names for the Hugging Face classes emovec ships or knows.
MODEL_HINTS = {
    "LlamaForCausalLM": "llama",
    "Gemma3ForCausalLM": "gemma3",
    "Qwen2ForCausalLM": "qwen2",
    "MistralForCausalLM": "llama",
}


@dataclass(frozen=True)
class ControlVector:
    """A control vector as llama.cpp reads it: `layer -> [d_model]` (added to block `layer`'s
    output, times the scale), the model hint, and any extra string metadata."""

    directions: dict[int, Float[Tensor, " d_model"]]
    model_hint: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def d_model(self) -> int:
        return int(next(iter(self.directions.values())).shape[0])


def llama_layer(site: "Site | str | int") -> int:
    """The `direction.N` index that steers `site`; raises for a site llama.cpp cannot steer.

    Example:
        >>> llama_layer("resid_post.12"), llama_layer("resid_pre.12")
        (12, 11)
    """
    parsed = Site.parse(site)
    layer = parsed.layer if parsed.stream == "resid_post" else parsed.layer - 1
    if layer < 1:
        raise ValueError(
            f"llama.cpp cannot steer {parsed}: its control vectors start at the output of block 1"
            " (direction.1 = resid_post.1). Pick a later site."
        )
    return layer


def control_vector(
    vectors: EmotionVectors,
    mix: str,
    strength: float,
    sites: "Sequence[Site | str | int] | None" = None,
    *,
    model_hint: str | None = None,
) -> ControlVector:
    """The llama.cpp control vector that steers toward `mix` by `strength` at `sites`.

    Args:
        vectors: A bundle with residual norms (as `emovec extract` writes).
        mix: One emotion or a weighted mix ("calm - desperate", "0.5*calm + joyful").
        strength: A fraction of each site's mean residual norm (emovec's steering unit);
            negative steers away.
        sites: Sites to steer (default: the bundle's site nearest 2/3 of the depth, as `Steer`).
        model_hint: llama.cpp architecture name (default: from the bundle's model class).
    """
    from emovec.interventions._sites import default_site

    if not np.isfinite(strength):
        raise ValueError(f"strength must be a finite number, got {strength!r}.")
    terms = parse_mix(mix)
    chosen = [Site.parse(s) for s in sites] if sites else [default_site(vectors)]
    directions: dict[int, Tensor] = {}
    for site in chosen:
        layer = llama_layer(site)
        if layer in directions:
            raise ValueError(f"Two sites map to llama.cpp layer {layer}: pass each place once.")
        unit = mix_vector(vectors, terms, site)
        directions[layer] = (strength * vectors.residual_norm(site) * unit).float()
    extra = {
        "emovec.mix": mix,
        "emovec.strength": repr(float(strength)),
        "emovec.sites": json.dumps([str(s) for s in chosen]),
        "emovec.residual_norms": json.dumps({str(s): vectors.residual_norm(s) for s in chosen}),
        "emovec.model_id": str(vectors.model_id or ""),
        "emovec.convention": "direction.N is added to resid_post.N; value = strength x"
        " residual_norm x unit(mix); llama.cpp scale 1 = emovec Steer at this strength",
    }
    hint = model_hint or _hint_for(vectors)
    return ControlVector(dict(sorted(directions.items())), hint, extra)


def _hint_for(vectors: EmotionVectors) -> str:
    from emovec.models import lookup

    model = vectors.metadata.get("model") or {}
    shipped = lookup(str(model.get("shipped_as") or model.get("model_id") or ""))
    if shipped is not None:
        return MODEL_HINTS.get(shipped.architecture, shipped.architecture)
    return "unknown"


def write_gguf(cv: ControlVector, path: "str | os.PathLike[str]") -> Path:
    """Write `cv` as a llama.cpp control-vector GGUF, atomically (the library's one atomic write:
    gguf's writer fills a scratch file, whose bytes then replace `path` in one rename)."""
    from gguf import GGUFWriter

    with tempfile.TemporaryDirectory(prefix="emovec-gguf-") as scratch:
        tmp = Path(scratch) / "control_vector.gguf"
        writer = GGUFWriter(tmp, ARCH)
        writer.add_string(f"{ARCH}.model_hint", cv.model_hint)
        writer.add_uint32(f"{ARCH}.layer_count", len(cv.directions))
        for key, value in cv.extra.items():
            writer.add_string(key, value)
        for layer, vec in cv.directions.items():
            writer.add_tensor(f"direction.{layer}", vec.detach().cpu().float().numpy())
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return write_atomic(path, tmp.read_bytes())


def read_gguf(path: "str | os.PathLike[str]") -> ControlVector:
    """Read a llama.cpp control vector (from emovec, repeng or llama.cpp's own generator).

    Raises:
        VectorFileError: Not a readable GGUF, not a control vector, or inconsistent tensors.
    """
    from gguf import GGUFReader

    path = Path(path)
    try:
        reader = GGUFReader(path)
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise VectorFileError(f"{path} is not a readable GGUF file ({err}).") from None
    fields = {name: _field_value(f) for name, f in reader.fields.items()}
    arch = fields.get("general.architecture")
    if arch != ARCH:
        raise VectorFileError(
            f"{path} is a GGUF of architecture {arch!r}, not a llama.cpp control vector"
            f" (expected {ARCH!r} with direction.N tensors); is it a model file?"
        )
    directions: dict[int, Tensor] = {}
    for tensor in reader.tensors:
        prefix, _, index = tensor.name.partition(".")
        if prefix != "direction" or not index.isdigit() or int(index) < 1:
            raise VectorFileError(
                f"{path} has a tensor {tensor.name!r}; a control vector holds only direction.N"
                " tensors with N >= 1."
            )
        data = np.asarray(tensor.data)
        if data.ndim != 1 or data.dtype != np.float32:
            raise VectorFileError(
                f"{path}: {tensor.name} is {data.dtype} of shape {data.shape}; llama.cpp needs"
                " float32 vectors of shape [d_model]."
            )
        directions[int(index)] = torch.from_numpy(data.copy())
    if not directions:
        raise VectorFileError(f"{path} holds no direction.N tensors: it steers nothing.")
    widths = {int(v.shape[0]) for v in directions.values()}
    if len(widths) > 1:
        raise VectorFileError(f"{path} mixes direction widths {sorted(widths)}.")
    hint = str(fields.get(f"{ARCH}.model_hint") or "unknown")
    extra = {k: str(v) for k, v in fields.items() if k.startswith("emovec.")}
    return ControlVector(dict(sorted(directions.items())), hint, extra)


def _field_value(field: Any) -> Any:
    """A scalar or string GGUF metadata value (None for arrays)."""
    from gguf import GGUFValueType

    if not field.types or field.types[0] == GGUFValueType.ARRAY:
        return None
    part = field.parts[field.data[0]]
    if field.types[0] == GGUFValueType.STRING:
        return bytes(part).decode("utf-8", errors="replace")
    return part.tolist()[0]


def to_bundle(
    cv: ControlVector,
    name: str,
    *,
    like: EmotionVectors | None = None,
    source: str | None = None,
) -> EmotionVectors:
    """A one-row bundle from a control vector: `direction.N` becomes unit `name` at resid_post.N.

    Each direction's length (its built-in strength) is kept in
    `metadata["control_vector"]["norms"]`. With `like` (a bundle from the model the vector is
    for) the width is checked and its model identity, layer count and residual norms are
    adopted, so the result can be checked against the model, monitored and steered like any
    bundle; without it, residual norms come from an emovec-written file or are absent.

    Raises:
        ModelMismatchError: The vector's width, or a layer, does not fit `like`'s model.
    """
    from emovec.vectors import ModelMismatchError

    sites = [Site(layer) for layer in cv.directions]
    stacked = torch.stack([cv.directions[s.layer].float() for s in sites])
    norms = stacked.norm(dim=-1)
    if bool((norms == 0).any()):
        zero = [str(s) for s, n in zip(sites, norms.tolist(), strict=True) if n == 0]
        raise ValueError(f"The control vector is zero at {', '.join(zero)}: it has no direction.")
    meta: dict[str, Any] = {
        "d_model": cv.d_model,
        "sites": [str(s) for s in sites],
        "model": {"model_id": cv.extra.get("emovec.model_id") or None, "model_hint": cv.model_hint},
        "control_vector": {
            "model_hint": cv.model_hint,
            "norms": {str(s): float(n) for s, n in zip(sites, norms.tolist(), strict=True)},
            "source": source,
            "emovec": cv.extra or None,
        },
    }
    recorded = json.loads(cv.extra.get("emovec.residual_norms", "{}"))
    if recorded:
        meta["residual_norms"] = recorded
    if like is not None:
        if like.d_model != cv.d_model:
            raise ModelMismatchError(
                f"The control vector has width {cv.d_model} but {like.model_id or 'the model'}"
                f" has d_model={like.d_model}: it was made for another model."
            )
        if like.n_layers is not None and max(cv.directions) >= like.n_layers:
            raise ModelMismatchError(
                f"The control vector steers layer {max(cv.directions)} but"
                f" {like.model_id or 'the model'} has {like.n_layers} layers."
            )
        base = like.metadata
        meta["model"] = {**(base.get("model") or {}), "model_hint": cv.model_hint}
        for key in ("n_layers", "residual_norms", "adapter", "dtype", "compatibility_mode"):
            if key in base:
                meta[key] = base[key]
    vectors = (stacked / norms[:, None])[None]
    return EmotionVectors(vectors, (name,), sites, meta)


def export_gguf(
    vectors: EmotionVectors,
    path: "str | os.PathLike[str]",
    mix: str,
    strength: float,
    sites: "Sequence[Site | str | int] | None" = None,
    *,
    model_hint: str | None = None,
) -> Path:
    """Write the control vector for `mix` at `strength` (see `control_vector`) to `path`.

    Example:
        >>> import tempfile, pathlib
        >>> ev = EmotionVectors(torch.eye(4)[:2, None], ("calm", "afraid"), (Site(2),),
        ...                     {"n_layers": 3, "residual_norms": {"resid_post.2": 10.0}})
        >>> out = export_gguf(ev, pathlib.Path(tempfile.mkdtemp()) / "c.gguf", "calm - afraid", 0.5)
        >>> read_gguf(out).directions[2]
        tensor([ 3.5355, -3.5355,  0.0000,  0.0000])
    """
    return write_gguf(control_vector(vectors, mix, strength, sites, model_hint=model_hint), path)


def import_gguf(
    path: "str | os.PathLike[str]", name: str | None = None, *, like: EmotionVectors | None = None
) -> EmotionVectors:
    """Read a control-vector GGUF as a one-row bundle (see `to_bundle`); `name` defaults to the
    exported mix, else the file name."""
    cv = read_gguf(path)
    label = name or cv.extra.get("emovec.mix") or Path(path).stem
    return to_bundle(cv, label, like=like, source=str(path))
