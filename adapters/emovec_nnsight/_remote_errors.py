"""What can go wrong with a remote run, as exception types a caller can tell apart.

Setup errors (`RemoteSetupError` and its subclasses) are raised before anything is sent;
`TransientRemoteError` is retried with backoff; `RemoteExecutionError` means the server ran the
block and it failed there. No message ever contains the API key (see `redact`).
"""


class RemoteSetupError(ValueError):
    """The remote run cannot start; nothing was sent."""


class LocalWeightsError(RemoteSetupError):
    """The model was loaded from local weights, which NDIF cannot serve."""


class NotDeployedError(RemoteSetupError):
    """The model id names no model NDIF has deployed."""


class VersionMismatchError(RemoteSetupError):
    """Client and server nnsight versions differ (deserialisation would fail obscurely)."""


class ApiKeyError(RemoteSetupError):
    """The NDIF API key is missing, or the server rejected it."""


class TransientRemoteError(RuntimeError):
    """A failure worth retrying: connection trouble, a busy or restarting server."""


class RemoteExecutionError(RuntimeError):
    """The server accepted the block, ran it, and it raised."""


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` masked (for messages and logs).

    Example:
        >>> redact("header ndif-api-key: abc123", "abc123")
        'header ndif-api-key: ***'
    """
    if not secret:
        return text
    return text.replace(secret, "***")
