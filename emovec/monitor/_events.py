"""The monitor's event stream: one JSON object per line (JSONL), schema `emovec.monitor.events/1`.

Three event types, each a JSON object with a `type`:

* `header`, at the start of each generation: `schema`, `generation` (0, 1, ... per monitor),
  `model_id`, `emotions` and `sites` (the axes of every reading), `calibrated`, `min_position`,
  `rules` (their specs).
* `token`, one per real token of each row (prompt tokens at step 0, then one per decode step):
  `generation`, `row`, `step`, `position` (index in the row's own text), `phase` ("prompt" or
  "generated"), `token_id`, `token` (decoded text or null), `readings`
  (`{site: {emotion: raw projection}}`, rounded to 5 decimals), `z` (same shape, or null
  without calibration), `alerts` (rules that fired on this token: `{rule, row, emotions,
  values}`), `actions` (what was done: `{kind, rule, row, ...}`; an intervention also has
  `site`, `from_step` and, for steering, `toward`, `strength` and `added_norm`).
* `end`, after a generation: `generation`, `rows` (`{row, stopped, text, n_generated,
  alerts}`), `edits_added` (`{step, site}`).

`EventWriter` appends each event as one line with a single write and flushes it, so a reader
(`tail -f`) sees whole lines as they happen and a crash loses at most the line being written;
`read_events` reports a truncated or corrupt line by its number. `write_events` writes a whole
stream atomically.
"""

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from emovec._files import write_atomic

SCHEMA = "emovec.monitor.events/1"

# Required keys and their JSON types per event type (None: null allowed).
_REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    "header": {
        "schema": (str,),
        "generation": (int,),
        "model_id": (str, type(None)),
        "emotions": (list,),
        "sites": (list,),
        "calibrated": (bool,),
        "min_position": (int,),
        "rules": (list,),
    },
    "token": {
        "generation": (int,),
        "row": (int,),
        "step": (int,),
        "position": (int,),
        "phase": (str,),
        "token_id": (int,),
        "token": (str, type(None)),
        "readings": (dict,),
        "z": (dict, type(None)),
        "alerts": (list,),
        "actions": (list,),
    },
    "end": {"generation": (int,), "rows": (list,), "edits_added": (list,)},
}


def validate_event(event: Any) -> dict[str, Any]:
    """Return `event` if it follows the schema, else raise `ValueError` saying what is wrong.

    Example:
        >>> validate_event({"type": "end", "generation": 0, "rows": [], "edits_added": []})["type"]
        'end'
    """
    if not isinstance(event, dict) or event.get("type") not in _REQUIRED:
        kind = event.get("type") if isinstance(event, dict) else type(event).__name__
        raise ValueError(f"Not a monitor event (type {kind!r}; expected one of {list(_REQUIRED)}).")
    for key, types in _REQUIRED[event["type"]].items():
        if key not in event:
            raise ValueError(f"{event['type']} event lacks {key!r}.")
        value = event[key]
        if isinstance(value, bool) and bool not in types:
            raise ValueError(f"{event['type']} event: {key!r} must not be a boolean.")
        if not isinstance(value, types):
            raise ValueError(
                f"{event['type']} event: {key!r} is {type(value).__name__}, expected"
                f" {' or '.join(t.__name__ for t in types)}."
            )
    if event["type"] == "header" and event["schema"] != SCHEMA:
        raise ValueError(f"Event stream schema {event['schema']!r}; this emovec reads {SCHEMA!r}.")
    if event["type"] == "token" and event["phase"] not in ("prompt", "generated"):
        raise ValueError(
            f"token event: phase must be 'prompt' or 'generated', got {event['phase']!r}."
        )
    return event


def _line(event: dict[str, Any]) -> str:
    return json.dumps(event, allow_nan=False, ensure_ascii=False, separators=(",", ":")) + "\n"


class EventWriter:
    """Append events to a JSONL file, one flushed line each (use as a monitor listener).

    Args:
        path: The file; its folder is created.
        mode: "w" starts a new file, "a" appends.
        fsync: Also fsync after every line (durable, slower).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
        >>> with EventWriter(p) as w:
        ...     w({"type": "end", "generation": 0, "rows": [], "edits_added": []})
        >>> [e["type"] for e in read_events(p)]
        ['end']
    """

    def __init__(self, path: "str | os.PathLike[str]", *, mode: str = "w", fsync: bool = False):
        if mode not in ("w", "a"):
            raise ValueError(f"EventWriter mode must be 'w' or 'a', got {mode!r}.")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._handle: IO[str] | None = open(self.path, mode, encoding="utf-8")  # noqa: SIM115
        self.count = 0

    def __call__(self, event: dict[str, Any]) -> None:
        if self._handle is None:
            raise ValueError(f"EventWriter for {self.path} is closed.")
        self._handle.write(_line(event))
        self._handle.flush()
        if self.fsync:
            os.fsync(self._handle.fileno())
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_events(path: "str | os.PathLike[str]", events: Iterable[dict[str, Any]]) -> Path:
    """Write a whole event stream atomically (readers see the old file or the complete new one)."""
    return write_atomic(path, "".join(_line(e) for e in events).encode("utf-8"))


def iter_events(
    path: "str | os.PathLike[str]", *, validate: bool = True
) -> Iterator[dict[str, Any]]:
    """Events of a JSONL file in order; a bad line raises naming its line number."""
    path = Path(path)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as err:
        raise ValueError(f"Cannot read event stream {path}: {err.strerror or err}.") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if not line.endswith("\n"):
                raise ValueError(
                    f"{path}, line {number}: truncated (the writer stopped mid-line); drop the"
                    " last line or pass the stream through `head -n -1`."
                )
            try:
                event = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number}: not JSON ({err.msg}).") from None
            if validate:
                try:
                    validate_event(event)
                except ValueError as err:
                    raise ValueError(f"{path}, line {number}: {err}") from None
            yield event


def read_events(path: "str | os.PathLike[str]", *, validate: bool = True) -> list[dict[str, Any]]:
    """All events of a JSONL file (see `iter_events`)."""
    return list(iter_events(path, validate=validate))
