"""Filters that decide whether a generated text enters the corpus, each with a named reason.

Every check returns a reason string (the text is rejected, and the reason is counted in the
manifest) or None (the text passes). `Screen` runs them in a fixed order and also remembers what
it has accepted, to reject duplicates.
"""

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

# Reason names, as they appear in records and manifests.
LEAKED = "leaked_emotion_word"
TOO_SHORT = "too_short"
REPETITIVE = "degenerate_repetition"
DUPLICATE = "duplicate"
NOT_ENGLISH = "not_english"
NOT_DIALOGUE = "not_a_dialogue"
REASONS = (LEAKED, TOO_SHORT, REPETITIVE, NOT_ENGLISH, NOT_DIALOGUE, DUPLICATE)

# Nouns and other derivations too far from the word for suffix rules, but direct enough that
# a story using them names the feeling. Extend per call with `leaked(..., extra=...)`.
DERIVED: dict[str, tuple[str, ...]] = {
    "afraid": ("fear", "fears", "fearful"),
    "angry": ("anger",),
    "anxious": ("anxiety",),
    "ashamed": ("shame",),
    "bored": ("boredom",),
    "compassionate": ("compassion",),
    "contemptuous": ("contempt",),
    "depressed": ("depression",),
    "desperate": ("desperation", "despair"),
    "disgusted": ("disgust",),
    "embarrassed": ("embarrassment",),
    "empathetic": ("empathy",),
    "enthusiastic": ("enthusiasm",),
    "envious": ("envy",),
    "euphoric": ("euphoria",),
    "excited": ("excitement",),
    "frustrated": ("frustration",),
    "furious": ("fury",),
    "grateful": ("gratitude",),
    "greedy": ("greed",),
    "grief-stricken": ("grief",),
    "guilty": ("guilt",),
    "hateful": ("hate", "hatred"),
    "hopeful": ("hope", "hopes", "hoped", "hoping"),
    "horrified": ("horror",),
    "hostile": ("hostility",),
    "humiliated": ("humiliation",),
    "hysterical": ("hysteria",),
    "infatuated": ("infatuation",),
    "inspired": ("inspiration",),
    "irritated": ("irritation",),
    "jealous": ("jealousy",),
    "joyful": ("joy",),
    "loving": ("love", "loved", "loves"),
    "miserable": ("misery",),
    "nostalgic": ("nostalgia",),
    "optimistic": ("optimism",),
    "panicked": ("panic",),
    "paranoid": ("paranoia",),
    "patient": ("patience",),
    "peaceful": ("peace",),
    "proud": ("pride",),
    "regretful": ("regret", "regrets", "regretted"),
    "relieved": ("relief",),
    "remorseful": ("remorse",),
    "resentful": ("resentment",),
    "sad": ("sadness",),
    "scared": ("scare", "scary"),
    "skeptical": ("skepticism",),
    "stressed": ("stress",),
    "suspicious": ("suspicion",),
    "serene": ("serenity",),
    "sympathetic": ("sympathy",),
    "tense": ("tension",),
    "terrified": ("terror",),
    "thankful": ("thanks",),
    "triumphant": ("triumph",),
    "vengeful": ("vengeance", "revenge"),
    "vulnerable": ("vulnerability",),
}
# Lemmas of participles that mostly mean something else: "please" is politeness, not pleasure;
# "bore" is mostly the past of "bear". Their other forms ("pleasing", "boring") still count.
_AMBIGUOUS_LEMMAS = frozenset({"please", "bore"})


@dataclass(frozen=True)
class FilterSettings:
    """Thresholds of the filters (recorded in the manifest). 0 or 1 switches a check off.

    Attributes:
        min_words: Fewer words than this is "too_short".
        ngram: Length of the word n-grams counted for repetition.
        max_repeated: Largest share of n-grams that repeat an earlier one.
        min_english: Smallest share of common English function words among the words.
        min_ascii: Smallest share of ASCII among letters.
        dialogue_min_turns: Fewer "Human:"/"Assistant:" lines than this is "not_a_dialogue".
    """

    min_words: int = 40
    ngram: int = 4
    max_repeated: float = 0.25
    min_english: float = 0.15
    min_ascii: float = 0.95
    dialogue_min_turns: int = 2

    def as_dict(self) -> dict:
        return asdict(self)


