"""How a serialised block reaches a server: NDIF itself, or the strict local stand-in.

A transport answers the setup questions (which nnsight the server runs, the model's key,
whether that deployment is running, which are) and sends one request, returning the values
the block saved; no exception leaves it with the API key in its text (`scrub`). It is
injectable: tests use `SimulatedNDIF` (the isolated `Sandbox` process) or wrap a transport to
plant failures. `RetryPolicy` retries `TransientRemoteError`s with exponential backoff.
"""

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, Protocol, TypeVar

from ._errors import (
    NotDeployedError,
    RemoteExecutionError,
    RemoteSetupError,
    TransientRemoteError,
    VersionMismatchError,
    classify,
    redact,
    scrub,
)
from ._preflight import PreflightError
from ._sandbox import Sandbox, SandboxError

log = logging.getLogger("emovec.remote")
T = TypeVar("T")


@dataclass(frozen=True, repr=False)
class RemoteRequest:
    """One serialised block, addressed to a deployed model (never carries the API key)."""

    model_key: str
    blob: bytes
    compress: bool
    env: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"RemoteRequest({self.model_key!r}, {len(self.blob)} bytes)"


class Transport(Protocol):
    """What the remote backend needs from a server connection."""

    name: str
    strict: bool  # whether `send` itself deserialises under the whitelist (no extra check)
    requires_key: bool

    def api_key(self) -> tuple[str | None, str]: ...

    def environment(self) -> dict[str, Any]: ...

    def running(self, model_key: str) -> bool: ...

    def deployed(self) -> set[str] | None: ...

    def model_key(self, model: Any, model_id: str) -> str: ...

    def send(self, request: RemoteRequest) -> dict[str, Any]: ...


def resolve_api_key(explicit: str | None = None) -> tuple[str | None, str]:
    """The NDIF API key and where it came from (the key itself is never logged).

    Order: the argument, `$NDIF_API_KEY`, nnsight's config (`nnsight login`).
    """
    if explicit:
        return explicit, "the api_key argument"
    env = os.environ.get("NDIF_API_KEY")
    if env:
        return env, "$NDIF_API_KEY"
    try:
        from nnsight.schema.config import CONFIG

        if CONFIG.API.APIKEY:
            return CONFIG.API.APIKEY, "nnsight's config file (nnsight login)"
    except Exception:  # nnsight's config unreadable: behave as if no key is stored
        pass
    return None, ""


def _nnsight_key(model: Any, model_id: str, revision: str | None) -> str:
    from nnsight.util import to_import_path

    cls = model._remoteable_class() if hasattr(model, "_remoteable_class") else type(model)
    data: dict[str, Any] = {"repo_id": model_id, "revision": revision}
    task = getattr(model, "task", None)
    if task:
        data["task"] = task
    return f"{to_import_path(cls)}:{json.dumps(data)}"


class _Scrubbed:
    """`send` for both transports: every exception that leaves it has the API key masked."""

    def api_key(self) -> tuple[str | None, str]:
        raise NotImplementedError

    def _send(self, request: RemoteRequest, key: str | None, source: str) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, request: RemoteRequest) -> dict[str, Any]:
        """One request, sent with this transport's key (masked in anything raised: `scrub`)."""
        key, source = self.api_key()
        try:
            return self._send(request, key, source)
        except BaseException as err:
            clean = scrub(err, key)
        raise clean  # outside the handler: no implicit link to the unmasked exception


