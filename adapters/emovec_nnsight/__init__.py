"""emovec's nnsight 0.8 adapter: local traces, and remote traces on NDIF.

Names load lazily, so that choosing an adapter (`emovec.attach`) imports no framework.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and editors; at run time names load on first use
    from ._backend import NNsightBackend as NNsightBackend
    from ._preflight import PreflightError as PreflightError
    from ._preflight import scan_tracer as scan_tracer
    from ._rehearsal import RehearsalWarning as RehearsalWarning
    from ._remote_backend import RemoteNNsightBackend as RemoteNNsightBackend
    from ._remote_corpus import CorpusCapture as CorpusCapture
    from ._remote_corpus import capture_corpus as capture_corpus
    from ._remote_corpus import vectors_from_capture as vectors_from_capture
    from ._remote_errors import ApiKeyError as ApiKeyError
    from ._remote_errors import LocalWeightsError as LocalWeightsError
    from ._remote_errors import NotDeployedError as NotDeployedError
    from ._remote_errors import RemoteExecutionError as RemoteExecutionError
    from ._remote_errors import RemoteSetupError as RemoteSetupError
    from ._remote_errors import TransientRemoteError as TransientRemoteError
    from ._remote_errors import VersionMismatchError as VersionMismatchError
    from ._remote_sandbox import Sandbox as Sandbox
    from ._remote_transport import NDIFTransport as NDIFTransport
    from ._remote_transport import RetryPolicy as RetryPolicy
    from ._remote_transport import SimulatedNDIF as SimulatedNDIF

_NAMES = {
    "NNsightBackend": "_backend",
    "RemoteNNsightBackend": "_remote_backend",
    "NDIFTransport": "_remote_transport",
    "SimulatedNDIF": "_remote_transport",
    "RetryPolicy": "_remote_transport",
    "Sandbox": "_remote_sandbox",
    "PreflightError": "_preflight",
    "scan_tracer": "_preflight",
    "RehearsalWarning": "_rehearsal",
    "capture_corpus": "_remote_corpus",
    "CorpusCapture": "_remote_corpus",
    "vectors_from_capture": "_remote_corpus",
    "RemoteSetupError": "_remote_errors",
    "LocalWeightsError": "_remote_errors",
    "NotDeployedError": "_remote_errors",
    "VersionMismatchError": "_remote_errors",
    "ApiKeyError": "_remote_errors",
    "TransientRemoteError": "_remote_errors",
    "RemoteExecutionError": "_remote_errors",
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