def _inflect(base: str, *, verb: bool, adjective: bool) -> set[str]:
    """Regular English inflections of `base` (spelling rules for final e and consonant + y)."""
    stem = base[:-1] if base.endswith("e") else base
    consonant_y = base.endswith("y") and len(base) > 2 and base[-2] not in "aeiou"
    istem = base[:-1] + "i" if consonant_y else stem
    forms = {base}
    if verb:
        forms |= {
            istem + "es" if consonant_y else base + "s",
            base + "ing" if consonant_y else stem + "ing",
        }
        forms.add(istem + "ed")
    if adjective:
        whole = base[:-1] + "i" if consonant_y else base
        if base.endswith("le"):  # "gentle" -> "gently"
            ly = base[:-1] + "y"
        elif base.endswith("ic"):  # "optimistic" -> "optimistically"
            ly = base + "ally"
        else:
            ly = whole + "ly"
        forms |= {ly, whole + "ness", istem + "er", istem + "est"}
        if base.endswith(("ent", "ant")):  # "patient" -> "patience"
            forms.add(base[:-1] + "ce")
    return forms


def _stems(word: str) -> set[str]:
    """The word, its regular inflections, and the lemma of a participle with its inflections."""
    if not word.endswith("ed"):
        return _inflect(word, verb=True, adjective=True)
    forms = _inflect(word, verb=False, adjective=True)
    if word.endswith("ied"):  # "terrified" -> "terrify"
        lemmas = {word[:-3] + "y"}
    else:  # "frightened" -> "frighten", "amused" -> "amuse", "stunned" -> "stun"
        lemmas = {word[:-2], word[:-1]}
        if len(word) > 4 and word[-3] == word[-4]:
            lemmas.add(word[:-3])
    for lemma in lemmas:
        forms |= _inflect(lemma, verb=True, adjective=False)
        if lemma in _AMBIGUOUS_LEMMAS:
            forms -= {lemma, lemma + "s"}
    return forms


