"""Corpus records, their JSONL files, atomic writes and the manifest with its content hash.

A record is one generated text: a story (with its emotion) or a neutral dialogue (emotion
null). Raw generation files also keep rejected texts, with the filter's reason, so that the
manifest can report rejection rates and a later `emovec corpus filter` can re-judge them.
"""

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from emovec._files import atomic_open as atomic_open
from emovec._files import write_json as write_json

KINDS = ("story", "neutral")
FORMAT = "emovec-corpus/1"
REQUIRED = ("id", "kind", "emotion", "topic", "text", "generator", "seed")


class RecordError(ValueError):
    """A record that does not follow the schema (the message names the field)."""


@dataclass(frozen=True)
class Record:
    """One generated text and how it was made.

    Attributes:
        id: Unique key of the job that made it ("story/afraid/t017/s0").
        kind: "story" or "neutral".
        emotion: The emotion a story conveys; None for neutral dialogues.
        topic: The situation (stories) or subject (dialogues).
        text: The generated text.
        generator: Model id that wrote it.
        seed: Seed of the sampling call that produced it (one per batch; see the manifest).
        reason: Why a filter rejected it; None for accepted texts.
        meta: Anything else worth keeping (narration person, number of turns, stop reason).
    """

    id: str
    kind: str
    emotion: str | None
    topic: str
    text: str
    generator: str
    seed: int
    reason: str | None = None
    meta: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_record(asdict(self))

    @property
    def accepted(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this record (without empty optional fields)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("reason", "meta")}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    def to_json(self) -> str:
        """One canonical JSONL line (sorted keys, no spaces), without the newline."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def with_reason(self, reason: str | None) -> "Record":
        return Record(**{**asdict(self), "reason": reason})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Record":
        """A record from a parsed JSON object; `RecordError` names what is wrong."""
        check_record(data)
        known = {k: data[k] for k in (*REQUIRED, "reason", "meta") if k in data}
        return cls(**known)


def check_record(data: Any) -> None:
    """Raise `RecordError` unless `data` is a valid record object."""
    if not isinstance(data, Mapping):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise RecordError(f"missing field(s) {', '.join(missing)}")
    for key in ("id", "topic", "text", "generator"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise RecordError(f"field {key!r} must be a non-empty string")
    if data["kind"] not in KINDS:
        raise RecordError(f"field 'kind' must be 'story' or 'neutral', got {data['kind']!r}")
    emotion = data["emotion"]
    if data["kind"] == "story" and (not isinstance(emotion, str) or not emotion.strip()):
        raise RecordError("a story needs a non-empty string 'emotion'")
    if data["kind"] == "neutral" and emotion is not None:
        raise RecordError("a neutral record has 'emotion': null")
    if not isinstance(data["seed"], int) or isinstance(data["seed"], bool):
        raise RecordError(f"field 'seed' must be an integer, got {data['seed']!r}")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise RecordError("field 'reason' must be a string or null")
    if data.get("meta") is not None and not isinstance(data["meta"], Mapping):
        raise RecordError("field 'meta' must be an object")


@dataclass(frozen=True)
class BadLine:
    """A line of a JSONL file that could not be read as a record."""

    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line}: {self.problem}"


def parse_object(raw: "bytes | str") -> "dict[str, Any] | str":
    """One JSONL line as a JSON object, or the reason it is not one (the one line parser that
    corpus folders, `emovec extract` and `emovec score` share).

    Example:
        >>> parse_object(b'[1, 2]'), parse_object(b'{"text": "hi"}')
        ('a JSON array, not an object', {'text': 'hi'})
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return f"not UTF-8 ({err.reason} at byte {err.start})"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        return f"not valid JSON ({err.msg} at column {err.colno})"
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
            type(value), "number"
        )
        return f"a JSON {kind}, not an object"
    return value


