"""The emotion catalogue, human affect norms and the story topics, as plain immutable data.

The defaults ship inside the package (`emovec/data/`): the paper's 171 emotion words, human
valence/arousal/dominance norms for the 126 of them that are lemmas in Warriner et al. (2013)
(see `NOTICE-affect-norms.md` for its licence), 100 valence-ambiguous everyday situations for
stories and 60 neutral subjects for denoising dialogues. Every loader also takes a user file.
"""

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import NamedTuple

# Letters (any script), digits, spaces, hyphens and apostrophes: "at ease", "grief-stricken".
_WORD = re.compile(r"^[^\W_](?:[\w' -]*[^\W_])?$")
NORM_COLUMNS = ("emotion", "valence", "arousal", "dominance")


def _data_text(name: str) -> str:
    return resources.files("emovec").joinpath("data", name).read_text(encoding="utf-8")


def _read_text(path: "str | PathLike[str]", what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file {path} does not exist.") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: {what} file is not UTF-8 text ({err.reason}).") from None


def _lines(text: str, source: str, what: str) -> list[str]:
    """Non-blank, non-comment lines, stripped; duplicates are an error naming both lines."""
    seen: dict[str, int] = {}
    items: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key = line.casefold()
        if key in seen:
            raise ValueError(
                f"{source}, line {number}: duplicate {what} {line!r} (first on line {seen[key]});"
                " remove one of them."
            )
        seen[key] = number
        items.append(line)
    if not items:
        raise ValueError(f"{source} holds no {what}s: write one per line.")
    return items


@dataclass(frozen=True)
class Catalogue:
    """An ordered list of emotion words (the concepts whose directions emovec extracts).

    Attributes:
        emotions: The words, in file order (the paper's order for the default).
        source: Where they came from ("default", a file path or "user list").

    Example:
        >>> cat = Catalogue.default()
        >>> len(cat), cat.emotions[:3]
        (171, ('afraid', 'alarmed', 'alert'))
        >>> Catalogue.from_words(["calm", "desperate"]).index("desperate")
        1
    """

    emotions: tuple[str, ...]
    source: str = "user list"

    def __post_init__(self) -> None:
        if not self.emotions:
            raise ValueError("A catalogue needs at least one emotion word.")
        seen: set[str] = set()
        for word in self.emotions:
            if not isinstance(word, str) or not _WORD.match(word):
                raise ValueError(
                    f"{word!r} is not an emotion word: use letters, spaces, hyphens or"
                    " apostrophes (for example 'calm' or 'at ease')."
                )
            if word.casefold() in seen:
                raise ValueError(f"Emotion {word!r} appears twice in {self.source}.")
            seen.add(word.casefold())

    @classmethod
    def default(cls) -> "Catalogue":
        """The 171 emotion words of Sofroniew et al. (2026), in the paper's order."""
        return cls(
            tuple(_lines(_data_text("emotions171.txt"), "emotions171.txt", "emotion")), "default"
        )

    @classmethod
    def from_words(cls, words: Iterable[str]) -> "Catalogue":
        """A catalogue of the given words, stripped (order kept)."""
        return cls(tuple(w.strip() for w in words), "user list")

    @classmethod
    def from_file(cls, path: "str | PathLike[str]") -> "Catalogue":
        """One word per line; blank lines and lines starting with '#' are skipped."""
        text = _read_text(path, "emotion")
        return cls(tuple(_lines(text, str(path), "emotion")), str(path))

    @classmethod
    def load(cls, spec: "str | PathLike[str] | Sequence[str] | None" = None) -> "Catalogue":
        """The default (`None` or "default"), a file path, or a list of words."""
        if spec is None or spec == "default":
            return cls.default()
        if isinstance(spec, str | PathLike):
            return cls.from_file(spec)
        return cls.from_words(spec)

    def __len__(self) -> int:
        return len(self.emotions)

    def __iter__(self) -> Iterator[str]:
        return iter(self.emotions)

    def __contains__(self, word: object) -> bool:
        return word in self.emotions

    def index(self, word: str) -> int:
        """Position of `word`; a clear error if it is not in the catalogue."""
        try:
            return self.emotions.index(word)
        except ValueError:
            raise KeyError(f"{word!r} is not in the catalogue ({self.source}).") from None

    def subset(self, words: Iterable[str]) -> "Catalogue":
        """The given words (each must be in this catalogue), in this catalogue's order."""
        wanted = list(words)
        for word in wanted:
            self.index(word)
        return Catalogue(tuple(w for w in self.emotions if w in wanted), self.source)


