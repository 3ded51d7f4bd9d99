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


_TRANSIENT = (
    "502",
    "503",
    "504",
    "429",
    "timed out",
    "timeout",
    "unavailable",
    "connection",
    "busy",
)
_AUTH = ("401", "403", "api key", "api-key", "unauthorized", "forbidden")


def classify(message: str, key_source: str = "") -> Exception:
    """The exception for a server error message (`scrub` masks the key in it afterwards).

    Example:
        >>> type(classify("Failed to send request: 503 Service Unavailable")).__name__
        'TransientRemoteError'
    """
    lower = message.lower()
    if any(marker in lower for marker in _AUTH):
        where = f" (from {key_source})" if key_source else ""
        return ApiKeyError(
            f"NDIF rejected the API key{where}: {message}. Check it at https://login.ndif.us,"
            " then set NDIF_API_KEY or run `nnsight login`."
        )
    if any(marker in lower for marker in _TRANSIENT):
        return TransientRemoteError(message)
    if "not whitelisted" in lower or "is blocked" in lower:
        return RemoteExecutionError(
            f"NDIF refused the block although preflight passed it: {message}. The facts in"
            " emovec_nnsight/remote/_whitelist.py are out of date: please report this."
        )
    return RemoteExecutionError(f"The block failed on NDIF: {message}")


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` masked (for messages and logs).

    Example:
        >>> redact("header ndif-api-key: abc123", "abc123")
        'header ndif-api-key: ***'
    """
    if not secret:
        return text
    return text.replace(secret, "***")


def scrub(err: BaseException, secret: str | None) -> BaseException:
    """`err` with `secret` masked in its message, args, notes and string attributes, and the
    same along its `__cause__`/`__context__` chain (tracebacks are kept).

    Masking is done in place where the exception allows it; an exception whose text still
    shows the secret afterwards (a custom `__str__`) is replaced in the chain by a
    `RemoteExecutionError` naming its type, with the same traceback.

    Example:
        >>> err = ValueError("bad header ndif-api-key: abc123")
        >>> scrub(err, "abc123") is err, str(err)
        (True, 'bad header ndif-api-key: ***')
    """
    if not secret:
        return err
    return _scrub(err, secret, {})


def _scrub(err: BaseException, secret: str, done: dict[int, BaseException]) -> BaseException:
    if id(err) in done:
        return done[id(err)]
    try:
        err.args = tuple(_mask(arg, secret) for arg in err.args)
    except Exception:  # an exception type that refuses new args: caught by the check below
        pass
    notes = getattr(err, "__notes__", None)
    if isinstance(notes, list):
        err.__notes__ = [redact(str(note), secret) for note in notes]
    for name, value in list(getattr(err, "__dict__", {}).items()):
        if isinstance(value, (str, bytes, tuple, list)) and not name.startswith("__"):
            try:
                setattr(err, name, _mask(value, secret))
            except Exception:  # a read-only attribute: caught by the check below
                pass
    clean = err
    if secret in _shown(err):
        text = redact(_str(err), secret)
        clean = RemoteExecutionError(f"{type(err).__name__}: {text}")
        clean = clean.with_traceback(err.__traceback__)
    done[id(err)] = clean
    cause, context = err.__cause__, err.__context__
    clean.__cause__ = None if cause is None else _scrub(cause, secret, done)
    clean.__context__ = None if context is None else _scrub(context, secret, done)
    clean.__suppress_context__ = err.__suppress_context__
    return clean


def _mask(value: object, secret: str) -> object:
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, bytes):
        return value.replace(secret.encode(), b"***")
    if isinstance(value, (tuple, list)):
        return type(value)(_mask(v, secret) for v in value)
    return value


def _str(err: BaseException) -> str:
    try:
        return str(err)
    except Exception:  # a broken __str__ shows nothing of the secret either
        return "<unprintable>"


def _shown(err: BaseException) -> str:
    """Everything a traceback printer or logger would show of `err` itself."""
    try:
        shown = repr(err)
    except Exception:
        shown = ""
    return "\n".join([_str(err), shown, *map(str, getattr(err, "__notes__", None) or ())])