def iter_jsonl(
    lines: Iterable[bytes], source: str
) -> Iterator[tuple[int, "dict[str, Any] | BadLine"]]:
    """Each non-blank line's 1-based number with its object, or a `BadLine` naming `source`."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        parsed = parse_object(raw)
        yield number, (BadLine(source, number, parsed) if isinstance(parsed, str) else parsed)


def scan_jsonl(data: "bytes | str", source: str) -> tuple[list[tuple[int, Record]], list[BadLine]]:
    """Records of a JSONL text with their line numbers, and the lines that are not records."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    good: list[tuple[int, Record]] = []
    bad: list[BadLine] = []
    for number, item in iter_jsonl(raw.splitlines(), source):
        if isinstance(item, BadLine):
            bad.append(item)
            continue
        try:
            good.append((number, Record.from_dict(item)))
        except RecordError as err:
            bad.append(BadLine(source, number, str(err)))
    return good, bad


def read_jsonl(path: "str | PathLike[str]") -> list[Record]:
    """All records of a JSONL file; a `ValueError` lists the bad lines by number."""
    good, bad = scan_jsonl(Path(path).read_bytes(), str(path))
    if bad:
        raise_bad_lines(bad)
    return [r for _, r in good]


def raise_bad_lines(bad: list[BadLine], limit: int = 3, fix: str = "") -> None:
    """One line naming the count, the first few bad lines (file, line number, problem), the fix."""
    shown = "; ".join(str(b) for b in bad[:limit])
    more = f"; and {len(bad) - limit} more" if len(bad) > limit else ""
    fix = fix or ("each must be a JSON object with id, kind, emotion, topic, text, generator, seed")
    raise ValueError(
        f"{len(bad)} malformed line(s): {shown}{more}. Fix or delete these lines ({fix})."
    )


def write_jsonl(path: "str | PathLike[str]", records: Iterable[Record]) -> None:
    """Write records as JSONL, atomically."""
    with atomic_open(path) as handle:
        for record in records:
            handle.write(record.to_json() + "\n")


def append_jsonl(path: "str | PathLike[str]", records: Iterable[Record]) -> None:
    """Append records in one write, then flush and fsync (the unit of resumable progress)."""
    block = "".join(r.to_json() + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())


def content_hash(records: Iterable[Record]) -> str:
    """sha256 over the canonical lines of the records sorted by id (independent of file order).

    Example:
        >>> r = Record("n/0", "neutral", None, "git", "Human: hi", "m", 1)
        >>> content_hash([r]) == content_hash([r]) != content_hash([r.with_reason("duplicate")])
        True
    """
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.id):
        digest.update((record.to_json() + "\n").encode("utf-8"))
    return digest.hexdigest()


def summarize(attempts: list[Record]) -> dict[str, Any]:
    """Counts of accepted texts (per emotion) and rejection counts and rates per reason."""
    accepted = [r for r in attempts if r.accepted]
    per_emotion = Counter(r.emotion for r in accepted if r.kind == "story")
    out: dict[str, Any] = {
        "attempts": len(attempts),
        "accepted": len(accepted),
        "stories": sum(r.kind == "story" for r in accepted),
        "neutral": sum(r.kind == "neutral" for r in accepted),
        "per_emotion": dict(sorted(per_emotion.items())),
        "rejections": {},
    }
    for kind in KINDS:
        tried = [r for r in attempts if r.kind == kind]
        reasons = Counter(r.reason for r in tried if r.reason is not None)
        out["rejections"][kind] = {
            "attempts": len(tried),
            "rejected": sum(reasons.values()),
            "by_reason": {
                reason: {"count": n, "rate": round(n / len(tried), 4)}
                for reason, n in sorted(reasons.items())
            },
        }
    return out


def build_manifest(
    attempts: list[Record],
    *,
    generation: Mapping[str, Any],
    filters: Mapping[str, Any],
    prompt_version: str,
    files: Mapping[str, str],
) -> dict[str, Any]:
    """The manifest of a finished corpus: counts, rejections, settings and a content hash.

    The hash covers the accepted records only (what `load_corpus` serves); rejected ones are
    counted but do not change it.
    """
    accepted = [r for r in attempts if r.accepted]
    return {
        "format": FORMAT,
        "content_hash": content_hash(accepted),
        "prompt_version": prompt_version,
        "generation": dict(generation),
        "filters": dict(filters),
        "files": dict(files),
        "counts": summarize(attempts),
    }
