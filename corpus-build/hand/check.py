"""Check hand-written stories and neutral dialogues against the brief (BRIEF.md).

Usage:
    python3 corpus-build/hand/check.py                 # everything written so far
    python3 corpus-build/hand/check.py --helper 3      # one helper's emotions and dialogues
    python3 corpus-build/hand/check.py --strict        # also fail on missing files (final check)

Stdlib only: the library's own filters (emovec/corpus/_filters.py) are loaded from their file,
so this runs with any Python 3.11 and needs no virtual environment. Exit 1 when any story or
dialogue breaks a hard rule; warnings (other emotion words, long sentences) are printed too.
"""

import argparse
import csv
import importlib.util
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
_spec = importlib.util.spec_from_file_location("_filters", ROOT / "emovec/corpus/_filters.py")
assert _spec and _spec.loader
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)

MIN_WORDS, MAX_WORDS = 70, 130
OPENING_WORDS = 4
# Words of feeling that a neutral dialogue must not contain (besides the 171 emotion words).
PLEASANTRIES = (
    "thanks", "thank", "please", "great question", "glad", "happy to", "hope", "sorry",
    "welcome", "appreciate", "awesome", "cheers", "love", "hi", "hello", "feel", "feeling",
    "wonderful", "excellent", "perfect", "fantastic", "good luck", "no problem", "of course",
)
# Senses of emotion words that are not feelings; a warning only, for the reader to judge.
_STORY_HEADING = re.compile(r"^##\s*(\d+)\s+(first|third)\s*$")
_DIALOGUE_HEADING = re.compile(r"^##\s*(.+?)\s*$")


def slug(emotion: str) -> str:
    return emotion.replace(" ", "-")


