"""The corpus side of `emovec extract`: a corpus folder (hash-checked) or JSONL files, streamed.

Every line of a JSONL corpus is checked with the shared reader before any model loads; a corpus
whose stories cannot give vectors (none, or one emotion) is refused at that point too.
"""

from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

SHIPPED = "data/corpus/default"


def _kind_of(record: dict[str, Any]) -> str:
    return record.get("kind") or ("story" if "emotion" in record else "neutral")


def _record_problem(record: dict[str, Any]) -> str | None:
    """Why a parsed object is not a usable corpus record (None: it is)."""
    kind = _kind_of(record)
    if kind not in ("story", "neutral"):
        return f"field 'kind' must be 'story' or 'neutral', got {kind!r}"
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return "no non-empty string field 'text'"
    emotion = record.get("emotion")
    if kind == "story" and (not isinstance(emotion, str) or not emotion.strip()):
        return "a story needs a non-empty string field 'emotion'"
    return None


class JsonlRecords:
    """Re-iterable stream of one `kind` of record from JSONL files (never all in memory).

    The files are read with the shared JSONL reader (`emovec.corpus._records.iter_jsonl`);
    `scan_jsonl_corpus` checks every line before the model loads, so a bad line here means the
    file changed during the run.
    """

    def __init__(
        self,
        files: list[Path],
        kind: str,
        *,
        per_emotion: int | None = None,
        limit: int | None = None,
    ):
        self.files, self.kind, self.per_emotion, self.limit = files, kind, per_emotion, limit

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from emovec.corpus._records import BadLine, iter_jsonl

        taken: dict[str, int] = {}
        count = 0
        for path in self.files:
            with path.open("rb") as handle:
                for number, record in iter_jsonl(handle, str(path)):
                    if isinstance(record, BadLine) or _record_problem(record) is not None:
                        where = record if isinstance(record, BadLine) else None
                        where = where or f"{path}, line {number}: {_record_problem(record)}"
                        raise ValueError(
                            f"{where} (the file changed during the run); fix it and rerun."
                        )
                    if _kind_of(record) != self.kind:
                        continue
                    if self.per_emotion is not None:
                        emotion = str(record.get("emotion"))
                        if taken.get(emotion, 0) >= self.per_emotion:
                            continue
                        taken[emotion] = taken.get(emotion, 0) + 1
                    if self.limit is not None and count >= self.limit:
                        return
                    count += 1
                    record.setdefault("id", f"{path.name}:{number}")
                    yield record


def scan_jsonl_corpus(files: list[Path]) -> dict[str, int]:
    """Check every line of a JSONL corpus before any model loads; count stories per emotion.

    Policy: extraction refuses a corpus with any bad line (vectors from a silently thinned
    corpus would be wrong); all bad lines are collected and the first few named with file and
    line number in one message. `emovec score` instead skips bad lines and reports each.
    """
    from emovec.corpus._records import BadLine, iter_jsonl, raise_bad_lines

    bad: list[BadLine] = []
    counts: dict[str, int] = {}
    for path in files:
        with path.open("rb") as handle:
            for number, record in iter_jsonl(handle, str(path)):
                if isinstance(record, BadLine):
                    bad.append(record)
                elif (problem := _record_problem(record)) is not None:
                    bad.append(BadLine(str(path), number, problem))
                else:
                    key = str(record["emotion"]) if _kind_of(record) == "story" else ""
                    counts[key] = counts.get(key, 0) + 1
    if bad:
        raise_bad_lines(
            bad,
            fix="each must be a JSON object with 'text' and 'kind' (story or neutral), and"
            " 'emotion' for stories",
        )
    return counts


def check_counts(source: str, emotions: dict[str, int]) -> None:
    """Refuse, before the model loads, a corpus whose stories cannot give emotion vectors."""
    if not emotions:
        raise ValueError(
            f"Corpus {source} has no stories (records with kind 'story' and an 'emotion'):"
            " add some, or check --corpus."
        )
    if len(emotions) < 2:
        raise ValueError(
            f"Corpus {source} has stories of one emotion only ({next(iter(emotions))!r}): each"
            " vector is an emotion's mean minus the mean over emotions, so add stories of at"
            " least two emotions."
        )


def open_corpus(
    corpus: Path | None, *, per_emotion: int | None, max_neutral: int | None
) -> tuple[Iterable[Any], Iterable[Any], dict[str, Any]]:
    """Stories, neutral texts and provenance for `--corpus` (None: the shipped default)."""
    if corpus is None or (corpus / "manifest.json").is_file():
        if (
            corpus is None
            and not resources.files("emovec").joinpath(SHIPPED, "manifest.json").is_file()
        ):
            raise ValueError(
                f"No corpus shipped with this install (emovec/{SHIPPED}): pass --corpus."
            )
        from emovec.corpus import load_corpus

        loaded = load_corpus(corpus)
        stories = _first_per_emotion(loaded.stories, per_emotion)
        check_counts(loaded.source, {str(r.emotion): 1 for r in stories})
        neutral = list(loaded.neutral)[:max_neutral]
        info = {"source": loaded.source, "content_hash": loaded.manifest.get("content_hash")}
        return stories, neutral, info
    if corpus.is_dir():
        files = sorted(corpus.rglob("*.jsonl"))
    elif corpus.is_file():
        files = [corpus]
    else:
        raise ValueError(f"Corpus {corpus} does not exist: pass an existing file or folder.")
    if not files:
        raise ValueError(f"Corpus folder {corpus} holds no *.jsonl files; pass a corpus file.")
    counts = scan_jsonl_corpus(files)
    emotions = {e: min(n, per_emotion or n) for e, n in counts.items() if e}
    check_counts(str(corpus), emotions)
    stories = JsonlRecords(files, "story", per_emotion=per_emotion)
    neutral = JsonlRecords(files, "neutral", limit=max_neutral)
    return stories, neutral, {"source": str(corpus)}


def _first_per_emotion(records: Iterable[Any], limit: int | None) -> list[Any]:
    if limit is None:
        return list(records)
    taken: dict[str, int] = {}
    kept = []
    for record in records:
        emotion = str(getattr(record, "emotion", None))
        if taken.get(emotion, 0) < limit:
            taken[emotion] = taken.get(emotion, 0) + 1
            kept.append(record)
    return kept
