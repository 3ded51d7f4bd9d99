"""Entry point of the nnsight adapter: light to import."""

from typing import Any


def accepts(model: Any) -> bool:
    return any(cls.__module__.startswith("nnsight.") for cls in type(model).__mro__)


def backend(model: Any, **kwargs: Any) -> Any:
    from ._backend import NNsightBackend

    return NNsightBackend(model, **kwargs)


def load(name: str, **kwargs: Any) -> Any:
    """A backend over an nnsight TransformersModel wrapping a freshly loaded model."""
    from nnsight.modeling.transformers import TransformersModel

    from emovec.models import load_model

    from ._backend import NNsightBackend

    model, tokenizer = load_model(name, **kwargs)
    return NNsightBackend(TransformersModel(model, tokenizer=tokenizer))
