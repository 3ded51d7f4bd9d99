"""Entry point of the toy adapter: `accepts` looks at the type's name and module only."""

from typing import Any


def accepts(model: Any) -> bool:
    cls = type(model)
    return cls.__name__ == "ToyWrapped" and cls.__module__.startswith("tests.adapters.toy_adapter")


def backend(model: Any, **kwargs: Any) -> Any:
    from ._backend import ToyBackend

    return ToyBackend(model, **kwargs)


def load(name: str, **kwargs: Any) -> Any:
    """A backend over a freshly loaded model (`emovec.load_backend(name, adapter="toy")`)."""
    from emovec.models import load_model

    from ._backend import ToyBackend
    from ._framework import ToyWrapped

    network, tokenizer = load_model(name, **kwargs)
    return ToyBackend(ToyWrapped(network, tokenizer))