class NDIFTransport(_Scrubbed):
    """The real service, through nnsight's own `RemoteBackend` (websocket + HTTP).

    Args:
        host: Override `CONFIG.API.HOST` / `$NDIF_HOST`.
        api_key: Override `$NDIF_API_KEY` / nnsight's config.
    """

    name = "ndif"
    strict = False
    requires_key = True

    def __init__(self, *, host: str | None = None, api_key: str | None = None):
        from nnsight.schema.config import CONFIG

        self.host = host or CONFIG.API.HOST
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"NDIFTransport(host={self.host!r})"

    def api_key(self) -> tuple[str | None, str]:
        return resolve_api_key(self._api_key)

    def environment(self) -> dict[str, Any]:
        from nnsight.ndif import get_remote_env

        try:
            return get_remote_env()
        except Exception as err:
            raise TransientRemoteError(
                f"Cannot read NDIF's environment at {self.host} ({type(err).__name__}): is the"
                " service up? See https://nnsight.net/status."
            ) from None

    def running(self, model_key: str) -> bool:
        """nnsight's own `is_model_running` for the deployment `model_key` names: the repo id
        canonicalised through the hub, the revision, task and trust_remote_code of the key."""
        from nnsight.ndif import is_model_running

        data = json.loads(model_key.split(":", 1)[1])
        return _hub_call(
            data["repo_id"],
            lambda: is_model_running(
                data["repo_id"],
                revision=data.get("revision") or "main",
                task=data.get("task"),
                trust_remote_code=True if data.get("trust_remote_code") else None,
            ),
        )

    def deployed(self) -> set[str] | None:
        """Repo ids of the running deployments (for messages); raises if NDIF does not answer,
        which `is_model_running` reports as "not running"."""
        import nnsight

        raw: Any = nnsight.status(raw=True)
        if not raw:
            raise TransientRemoteError(f"NDIF at {self.host} did not answer its /status request.")
        return {
            value.get("repo_id", name)
            for name, value in (raw.get("deployments") or {}).items()
            if value.get("application_state") == "RUNNING"
        }

    def model_key(self, model: Any, model_id: str) -> str:
        """nnsight's own key when the model was built from `model_id`; else the same key
        with the id canonicalised through the hub, as nnsight does (casing, renames)."""
        if getattr(model, "repo_id", None) == model_id and hasattr(model, "to_model_key"):
            return _hub_call(model_id, model.to_model_key)
        from huggingface_hub import HfApi

        canonical = _hub_call(model_id, lambda: HfApi().model_info(model_id).id)
        return _nnsight_key(model, canonical, getattr(model, "revision", None))

    def _send(self, request: RemoteRequest, key: str | None, source: str) -> dict[str, Any]:
        from nnsight.intervention.backends.remote import RemoteBackend, RemoteError
        from nnsight.schema.request import RequestModel

        backend = RemoteBackend(
            request.model_key, host=self.host, api_key=key, env=request.env, blocking=True
        )
        backend.compress = request.compress
        backend._serialize = lambda tracer: request.blob  # already serialised and preflighted
        envelope = RequestModel(
            model_key=request.model_key, compress=request.compress, env=request.env
        )
        try:
            return backend.request(envelope, None) or {}  # type: ignore[arg-type]
        except RemoteError as err:
            raise classify(str(err), source) from err
        except Exception as err:
            if _network(err):
                raise TransientRemoteError(f"{type(err).__name__}: {err}") from err
            raise


_NETWORK_PACKAGES = ("websocket", "httpx", "httpx2", "httpcore", "requests", "urllib3")


def _network(err: BaseException) -> bool:
    """Whether `err` is connection trouble (worth a retry), not a verdict of the server."""
    package = type(err).__module__.split(".", 1)[0]
    return isinstance(err, (OSError, TimeoutError)) or package in _NETWORK_PACKAGES


def _hub_call(repo_id: str, fn: Callable[[], T]) -> T:
    """`fn()`, which asks the Hugging Face hub about `repo_id` (as nnsight does, to canonicalise
    the id), with the hub's failures named."""
    from huggingface_hub.errors import OfflineModeIsEnabled, RepositoryNotFoundError

    try:
        return fn()
    except RepositoryNotFoundError:
        raise NotDeployedError(
            f"{repo_id} is not a model id on the Hugging Face hub, so NDIF cannot serve it:"
            " check the spelling (print(nnsight.status()) lists what NDIF runs)."
        ) from None
    except OfflineModeIsEnabled:
        raise RemoteSetupError(
            f"HF_HUB_OFFLINE is set, but nnsight resolves {repo_id} through the Hugging Face hub"
            " before NDIF can run it: unset HF_HUB_OFFLINE."
        ) from None
    except Exception as err:
        if not _network(err):
            raise
        raise TransientRemoteError(
            f"Cannot ask the Hugging Face hub about {repo_id} ({type(err).__name__}: {err})."
        ) from None


