"""Before anything is sent: can this model run remotely at all? Said clearly, in this order.

1. Local weights (emovec's shipped copy, a folder): NDIF serves only models it has deployed,
   named by hub id. Nothing is asked of any server.
2. An API key (`$NDIF_API_KEY`, nnsight's config): missing is refused here; a rejected key
   surfaces on the first request, named by where it came from and never shown.
3. Client and server nnsight versions (a mismatch fails deserialisation obscurely there).
4. The deployment: nnsight's `is_model_running` for the model's key (the repo id as the hub
   canonicalises it, revision, task); if not running, the deployments that are, listed.

The server questions (3, 4) are retried on transient failures with the backend's
`RetryPolicy`, like requests.
"""

from importlib.metadata import version
from pathlib import Path
from typing import Any

from emovec._provenance import Origin

from ._errors import ApiKeyError, LocalWeightsError, NotDeployedError, VersionMismatchError


def check_remote(backend: Any) -> str:
    """Run the checks for a `RemoteNNsightBackend`; return the model key requests carry.

    Raises:
        LocalWeightsError: the model was loaded from local weights.
        ApiKeyError: no API key is configured.
        VersionMismatchError: client and server nnsight differ (both versions named).
        NotDeployedError: the server is not running `model_id` (the running ones listed).
        TransientRemoteError: the server or the hub did not answer, after every retry.
    """
    reason = backend.local_weights_reason()
    if reason is not None:
        raise LocalWeightsError(
            f"{backend.model_id} cannot run on NDIF: {reason}. NDIF runs only the models it has"
            " deployed, named by hub id; build the backend from the id instead, e.g."
            " RemoteNNsightBackend.from_hub('meta-llama/Llama-3.1-8B') (docs/remote.md)."
        )
    transport = backend.transport
    key, _ = transport.api_key()
    if transport.requires_key and not key:
        raise ApiKeyError(
            "No NDIF API key: set the NDIF_API_KEY environment variable, or store one with"
            " `nnsight login` (get a key at https://login.ndif.us)."
        )

    def count(attempt: int, delay: float) -> None:
        backend.retries += 1

    env = backend.retry.call(transport.environment, on_retry=count)
    server = (env.get("packages") or {}).get("nnsight")
    client = version("nnsight")
    if server and server != client:
        raise VersionMismatchError(
            f"nnsight versions differ: this client has {client}, the server runs {server}."
            " Requests would fail to deserialise there with an unhelpful error; install the"
            f" server's version (pip install 'nnsight=={server}') and retry."
        )
    model_key = backend.retry.call(
        lambda: transport.model_key(backend.model, backend.model_id), on_retry=count
    )
    running, deployed = backend.retry.call(
        lambda: _deployment(transport, model_key, backend), on_retry=count
    )
    if not running:
        listed = "unknown" if deployed is None else ", ".join(sorted(deployed)[:12]) or "none"
        raise NotDeployedError(
            f"{backend.model_id} is not deployed on {transport.name} right now (running:"
            f" {listed}). Pick a deployed model (print(nnsight.status())) or ask NDIF to host it."
        )
    return model_key


def _deployment(transport: Any, model_key: str, backend: Any) -> tuple[bool, set[str] | None]:
    """Whether the deployment `model_key` names is running, and if not, the ones that are."""
    running = getattr(transport, "running", None)
    if running is not None and running(model_key):
        return True, None
    # Also how a service that is down shows: `deployed` raises a TransientRemoteError then.
    deployed = transport.deployed()
    if running is None:  # a transport without `running`: match the id against the listing
        wanted = backend.model_id.lower()
        return deployed is None or wanted in {d.lower() for d in deployed}, deployed
    return False, deployed


def local_weights_reason(model: Any, model_id: str, origin: Origin | None) -> str | None:
    """Why `model` cannot run remotely because of where its weights came from, if so."""
    shipped = origin.shipped_as if origin is not None else None
    if shipped:
        return (
            f"it was loaded from emovec's shipped weights ({shipped!r}, a local dequantised"
            " GGUF copy)"
        )
    for label, value in (
        ("model id", model_id),
        ("nnsight repo id", getattr(model, "repo_id", None)),
        ("config path", getattr(model._module.config, "_name_or_path", None)),
    ):
        if isinstance(value, str) and value and _is_local_path(value):
            return f"its {label} {value!r} is a local path"
    return None


def _is_local_path(value: str) -> bool:
    if value.startswith(("/", "./", "../", "~")):
        return True
    try:
        return Path(value).expanduser().exists()
    except OSError:
        return False
