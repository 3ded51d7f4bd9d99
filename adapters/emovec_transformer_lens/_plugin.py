"""Entry point of the TransformerLens adapter: light to import."""

from typing import Any


def accepts(model: Any) -> bool:
    return any(
        cls.__name__ == "TransformerBridge" and cls.__module__.startswith("transformer_lens.")
        for cls in type(model).__mro__
    )


def backend(model: Any, **kwargs: Any) -> Any:
    from ._backend import TransformerLensBackend

    return TransformerLensBackend(model, **kwargs)
