"""Entry point of the HF adapter: light to import (no framework until a model is accepted).

Besides the adapter's `accepts`/`backend`/`load`, it offers the core the loading of plain Hugging
Face models (`load_model`, `prepare_model`): `emovec.load_model` and `emovec models fetch` find
them through the `emovec.backends` entry point, so the core imports no adapter.
"""

from pathlib import Path
from typing import Any


def accepts(model: Any) -> bool:
    return any(
        cls.__name__ == "PreTrainedModel" and cls.__module__.startswith("transformers.")
        for cls in type(model).__mro__
    )


def backend(model: Any, **kwargs: Any) -> Any:
    from ._backend import HFBackend

    return HFBackend(model, **kwargs)


def load(name: str, **kwargs: Any) -> Any:
    """A backend over a freshly loaded model (`emovec.load_backend(name, adapter="hf")`)."""
    from ._backend import HFBackend
    from ._load import load_pretrained

    model, tokenizer = load_pretrained(name, **kwargs)
    return HFBackend(model, tokenizer)


def load_model(name: str, **kwargs: Any) -> tuple[Any, Any]:
    """A fresh `(model, tokenizer)` pair; its origin is recorded for whichever adapter wraps it."""
    from ._load import load_pretrained

    return load_pretrained(name, **kwargs)


def prepare_model(name: str) -> Path:
    """The ready-to-load folder of a shipped model (fetched, verified, converted once)."""
    from emovec.models import lookup

    from ._load import fp32_copy

    shipped = lookup(name)
    if shipped is None:
        raise ValueError(f"{name!r} is not a shipped model; see `emovec models list`.")
    return fp32_copy(shipped)
