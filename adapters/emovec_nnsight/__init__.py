"""emovec's nnsight 0.8 adapter (local traces).

Names load lazily, so that choosing an adapter (`emovec.attach`) imports no framework.
"""

from typing import Any

__all__ = ["NNsightBackend"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _backend

        return getattr(_backend, name)
    raise AttributeError(f"module 'emovec_nnsight' has no attribute {name!r}")
