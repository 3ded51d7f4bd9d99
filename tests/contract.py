"""Backend doubles for unit tests that need a backend's identity, not a model.

They have every member of the `emovec.Backend` contract, so runtime type checks accept them;
the members a test does not provide raise if used, so a test cannot lean on them unseen.
"""

from types import SimpleNamespace
from typing import Any

import emovec
from emovec._backend import CONTRACT


def _absent(name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"this test's backend double has no real {name}")

    return call


class BackendDouble:
    """Subclass and override what the test needs (`tokenize`, `capture`, ...)."""

    name = "double"
    model_id = "double"
    d_model = 0
    n_layers = 0
    tokenizer: Any = None

    @property
    def provenance(self) -> emovec.Provenance:
        return emovec.Provenance(emovec.Origin(self.model_id), self.name, "float32")


for _name in CONTRACT:
    if not hasattr(BackendDouble, _name):
        setattr(BackendDouble, _name, _absent(_name))


def identity_backend(
    *,
    d_model: int,
    n_layers: int,
    model_id: str,
    weights_sha256: str | None = None,
    adapter: str = "synthetic",
    dtype: str = "float32",
    compatibility_mode: bool | None = None,
) -> SimpleNamespace:
    """A double with the given identity and provenance; forwards and tokenising raise."""
    origin = emovec.Origin(model_id, weights_sha256=weights_sha256)
    fields: dict[str, Any] = {
        "name": adapter,
        "model_id": model_id,
        "d_model": d_model,
        "n_layers": n_layers,
        "provenance": emovec.Provenance(origin, adapter, dtype, compatibility_mode),
    }
    members = {name: fields.get(name, _absent(name)) for name in CONTRACT}
    return SimpleNamespace(**members)