class SimulatedNDIF(_Scrubbed):
    """The strict local stand-in for NDIF: requests run in the isolated `Sandbox` process.

    Args:
        sandbox: The server process (its deployments name the models it serves).
        api_key: Override `$NDIF_API_KEY` / nnsight's config, as for the real service.
    """

    name = "simulated-ndif"
    strict = True

    def __init__(self, sandbox: Sandbox, *, api_key: str | None = None):
        self.sandbox = sandbox
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"SimulatedNDIF(deployments={sorted(self.sandbox.deployments)})"

    @property
    def requires_key(self) -> bool:
        return self.sandbox._api_keys is not None

    def api_key(self) -> tuple[str | None, str]:
        return resolve_api_key(self._api_key)

    def environment(self) -> dict[str, Any]:
        return self.sandbox.environment()

    def running(self, model_key: str) -> bool:
        # Hub ids are case-insensitive; nnsight canonicalises them through the hub, which a
        # stand-in deployed under its own names cannot ask.
        repo_id = json.loads(model_key.split(":", 1)[1])["repo_id"]
        return repo_id.lower() in {name.lower() for name in self.sandbox.deployments}

    def deployed(self) -> set[str] | None:
        return set(self.sandbox.deployments)

    def model_key(self, model: Any, model_id: str) -> str:
        return _nnsight_key(model, model_id, getattr(model, "revision", None))

    def _send(self, request: RemoteRequest, key: str | None, source: str) -> dict[str, Any]:
        headers = {"nnsight-version": version("nnsight"), "ndif-api-key": key}
        try:
            reply = self.sandbox.request(
                "run",
                blob=request.blob,
                compress=request.compress,
                model_key=request.model_key,
                env=request.env,
                headers=headers,
            )
        except SandboxError as err:
            raise RemoteExecutionError(redact(str(err), key)) from None
        kind, message = reply.get("error"), redact(str(reply.get("message", "")), key)
        if kind is None:
            return reply["saves"]
        if kind == "auth":
            raise classify(f"401 {message}", source)
        if kind == "version":
            raise VersionMismatchError(message)
        if kind == "not_deployed":
            raise NotDeployedError(message)
        if kind == "rejected":
            raise PreflightError(f"  the isolated server refused the request: {message}")
        detail = redact(str(reply.get("traceback", "")), key)
        raise RemoteExecutionError(f"The block failed on the server: {message}\n{detail}")


@dataclass
class RetryPolicy:
    """Retry transient failures with exponential backoff: `base * 2**i`, capped at `cap`.

    Example:
        >>> RetryPolicy(attempts=4, base=1.0).delays()
        [1.0, 2.0, 4.0]
    """

    attempts: int = 6
    base: float = 2.0
    cap: float = 120.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> list[float]:
        return [min(self.cap, self.base * 2**i) for i in range(self.attempts - 1)]

    def call(
        self, fn: Callable[[], T], *, on_retry: Callable[[int, float], None] | None = None
    ) -> T:
        """`fn()`, retried on `TransientRemoteError`; the last failure is re-raised."""
        delays = self.delays()
        for attempt in range(self.attempts):
            try:
                return fn()
            except TransientRemoteError as err:
                if attempt == len(delays):
                    raise TransientRemoteError(
                        f"Gave up after {self.attempts} attempts; last error: {err}"
                    ) from None
                delay = delays[attempt]
                log.warning(
                    "remote request failed (%s); retry %d/%d in %.1f s",
                    err,
                    attempt + 1,
                    len(delays),
                    delay,
                )
                if on_retry is not None:
                    on_retry(attempt + 1, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")
