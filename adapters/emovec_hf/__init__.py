"""emovec's plain Hugging Face adapter (torch forward hooks on decoder layers).

Names load lazily, so that choosing an adapter (`emovec.attach`) imports no framework.
"""

from typing import Any

__all__ = ["HFBackend", "decoder_layers", "load_pretrained"]


def __getattr__(name: str) -> Any:
    if name in ("HFBackend", "decoder_layers"):
        from . import _backend

        return getattr(_backend, name)
    if name == "load_pretrained":
        from ._load import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'emovec_hf' has no attribute {name!r}")