def leak_forms(emotion: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Every surface form of `emotion` whose presence rejects a story (sorted, lower case).

    Multi-word terms ("at ease", "grief-stricken") inflect their last word.

    Example:
        >>> sorted(set(leak_forms("frightened")) & {"frighten", "frightening", "fright"})
        ['frighten', 'frightening']
        >>> "happily" in leak_forms("happy") and "happiness" in leak_forms("happy")
        True
    """
    word = emotion.strip().lower()
    head, sep, last = word.rpartition(" ") if " " in word else word.rpartition("-")
    forms = {head + sep + f for f in _stems(last)} if sep else _stems(word)
    forms.update(DERIVED.get(word, ()))
    forms.update(f.lower() for f in extra)
    return tuple(sorted(forms))


def spellings(emotion: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """What a generator is kept from writing for `emotion`: every leak form in lower case,
    capitalised and upper case, each bare and after a space (how BPE vocabularies spell a word
    at the start of a text or after punctuation, and inside a sentence).

    Example:
        >>> [s for s in spellings("sad") if s.strip() == "Sad"]
        ['Sad', ' Sad']
    """
    out: list[str] = []
    for form in leak_forms(emotion, extra):
        for variant in (form, form[:1].upper() + form[1:], form.upper()):
            for spelled in (variant, " " + variant):
                if spelled not in out:
                    out.append(spelled)
    return tuple(out)


def _pattern(forms: Iterable[str]) -> "re.Pattern[str]":
    alternatives = sorted(forms, key=len, reverse=True)
    body = "|".join(
        re.escape(f).replace(r"\ ", r"\s+").replace(r"\-", r"[-\s]?") for f in alternatives
    )
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


_PATTERNS: dict[tuple[str, tuple[str, ...]], "re.Pattern[str]"] = {}


def leaked(text: str, emotion: str, *, extra: Iterable[str] = ()) -> str | None:
    """Reason "leaked_emotion_word" if `text` names `emotion` (any inflection), else None.

    Matching is case-insensitive and on whole words, so "mad" does not match "made".

    Example:
        >>> leaked("She was Frightening to watch.", "frightened")
        'leaked_emotion_word'
        >>> leaked("He made tea.", "mad") is None
        True
    """
    key = (emotion, tuple(extra))
    if key not in _PATTERNS:
        _PATTERNS[key] = _pattern(leak_forms(emotion, key[1]))
    return LEAKED if _PATTERNS[key].search(text) else None


_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def words(text: str) -> list[str]:
    """Lower-case words (letters and inner apostrophes) of `text`."""
    return [w.lower() for w in _WORDS.findall(text)]


def too_short(text: str, *, min_words: int = 40) -> str | None:
    """Reason "too_short" if `text` has fewer than `min_words` words."""
    return TOO_SHORT if len(words(text)) < min_words else None


def repeated_share(text: str, *, ngram: int = 4) -> float:
    """Share of word n-grams that repeat an earlier n-gram of the same text (0 = no repeats).

    Example:
        >>> repeated_share("a b c d a b c d a b c d", ngram=4)
        0.5555555555555556
    """
    tokens = words(text)
    grams = [tuple(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def degenerate(text: str, *, ngram: int = 4, max_repeated: float = 0.25) -> str | None:
    """Reason "degenerate_repetition" if more than `max_repeated` of the n-grams are repeats."""
    return REPETITIVE if repeated_share(text, ngram=ngram) > max_repeated else None


# Frequent English function words: their share separates English prose from other languages
# and from token soup without a language model.
STOP_WORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being"
    " it its he she they we you i me my his her their our your him them us this that these those"
    " not no do does did have has had will would can could should there here what when where"
    " who how then than so up out about into over just all".split()
)


def not_english(text: str, *, min_english: float = 0.15, min_ascii: float = 0.95) -> str | None:
    """Reason "not_english" if too few letters are ASCII or too few words are English function words.

    Example:
        >>> not_english("The cat sat on the mat and looked at the door.") is None
        True
        >>> not_english("Le chat est assis sur le tapis rouge.")
        'not_english'
    """
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return NOT_ENGLISH
    if sum(c.isascii() for c in letters) / len(letters) < min_ascii:
        return NOT_ENGLISH
    tokens = words(text)
    if sum(t in STOP_WORDS for t in tokens) / max(len(tokens), 1) < min_english:
        return NOT_ENGLISH
    return None


_TURN = re.compile(r"^\s*\**\s*(human|assistant)\s*\**\s*:", re.IGNORECASE | re.MULTILINE)


def dialogue_turns(text: str) -> int:
    """Number of lines that start with "Human:" or "Assistant:"."""
    return len(_TURN.findall(text))


def not_dialogue(text: str, *, min_turns: int = 2) -> str | None:
    """Reason "not_a_dialogue" unless both speakers have lines and there are `min_turns` of them."""
    speakers = {m.lower() for m in _TURN.findall(text)}
    if len(_TURN.findall(text)) < min_turns or speakers != {"human", "assistant"}:
        return NOT_DIALOGUE
    return None


def fingerprint(text: str) -> str:
    """Hash of the normalised text (case, accents, punctuation and spacing ignored).

    Example:
        >>> fingerprint("Hello,  World!") == fingerprint("hello world")
        True
    """
    folded = unicodedata.normalize("NFKD", text).casefold()
    tokens = re.findall(r"[^\W_]+", folded)
    return hashlib.sha256(" ".join(tokens).encode()).hexdigest()


@dataclass
class Screen:
    """All filters in a fixed order, plus memory of accepted texts for duplicate detection.

    Example:
        >>> screen = Screen(FilterSettings(min_words=3))
        >>> screen("The door opened and she smiled at him.", kind="story", emotion="sad")
        >>> screen("the door opened, and she smiled at him", kind="story", emotion="calm")
        'duplicate'
    """

    settings: FilterSettings = field(default_factory=FilterSettings)
    seen: set[str] = field(default_factory=set)

    def check(self, text: str, *, kind: str, emotion: str | None) -> str | None:
        """The first failing filter's reason, without remembering the text."""
        s = self.settings
        if kind == "story" and emotion and leaked(text, emotion):
            return LEAKED
        if too_short(text, min_words=s.min_words):
            return TOO_SHORT
        if s.max_repeated < 1 and degenerate(text, ngram=s.ngram, max_repeated=s.max_repeated):
            return REPETITIVE
        if (s.min_english > 0 or s.min_ascii > 0) and not_english(
            text, min_english=s.min_english, min_ascii=s.min_ascii
        ):
            return NOT_ENGLISH
        if (
            kind == "neutral"
            and s.dialogue_min_turns > 0
            and not_dialogue(text, min_turns=s.dialogue_min_turns)
        ):
            return NOT_DIALOGUE
        if fingerprint(text) in self.seen:
            return DUPLICATE
        return None

    def remember(self, text: str) -> None:
        self.seen.add(fingerprint(text))

    def __call__(self, text: str, *, kind: str, emotion: str | None) -> str | None:
        """Check `text`; remember it when it passes, so a later copy is a duplicate."""
        reason = self.check(text, kind=kind, emotion=emotion)
        if reason is None:
            self.remember(text)
        return reason
