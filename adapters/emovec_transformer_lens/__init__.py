"""emovec's TransformerLens 4.x adapter (TransformerBridge hook points)."""

from ._backend import TransformerLensBackend as TransformerLensBackend
from ._backend import hook_name as hook_name

__all__ = ["TransformerLensBackend", "hook_name"]
