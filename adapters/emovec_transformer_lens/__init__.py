"""emovec's TransformerLens 4.x adapter (TransformerBridge hook points).

Names load lazily, so that choosing an adapter (`emovec.attach`) imports no framework.
"""

from typing import Any

__all__ = ["TransformerLensBackend", "hook_name"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _backend

        return getattr(_backend, name)
    raise AttributeError(f"module 'emovec_transformer_lens' has no attribute {name!r}")
