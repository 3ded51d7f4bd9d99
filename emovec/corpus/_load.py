"""Reading a finished corpus: the shipped default or any folder made by `emovec corpus`."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from os import PathLike
from pathlib import Path
from typing import Any

from ._finalize import MANIFEST, NEUTRAL, STORIES
from ._records import BadLine, Record, content_hash, raise_bad_lines, scan_jsonl

DEFAULT_CORPUS = "data/corpus/default"


@dataclass(frozen=True)
class Corpus:
    """Accepted stories and neutral dialogues, with the manifest that describes them.

    Example:
        >>> story = Record("story/calm/t000/s0", "story", "calm", "rain", "She waited.", "m", 1)
        >>> corpus = Corpus((story,), (), {}, "example")
        >>> {e: len(v) for e, v in corpus.by_emotion().items()}, corpus.texts("calm")
        ({'calm': 1}, ['She waited.'])
    """

    stories: tuple[Record, ...]
    neutral: tuple[Record, ...]
    manifest: dict[str, Any]
    source: str

    def __len__(self) -> int:
        return len(self.stories) + len(self.neutral)

    def __iter__(self) -> Iterator[Record]:
        yield from self.stories
        yield from self.neutral

    @property
    def emotions(self) -> tuple[str, ...]:
        """Emotions with at least one story, in the order the manifest lists them."""
        listed = list(self.manifest.get("counts", {}).get("per_emotion", {}))
        present = {str(r.emotion) for r in self.stories}
        ordered = [e for e in listed if e in present]
        return tuple(ordered + sorted(e for e in present if e not in ordered))

    def by_emotion(self) -> dict[str, list[Record]]:
        """Stories grouped by emotion (emotions in `emotions` order)."""
        groups: dict[str, list[Record]] = {e: [] for e in self.emotions}
        for record in self.stories:
            groups[str(record.emotion)].append(record)
        return groups

    def texts(self, emotion: str) -> list[str]:
        """The story texts of one emotion; a clear error if the corpus has none."""
        found = [r.text for r in self.stories if r.emotion == emotion]
        if not found:
            raise KeyError(f"The corpus at {self.source} has no stories for {emotion!r}.")
        return found

    @property
    def content_hash(self) -> str:
        return content_hash(self)

    def subsample(self, stories_per_emotion: int, neutral: int | None = None) -> "Corpus":
        """A smaller corpus for smoke runs: at most `stories_per_emotion` stories of each emotion
        and the first `neutral` dialogues (None: all), picked evenly through each list, so the
        same call always gives the same records.

        The manifest records the subsample and carries the subset's own content hash, so
        caches keyed by it never mistake the subset for the whole.

        Example:
            >>> rs = [Record(f"story/calm/t00{i}/s0", "story", "calm", f"t{i}", "x", "m", 1)
            ...       for i in range(5)]
            >>> tuple(r.topic for r in Corpus(tuple(rs), (), {}, "ex").subsample(2).stories)
            ('t0', 't2')
        """
        if stories_per_emotion < 1 or (neutral is not None and neutral < 0):
            raise ValueError(
                "subsample needs stories_per_emotion >= 1 and neutral >= 0 (or None for all),"
                f" got {stories_per_emotion} and {neutral}."
            )
        stories: list[Record] = []
        for group in self.by_emotion().values():
            n = min(stories_per_emotion, len(group))
            stories += [group[(i * len(group)) // n] for i in range(n)]
        dialogues = self.neutral if neutral is None else self.neutral[:neutral]
        sub = Corpus(tuple(stories), tuple(dialogues), {}, self.source)
        per_emotion = {e: len(v) for e, v in sub.by_emotion().items()}
        counts = {
            **self.manifest.get("counts", {}),
            "stories": len(stories),
            "neutral": len(dialogues),
            "per_emotion": {e: per_emotion.get(e, 0) for e in self.emotions},
        }
        manifest = {
            **self.manifest,
            "counts": counts,
            "content_hash": sub.content_hash,
            "subsample": {
                "stories_per_emotion": stories_per_emotion,
                "neutral": neutral,
                "of_content_hash": self.manifest.get("content_hash"),
            },
        }
        return Corpus(sub.stories, sub.neutral, manifest, f"{self.source} (subsample)")


def _read(root: "Traversable | Path", name: str, bad: list[BadLine], where: str) -> list[Record]:
    item = root.joinpath(name)
    if not item.is_file():
        raise FileNotFoundError(
            f"{where} has no {name}: a corpus folder holds {STORIES}, {NEUTRAL} and {MANIFEST}"
            " (make one with `emovec corpus generate`)."
        )
    good, errors = scan_jsonl(item.read_bytes(), f"{where}/{name}")
    bad.extend(errors)
    return [r for _, r in good]


def load_corpus(path: "str | PathLike[str] | None" = None, *, verify: bool = True) -> Corpus:
    """Load a corpus folder (default: the corpus shipped with emovec).

    Args:
        path: A folder with `stories.jsonl`, `neutral.jsonl` and `manifest.json`; None for the
            shipped default (hand-written stories: 171 emotions x 12 topics).
        verify: Check the records' content hash against the manifest.

    Returns:
        The `Corpus`.

    Raises:
        ValueError: Malformed lines (each named with its file and line number), records of the
            wrong kind in a file, duplicate ids, or a content hash that does not match.
    """
    if path is None:
        root: Traversable | Path = resources.files("emovec").joinpath(DEFAULT_CORPUS)
        where = f"emovec/{DEFAULT_CORPUS}"
    else:
        root, where = Path(path), str(path)
        if not root.is_dir():
            raise FileNotFoundError(
                f"Corpus folder {where} does not exist: pass a folder made by `emovec corpus`."
            )
    manifest_file = root.joinpath(MANIFEST)
    if not manifest_file.is_file():
        raise FileNotFoundError(
            f"{where} has no {MANIFEST}, so it is no corpus folder: pass a folder made by"
            " `emovec corpus filter`."
        )
    try:
        manifest = json.loads(manifest_file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{where}/{MANIFEST}: not UTF-8 ({err.reason} at byte {err.start}); rebuild it with"
            " `emovec corpus filter`."
        ) from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{where}/{MANIFEST}, line {err.lineno}: not valid JSON ({err.msg}); rebuild it with"
            " `emovec corpus filter`."
        ) from None
    if not isinstance(manifest, dict):
        raise ValueError(
            f"{where}/{MANIFEST} is not a JSON object; rebuild it with `emovec corpus filter`."
        )
    bad: list[BadLine] = []
    stories = _read(root, STORIES, bad, where)
    neutral = _read(root, NEUTRAL, bad, where)
    if bad:
        raise_bad_lines(bad)
    for name, records, kind in ((STORIES, stories, "story"), (NEUTRAL, neutral, "neutral")):
        wrong = [r.id for r in records if r.kind != kind or not r.accepted]
        if wrong:
            raise ValueError(
                f"{where}/{name} holds {len(wrong)} record(s) that are not accepted {kind} texts"
                f" (first: {wrong[0]}); rebuild the folder with `emovec corpus filter`."
            )
    ids = [r.id for r in (*stories, *neutral)]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: record ids repeat; rebuild it with `emovec corpus filter`.")
    corpus = Corpus(tuple(stories), tuple(neutral), manifest, where)
    if verify and manifest.get("content_hash") != corpus.content_hash:
        raise ValueError(
            f"{where}: the records do not match the manifest's content hash (edited by hand?)."
            " Rebuild the manifest with `emovec corpus filter`, or pass verify=False."
        )
    return corpus
