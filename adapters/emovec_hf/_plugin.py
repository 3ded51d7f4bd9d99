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
