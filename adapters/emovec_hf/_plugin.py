"""Entry point of the HF adapter: light to import (no framework until a model is accepted)."""

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
