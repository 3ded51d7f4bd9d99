"""Where a backend's numbers come from: one typed record instead of attributes to probe.

A loader knows where the weights came from (`Origin`: a shipped model's hash, a folder, a hub
id); a backend adds how they run (adapter, dtype, a framework's mode). `Provenance` joins the
two, and is what vector bundles, checkpoints and caches record.
"""

import weakref
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Origin:
    """Where a model's weights came from, as its loader knows it.

    `weights_sha256` is set for shipped models (the file emovec verified), `revision` where a
    hub revision was pinned, `shipped_as` the shipped model's emovec name.
    """

    model_id: str
    weights_sha256: str | None = None
    revision: str | None = None
    shipped_as: str | None = None


@dataclass(frozen=True)
class Provenance:
    """Everything that decides a backend's activations, typed.

    `compatibility_mode` is the TransformerLens bridge's mode (folded, centred weights: another
    basis for LayerNorm models); None on adapters that have no such mode.

    Example:
        >>> p = Provenance(Origin("org/model", weights_sha256="ab12"), adapter="hf", dtype="float32")
        >>> p.model_id, p.model_record()["weights_sha256"]
        ('org/model', 'ab12')
    """

    origin: Origin
    adapter: str
    dtype: str
    compatibility_mode: bool | None = None

    @property
    def model_id(self) -> str:
        return self.origin.model_id

    @property
    def weights_sha256(self) -> str | None:
        return self.origin.weights_sha256

    def model_record(self) -> dict[str, str | None]:
        """The `model` entry of a vector bundle's metadata."""
        return {
            "model_id": self.origin.model_id,
            "weights_sha256": self.origin.weights_sha256,
            "revision": self.origin.revision,
            "shipped_as": self.origin.shipped_as,
        }


# Loaders note each model's origin here, keyed weakly by the model object itself, so that any
# adapter that later wraps the same object reads it without an attribute set on the model.
_ORIGINS: "weakref.WeakKeyDictionary[Any, Origin]" = weakref.WeakKeyDictionary()


def remember_origin(model: Any, origin: Origin) -> None:
    """Record where `model` (the framework's model object) came from, for adapters to read."""
    _ORIGINS[model] = origin


def origin_of(model: Any) -> Origin | None:
    """The origin a loader recorded for `model`, or None (a model the user built or loaded)."""
    try:
        return _ORIGINS.get(model)
    except TypeError:  # an object that cannot be weakly referenced was never recorded
        return None
