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


def load(name: str, **kwargs: Any) -> Any:
    """A backend over a TransformerBridge booted on a freshly loaded model (no hub call)."""
    from transformer_lens.model_bridge import TransformerBridge

    from emovec._provenance import origin_of
    from emovec.models import load_model

    from ._backend import TransformerLensBackend

    model, tokenizer = load_model(name, **kwargs)
    origin = origin_of(model)
    model_id = origin.model_id if origin is not None else model.config._name_or_path
    bridge = TransformerBridge.boot_transformers(
        model_id, hf_model=model, tokenizer=tokenizer, device=str(model.device)
    )
    return TransformerLensBackend(bridge, tokenizer)
