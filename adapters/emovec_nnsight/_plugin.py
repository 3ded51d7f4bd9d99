"""Entry point of the nnsight adapter: light to import."""

from typing import Any


def accepts(model: Any) -> bool:
    return any(cls.__module__.startswith("nnsight.") for cls in type(model).__mro__)


def backend(model: Any, **kwargs: Any) -> Any:
    from ._backend import NNsightBackend

    return NNsightBackend(model, **kwargs)