class Norm(NamedTuple):
    """Mean human ratings of one word (1-9 scale for the shipped norms)."""

    valence: float
    arousal: float
    dominance: float


@dataclass(frozen=True)
class AffectNorms:
    """Valence, arousal and dominance per word.

    Example:
        >>> norms = load_norms()
        >>> len(norms), norms["afraid"].valence
        (126, 2.25)
        >>> "alarmed" in norms  # a participle: not a lemma in Warriner et al., so absent
        False
    """

    ratings: dict[str, Norm]
    source: str

    def __len__(self) -> int:
        return len(self.ratings)

    def __contains__(self, word: object) -> bool:
        return word in self.ratings

    def __iter__(self) -> Iterator[str]:
        return iter(self.ratings)

    def __getitem__(self, word: str) -> Norm:
        try:
            return self.ratings[word]
        except KeyError:
            raise KeyError(f"No affect norms for {word!r} in {self.source}.") from None

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.ratings)

    def covered(self, words: Iterable[str]) -> list[str]:
        """The words that have norms, in the given order."""
        return [w for w in words if w in self.ratings]

    def column(self, name: str, words: Iterable[str]) -> list[float]:
        """One rating ("valence", "arousal" or "dominance") for each of `words` (all covered)."""
        if name not in Norm._fields:
            raise ValueError(f"Unknown rating {name!r}: use one of {', '.join(Norm._fields)}.")
        return [getattr(self[w], name) for w in words]


def load_norms(path: "str | PathLike[str] | None" = None) -> AffectNorms:
    """Affect norms from the shipped CSV (Warriner et al. 2013, CC BY-NC-ND 3.0) or a user CSV.

    A user CSV needs the header `emotion,valence,arousal,dominance` (extra columns are ignored)
    and one row per word. Malformed rows raise a `ValueError` naming the file and line.

    Args:
        path: A CSV file; `None` for the shipped norms.

    Returns:
        The norms, in file order.
    """
    if path is None:
        text, source = _data_text("affect_norms_warriner2013.csv"), "affect_norms_warriner2013.csv"
    else:
        text, source = _read_text(path, "affect norms"), str(path)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{source} is empty: expected the header {','.join(NORM_COLUMNS)}.")
    header = [h.strip().lower() for h in header]
    missing = [c for c in NORM_COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"{source}, line 1: missing column(s) {', '.join(missing)}; the header must name"
            f" {','.join(NORM_COLUMNS)}."
        )
    where = {c: header.index(c) for c in NORM_COLUMNS}
    ratings: dict[str, Norm] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise ValueError(
                f"{source}, line {line}: expected {len(header)} fields, found {len(row)}."
            )
        word = row[where["emotion"]].strip()
        if not word:
            raise ValueError(f"{source}, line {line}: the emotion field is empty.")
        if word in ratings:
            raise ValueError(f"{source}, line {line}: {word!r} is listed twice.")
        values = []
        for column in NORM_COLUMNS[1:]:
            cell = row[where[column]].strip()
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise ValueError(
                    f"{source}, line {line}: {column} of {word!r} is {cell!r}, not a number."
                )
            values.append(value)
        ratings[word] = Norm(*values)
    if not ratings:
        raise ValueError(f"{source} has a header but no rows.")
    return AffectNorms(ratings, source)


def default_topics() -> tuple[str, ...]:
    """The 100 shipped valence-ambiguous everyday situations that stories are set in.

    Example:
        >>> default_topics()[0]
        'a tenant receives a letter from the landlord'
    """
    return tuple(_lines(_data_text("topics.txt"), "topics.txt", "topic"))


def default_neutral_topics() -> tuple[str, ...]:
    """The shipped subjects (code, facts, how-to, work) of neutral denoising dialogues."""
    return tuple(_lines(_data_text("neutral_topics.txt"), "neutral_topics.txt", "subject"))


def load_topics(
    path: "str | PathLike[str] | None" = None, *, neutral: bool = False
) -> tuple[str, ...]:
    """Topics from a file (one per line, '#' comments), or the shipped ones when `path` is None."""
    if path is None:
        return default_neutral_topics() if neutral else default_topics()
    return tuple(_lines(_read_text(path, "topic"), str(path), "topic"))
