"""Atomic file writes and the one JSON writer every stage uses.

Every output file of emovec (vector bundles, reports, JSON summaries, corpora) goes through
`atomic_open`: the data lands in a temporary file in the same folder, is flushed and fsynced,
and is renamed over the target (`os.replace` is atomic on POSIX and Windows), then the folder
entry is synced so a crash right after returning cannot lose the rename. A reader sees the old
file or the complete new one, never a part. Files get the mode an ordinary `open` would give
(0666 less the process umask), not the 0600 of `tempfile.mkstemp`.
"""

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once (not thread-safe, but the
    # window is two syscalls and every caller sets the same value back)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sync_folder(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):  # POSIX: make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextmanager
def atomic_open(path: "str | PathLike[str]", mode: str = "w") -> Iterator[IO[Any]]:
    """Write `path` through a temporary file that replaces it only when the block succeeds.

    On an exception the temporary file is removed and `path` is untouched.

    Args:
        path: The file to write; missing parent folders are created.
        mode: "w" (text, UTF-8) or "wb" (bytes).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> with atomic_open(target) as handle:
        ...     _ = handle.write("abc")
        >>> target.read_text()
        'abc'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}; append in place.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def write_atomic(path: "str | PathLike[str]", data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_open`) and return the path.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
        >>> write_atomic(target, b"abc").read_bytes()
        b'abc'
    """
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def json_text(
    data: Any,
    *,
    indent: int | None = 2,
    allow_nan: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """`data` as the JSON text emovec writes: keys in insertion order, UTF-8, a final newline.

    Example:
        >>> json_text({"a": 1}, indent=None)
        '{"a": 1}\\n'
    """
    text = json.dumps(data, indent=indent, allow_nan=allow_nan, default=default, ensure_ascii=False)
    return text + "\n"


def write_json(
    path: "str | PathLike[str]",
    data: Any,
    *,
    indent: int | None = 2,
    allow_nan: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Write `data` as JSON (see `json_text`) atomically (see `atomic_open`).

    Args:
        path: The file to write.
        data: Plain JSON data (dicts, lists, numbers, strings).
        indent: Spaces per level; None writes one line.
        allow_nan: False rejects NaN and infinities (strict JSON) with a `ValueError`.
        default: Turns values JSON does not know into ones it does (for example `str`).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.json"
        >>> write_json(target, {"a": [1, 2]}, indent=None).read_text()
        '{"a": [1, 2]}\\n'
    """
    text = json_text(data, indent=indent, allow_nan=allow_nan, default=default)
    return write_atomic(path, text.encode("utf-8"))
