"""Reading a corpus line by line: each line is a document, a blank line, or a bad line.

A `.jsonl` corpus holds records with a text field (an `id` field is carried over); any other
file is plain text, one document per line. A bad line (not UTF-8, not JSON, no text) carries
the reason, so the run can report it by file and number and go on (the line parser is
`emovec.corpus._records.parse_object`, shared with `emovec extract` and corpus folders).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from emovec.corpus._records import parse_object

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class Line:
    """One corpus line: its number (from 1), raw bytes, and the document or why it is bad."""

    number: int
    raw: bytes
    text: str | None = None
    id: Any = None
    error: str | None = None

    @property
    def blank(self) -> bool:
        return not self.raw.strip()


def parse_line(number: int, raw: bytes, *, json_lines: bool, text_field: str = "text") -> Line:
    """Read one line: a document, a blank line, or a bad line with the reason.

    Example:
        >>> parse_line(3, b'{"text": 5}\\n', json_lines=True).error
        "field 'text' is not a non-empty string"
    """
    if not raw.strip():
        return Line(number, raw)
    if not json_lines:
        try:
            return Line(number, raw, raw.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError as err:
            return Line(number, raw, error=f"not UTF-8 ({err.reason} at byte {err.start})")
    rec = parse_object(raw)
    if isinstance(rec, str):
        return Line(number, raw, error=rec)
    text = rec.get(text_field)
    if not isinstance(text, str) or not text.strip():
        if text_field not in rec:
            return Line(number, raw, error=f"no field {text_field!r} (has {sorted(rec)[:5]})")
        return Line(number, raw, error=f"field {text_field!r} is not a non-empty string")
    return Line(number, raw, text, rec.get("id"))


def _lines(handle: BinaryIO, first: int) -> Iterator[tuple[int, bytes]]:
    yield from enumerate(handle, start=first)


def _take(lines: Iterator[tuple[int, bytes]], n: int) -> list[tuple[int, bytes]]:
    out = []
    for item in lines:
        out.append(item)
        if len(out) == n:
            break
    return out