def load_assignments() -> tuple[list[str], dict[str, dict[int, tuple[str, str]]], dict[str, int]]:
    emotions: list[str] = []
    plan: dict[str, dict[int, tuple[str, str]]] = defaultdict(dict)
    helper_of: dict[str, int] = {}
    with open(HERE / "assignments.tsv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            e = row["emotion"]
            if e not in plan:
                emotions.append(e)
            plan[e][int(row["topic_no"])] = (row["topic"], row["person"])
            helper_of[e] = int(row["helper"])
    return emotions, plan, helper_of


def parse_stories(path: Path) -> tuple[dict[int, tuple[str, str]], list[str]]:
    """{topic_no: (person, text)} and format problems."""
    out: dict[int, tuple[str, str]] = {}
    problems: list[str] = []
    current: tuple[int, str] | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is not None:
            text = " ".join(l.strip() for l in lines if l.strip())
            if current[0] in out:
                problems.append(f"{path.name}: topic {current[0]} written twice")
            out[current[0]] = (current[1], text)

    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("# ") and current is None:
            continue
        m = _STORY_HEADING.match(raw)
        if m:
            flush()
            current, lines = (int(m.group(1)), m.group(2)), []
        elif raw.startswith("#"):
            problems.append(f"{path.name}: unreadable heading {raw!r} (want '## N first|third')")
        else:
            lines.append(raw)
    flush()
    return out, problems


def parse_dialogues(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """[(topic, text)] and format problems; text keeps one line per turn."""
    out: list[tuple[str, str]] = []
    problems: list[str] = []
    topic: str | None = None
    turns: list[str] = []

    def flush() -> None:
        if topic is not None:
            out.append((topic, "\n".join(turns)))

    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("# "):
            continue
        m = _DIALOGUE_HEADING.match(raw)
        if m:
            flush()
            topic, turns = m.group(1), []
        elif raw.strip():
            if raw.startswith(("Human: ", "Assistant: ")):
                turns.append(raw.strip())
            elif turns:  # a continuation line (code, list) joins the turn before it
                turns[-1] += "\n" + raw.rstrip()
            else:
                problems.append(f"{path.name}: text before the first turn: {raw[:60]!r}")
    flush()
    return out, problems


def opening(text: str) -> str:
    return " ".join(F.words(text)[:OPENING_WORDS])


def check_story(emotion: str, person: str, text: str, all_forms: dict[str, object]) -> tuple[list[str], list[str]]:
    errors, warnings = [], []
    n = len(F.words(text))
    if not MIN_WORDS <= n <= MAX_WORDS:
        errors.append(f"{n} words (want {MIN_WORDS}-{MAX_WORDS})")
    if F.leaked(text, emotion):
        forms = [f for f in F.leak_forms(emotion) if re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text, re.I)]
        errors.append(f"names its own emotion: {forms}")
    screen = F.Screen(F.FilterSettings(min_words=MIN_WORDS))
    reason = screen.check(text, kind="story", emotion=emotion)
    if reason and reason not in (F.LEAKED, F.TOO_SHORT):
        errors.append(f"library filter: {reason}")
    first_person = bool(re.search(r"\b(I|me|my|I'm|I'd|I'll|I've)\b", text))
    if person == "first" and not first_person:
        errors.append("assigned first person but has no I/me/my")
    if person == "third":
        narration = re.sub(r"\"[^\"]*\"", " ", text)  # speech in quotes may say I
        if re.search(r"\b(I|me|my)\b", narration):
            errors.append("assigned third person but the narration says I/me/my")
    others = [e for e, pat in all_forms.items() if e != emotion and pat.search(text)]  # type: ignore[attr-defined]
    if others:
        warnings.append(f"other emotion words (only in a non-feeling sense): {others}")
    return errors, warnings


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--helper", type=int, default=None)
    ap.add_argument("--strict", action="store_true", help="missing files and topics are errors")
    ap.add_argument("--quiet", action="store_true", help="errors only, no warnings")
    args = ap.parse_args()
    emotions, plan, helper_of = load_assignments()
    all_forms = {e: F._pattern(F.leak_forms(e)) for e in emotions}
    n_err = n_warn = n_ok = 0
    openings: dict[str, list[str]] = defaultdict(list)
    first_words: Counter[str] = Counter()

    def report(where: str, errors: list[str], warnings: list[str]) -> None:
        nonlocal n_err, n_warn
        for e in errors:
            print(f"ERROR {where}: {e}")
            n_err += 1
        if not args.quiet:
            for w in warnings:
                print(f"warn  {where}: {w}")
        n_warn += len(warnings)

    for emotion in emotions:
        path = HERE / "stories" / f"{slug(emotion)}.md"
        mine = args.helper is None or helper_of[emotion] == args.helper
        if not path.exists():
            if mine and args.strict:
                report(path.name, ["missing file"], [])
            continue
        stories, problems = parse_stories(path)
        for p in problems:
            report(path.name, [p], [])
        for no, (person, text) in stories.items():
            openings[opening(text)].append(f"{slug(emotion)}#{no}")
            first_words[F.words(text)[0] if F.words(text) else ""] += 1
        if not mine:
            continue
        missing = sorted(set(plan[emotion]) - set(stories))
        extra = sorted(set(stories) - set(plan[emotion]))
        if missing and (args.strict or len(stories) > 0):
            report(path.name, [f"topics missing: {missing}"], [])
        if extra:
            report(path.name, [f"topic numbers not in the plan: {extra}"], [])
        for no, (person, text) in sorted(stories.items()):
            if no not in plan[emotion]:
                continue
            want = plan[emotion][no][1]
            errs = [] if person == want else [f"heading says {person}, plan says {want}"]
            e2, w2 = check_story(emotion, want, text, all_forms)
            report(f"{path.name}#{no}", errs + e2, w2)
            n_ok += not (errs or e2)

    for op, where in openings.items():
        if len(where) > 1:
            report("openings", [f"{len(where)} stories open alike ({op!r}): {where}"], [])
    total = sum(first_words.values())
    for word, count in first_words.most_common(3):
        if total >= 50 and count / total > 0.12:
            report("openings", [], [f"{count}/{total} stories start with {word!r}; vary first words"])

    for path in sorted((HERE / "neutral").glob("h*.md")):
        h = int(re.sub(r"\D", "", path.stem) or -1)
        if args.helper is not None and h != args.helper:
            continue
        dialogues, problems = parse_dialogues(path)
        for p in problems:
            report(path.name, [p], [])
        for k, (topic, text) in enumerate(dialogues, 1):
            errs: list[str] = []
            turns = [t.split(":", 1)[0] for t in text.split("\n") if t.startswith(("Human: ", "Assistant: "))]
            exchanges = len(turns) // 2
            if turns[:1] != ["Human"] or any(a == b for a, b in zip(turns, turns[1:])):
                errs.append("turns must alternate Human/Assistant, starting with Human")
            if not 2 <= exchanges <= 6 or len(turns) % 2:
                errs.append(f"{len(turns)} turns (want 2-6 exchanges, ending with Assistant)")
            reason = F.Screen(F.FilterSettings(min_words=40)).check(text, kind="neutral", emotion=None)
            if reason:
                errs.append(f"library filter: {reason}")
            low = text.lower()
            bad = [p for p in PLEASANTRIES if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", low)]
            if bad:
                errs.append(f"pleasantry or feeling word: {bad}")
            feel = [e for e, pat in all_forms.items() if pat.search(text)]  # type: ignore[attr-defined]
            warns = [f"emotion words (fine only in a technical sense): {feel}"] if feel else []
            report(f"{path.name}#{k} ({topic[:40]})", errs, warns)
            n_ok += not errs

    print(f"\n{n_ok} texts pass; {n_err} errors; {n_warn} warnings")
    return 1 if n_err else 0


if __name__ == "__main__":
    sys.exit(main())
