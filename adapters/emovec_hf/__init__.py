"""emovec's plain Hugging Face adapter (torch forward hooks on decoder layers)."""

from ._backend import HFBackend as HFBackend
from ._backend import decoder_layers as decoder_layers
from ._load import load_pretrained as load_pretrained

__all__ = ["HFBackend", "decoder_layers", "load_pretrained"]
