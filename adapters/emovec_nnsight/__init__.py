"""emovec's nnsight 0.8 adapter: local traces, and remote traces on NDIF.

Names load lazily, so that choosing an adapter (`emovec.attach`) imports no framework.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and editors; at run time names load on first use
    from ._backend import NNsightBackend as NNsightBackend
    from .remote._backend import RemoteNNsightBackend as RemoteNNsightBackend
    from .remote._corpus import CorpusCapture as CorpusCapture
    from .remote._corpus import capture_corpus as capture_corpus
    from .remote._corpus import vectors_from_capture as vectors_from_capture
    from .remote._errors import ApiKeyError as ApiKeyError
    from .remote._errors import LocalWeightsError as LocalWeightsError
    from .remote._errors import NotDeployedError as NotDeployedError
    from .remote._errors import RemoteExecutionError as RemoteExecutionError
    from .remote._errors import RemoteSetupError as RemoteSetupError
    from .remote._errors import TransientRemoteError as TransientRemoteError
    from .remote._errors import VersionMismatchError as VersionMismatchError
    from .remote._preflight import PreflightError as PreflightError
    from .remote._preflight import scan_tracer as scan_tracer
    from .remote._rehearsal import RehearsalWarning as RehearsalWarning
    from .remote._sandbox import Sandbox as Sandbox
    from .remote._transport import NDIFTransport as NDIFTransport
    from .remote._transport import RetryPolicy as RetryPolicy
    from .remote._transport import SimulatedNDIF as SimulatedNDIF

_NAMES = {
    "NNsightBackend": "_backend",
    "RemoteNNsightBackend": "remote._backend",
    "NDIFTransport": "remote._transport",
    "SimulatedNDIF": "remote._transport",
    "RetryPolicy": "remote._transport",
    "Sandbox": "remote._sandbox",
    "PreflightError": "remote._preflight",
    "scan_tracer": "remote._preflight",
    "RehearsalWarning": "remote._rehearsal",
    "capture_corpus": "remote._corpus",
    "CorpusCapture": "remote._corpus",
    "vectors_from_capture": "remote._corpus",
    "RemoteSetupError": "remote._errors",
    "LocalWeightsError": "remote._errors",
    "NotDeployedError": "remote._errors",
    "VersionMismatchError": "remote._errors",
    "ApiKeyError": "remote._errors",
    "TransientRemoteError": "remote._errors",
    "RemoteExecutionError": "remote._errors",
}
__all__ = [
    "ApiKeyError",
    "CorpusCapture",
    "LocalWeightsError",
    "NDIFTransport",
    "NNsightBackend",
    "NotDeployedError",
    "PreflightError",
    "RehearsalWarning",
    "RemoteExecutionError",
    "RemoteNNsightBackend",
    "RemoteSetupError",
    "RetryPolicy",
    "Sandbox",
    "SimulatedNDIF",
    "TransientRemoteError",
    "VersionMismatchError",
    "capture_corpus",
    "scan_tracer",
    "vectors_from_capture",
]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        from importlib import import_module

        return getattr(import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'emovec_nnsight' has no attribute {name!r}")
