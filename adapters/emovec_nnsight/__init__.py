"""emovec's nnsight 0.8 adapter (local traces; remote NDIF execution in `emovec_nnsight.remote`)."""

from ._backend import NNsightBackend as NNsightBackend

__all__ = ["NNsightBackend"]
