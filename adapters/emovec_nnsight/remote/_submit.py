"""Sending one block: preflight, the API key kept out, rehearsal, retries, bookkeeping.

`Submission` is the nnsight backend object (`model.trace(..., backend=...)`) that routes a
block through `submit`; `RemoteNNsightBackend.submit` and its forwards use the same path.
"""

import atexit
from typing import Any, Protocol

from ._errors import RemoteExecutionError, RemoteSetupError, TransientRemoteError, redact
from ._preflight import PreflightError, scan_tracer
from ._rehearsal import Rehearsal
from ._sandbox import Sandbox
from ._transport import RemoteRequest, RetryPolicy, Transport


class Sender(Protocol):
    """What sending needs of the remote backend (its connection, policies and counters)."""

    model: Any
    transport: Transport
    retry: RetryPolicy
    preflight: str
    requests: int
    retries: int
    _model_key: str | None

    @property
    def rehearsal(self) -> Rehearsal: ...

    def connect(self) -> Any: ...

    def submit(self, tracer: Any) -> dict[str, Any]: ...


_CHECKER: Sandbox | None = None


def _checker() -> Sandbox:
    """The process-wide sandbox for isolated checks (no deployments: blocks run on stand-ins)."""
    global _CHECKER
    if _CHECKER is None:
        _CHECKER = Sandbox()
        atexit.register(_CHECKER.close)
    return _CHECKER


class Submission:
    """An nnsight backend: preflight the block, send it, put the saved values back."""

    def __init__(self, owner: Sender):
        self.owner = owner

    def __call__(self, tracer: Any) -> None:
        from nnsight.tracing.tracer import save
        from nnsight.tracing.util import push

        result = self.owner.submit(tracer)
        for value in result.values():
            save(value)  # so an enclosing trace or session keeps them, as nnsight's own does
        push(tracer.info.frame, result)


def submit(owner: Sender, tracer: Any, checker: Sandbox | None) -> dict[str, Any]:
    """Preflight `tracer`'s block, send it (with retries), return what it saved."""
    from nnsight.ndif import pull_env
    from nnsight.schema.config import CONFIG
    from nnsight.schema.request import RequestModel

    owner.connect()
    pull_env()  # as nnsight's RemoteBackend does, so the scan sees what ships by value
    findings = scan_tracer(tracer)
    if findings:
        raise PreflightError(findings)
    compress = bool(CONFIG.API.COMPRESS)
    blob = RequestModel.serialize(tracer, compress)
    key, _ = owner.transport.api_key()
    if key and key.encode() in _plain(blob, compress):
        raise PreflightError("  the serialised block contains the API key: refusing to send it")
    env = owner.model._remoteable_get_env()
    if owner.preflight == "isolated" and not owner.transport.strict:
        # The strict transport runs the block in the sandbox itself; NDIF needs a rehearsal.
        sandbox = checker or _checker()
        owner.rehearsal.check(tracer, blob, compress=compress, sandbox=sandbox, env=env)
    assert owner._model_key is not None
    request = RemoteRequest(owner._model_key, blob, compress, env)

    def count(attempt: int, delay: float) -> None:
        owner.retries += 1

    def send() -> dict[str, Any]:
        try:
            return owner.transport.send(request)
        except (RemoteSetupError, RemoteExecutionError, TransientRemoteError) as err:
            if key and key in str(err):  # a transport quoted the key: mask it everywhere
                raise type(err)(redact(str(err), key)) from None
            raise

    result = owner.retry.call(send, on_retry=count)
    owner.requests += 1
    return result


def _plain(blob: bytes, compress: bool) -> bytes:
    if not compress:
        return blob
    import zstandard

    return zstandard.ZstdDecompressor().decompress(blob)
