"""Corpus records as capture items, and the corpus checks and digest that run before any model.

`check_corpus` reads a (re-iterable) corpus once without a model: fields present, ids unique,
at least two emotions, enough neutral texts for denoising. Its digest (`corpus_summary`, the
sha256 over every record in stream order) is what bundles record and what checkpoints are keyed
by, so a resume on an edited corpus is refused instead of mixing old and new statistics.
"""

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ._capture import Item


def field_of(record: Any, name: str) -> Any:
    """`record[name]` for a mapping, `record.name` for an object (e.g. `emovec.corpus.Record`),
    None when absent.

    Example:
        >>> field_of({"emotion": "calm"}, "emotion"), field_of({"emotion": "calm"}, "topic")
        ('calm', None)
    """
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def story_items(records: Iterable[Any]) -> Iterator[Item]:
    """Records (`emotion`, `text`, optional `id`) as capture items; ids default to positions."""
    for i, rec in enumerate(records):
        emotion, text, key = field_of(rec, "emotion"), field_of(rec, "text"), field_of(rec, "id")
        if emotion is None or text is None:
            raise ValueError(
                f"Story record {i} needs 'emotion' and 'text' fields, got {_describe(rec)}."
            )
        yield Item(str(key or f"story-{i}"), str(text), str(emotion))


def neutral_items(texts: Iterable[Any]) -> Iterator[Item]:
    """Neutral texts (strings, or records with `text` and optional `id`) as capture items."""
    for i, rec in enumerate(texts):
        if isinstance(rec, str):
            yield Item(f"neutral-{i}", rec)
            continue
        text, key = field_of(rec, "text"), field_of(rec, "id")
        if text is None:
            raise ValueError(f"Neutral record {i} needs a 'text' field, got {_describe(rec)}.")
        yield Item(str(key or f"neutral-{i}"), str(text))


def _describe(rec: Any) -> str:
    return str(sorted(rec)) if isinstance(rec, Mapping) else type(rec).__name__


class _Ledger:
    """Hashes the corpus as it streams, counts it, and refuses duplicate ids."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.seen: dict[str, set[str]] = {}

    def track(
        self, phase: str, items: Iterable[Item], register: Callable[[str], None] | None = None
    ) -> Iterator[Item]:
        seen = self.seen.setdefault(phase, set())
        for item in items:
            if register is not None and item.label is not None:
                register(item.label)
            if item.id in seen:
                raise ValueError(f"Duplicate {phase} record id {item.id!r}: ids must be unique.")
            seen.add(item.id)
            fields = (phase, item.id, item.label or "", item.text)
            self.hasher.update(("\x1f".join(fields) + "\x1e").encode())
            yield item


def corpus_summary(stories: Iterable[Any], neutral: Iterable[Any] | None) -> dict[str, Any]:
    """The corpus provenance `collect_statistics` records (hash in stream order, counts),
    computed without a model: for results assembled from several passes over one corpus."""
    ledger = _Ledger()
    for _ in ledger.track("story", story_items(stories)):
        pass
    for _ in ledger.track("neutral", neutral_items(neutral or ())):
        pass
    return {
        "sha256": ledger.hasher.hexdigest(),
        "n_stories": len(ledger.seen.get("story", ())),
        "n_neutral": len(ledger.seen.get("neutral", ())),
    }


def reiterable(records: Iterable[Any] | None) -> bool:
    """Whether `records` can be read twice (a list, a file reader), unlike a generator.

    Example:
        >>> reiterable([1, 2]), reiterable(x for x in [1, 2]), reiterable(None)
        (True, False, True)
    """
    return records is None or iter(records) is not records


def check_corpus(
    stories: Iterable[Any],
    neutral: Iterable[Any] | None,
    *,
    neutral_variance: float,
    emotions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Read a corpus once, without a model, and raise on what would fail after the forwards.

    Returns:
        `corpus_summary`'s digest and counts.

    Raises:
        ValueError: A record without its fields, a duplicate id, no stories, stories of a
            single emotion, an emotion of `emotions` without a story, or fewer than 2 neutral
            texts when `neutral_variance > 0` asks for denoising.
    """
    ledger = _Ledger()
    counts: dict[str, int] = {}
    for item in ledger.track("story", story_items(stories)):
        counts[item.label or ""] = counts.get(item.label or "", 0) + 1
    for _ in ledger.track("neutral", neutral_items(neutral or ())):
        pass
    n_neutral = len(ledger.seen.get("neutral", ()))
    if not counts:
        raise ValueError("The corpus has no stories: extraction needs stories of two emotions.")
    missing = [e for e in emotions or () if e not in counts]
    if missing:
        raise ValueError(
            f"No story for emotion(s) {', '.join(missing[:10])}: add stories or drop them."
        )
    if len(counts) < 2:
        raise ValueError(
            f"The corpus has stories of one emotion only ({next(iter(counts))!r}): each vector"
            " is an emotion's mean minus the mean over emotions, so extraction needs two or more."
        )
    if neutral is not None and neutral_variance > 0 and n_neutral < 2:
        raise ValueError(
            f"Neutral denoising (neutral_variance={neutral_variance}) needs at least 2 neutral"
            f" texts, got {n_neutral}: add some, or set neutral_variance=0 (CLI:"
            " --neutral-variance 0)."
        )
    return {
        "sha256": ledger.hasher.hexdigest(),
        "n_stories": len(ledger.seen.get("story", ())),
        "n_neutral": n_neutral,
    }
