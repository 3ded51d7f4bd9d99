"""Check the hand-written speaker and deflection dialogues against their brief (BRIEF.md).

    python3.11 corpus-build/dialogues/check.py [--helper H] [--strict]

Stdlib only (the library's filters are loaded from their file). Exit 1 on any error.
"""

import argparse
import csv
import importlib.util
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
_spec = importlib.util.spec_from_file_location("_filters", ROOT / "emovec/corpus/_filters.py")
assert _spec and _spec.loader
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)

SETS = {
    "speaker": ("speaker_assignments.tsv", ("human", "assistant"), (3, 6)),
    "deflection": ("deflection_assignments.tsv", ("speaker", "felt", "shown"), (4, 6)),
}
TURN_WORDS = (20, 60)
_HEADING = re.compile(r"^##\s+(\S+)\s+(.*)$")


def assignments(kind: str) -> dict[str, dict[str, str]]:
    with open(HERE / SETS[kind][0], newline="") as fh:
        return {row["id"]: row for row in csv.DictReader(fh, delimiter="\t")}


def parse(path: Path) -> tuple[list[tuple[str, dict[str, str], list[str]]], list[str]]:
    """[(id, fields, turns)] and format problems."""
    out: list[tuple[str, dict[str, str], list[str]]] = []
    problems: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("# "):
            continue
        m = _HEADING.match(raw)
        if m:
            fields = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
            out.append((m.group(1), fields, []))
        elif raw.startswith(("Human: ", "Assistant: ")) and out:
            out[-1][2].append(raw.strip())
        else:
            problems.append(f"{path.name}: stray line {raw[:60]!r}")
    return out, problems


def to_text(turns: list[str]) -> str:
    return "\n".join(turns)


def check_dialogue(kind: str, fields: dict[str, str], turns: list[str]) -> list[str]:
    errors = []
    lo, hi = SETS[kind][2]
    if not lo <= len(turns) <= hi:
        errors.append(f"{len(turns)} turns (want {lo}-{hi})")
    speakers = [t.split(":", 1)[0] for t in turns]
    if speakers[:1] != ["Human"] or any(a == b for a, b in zip(speakers, speakers[1:])):
        errors.append("turns must alternate, Human first")
    for i, t in enumerate(turns, 1):
        n = len(F.words(t.split(":", 1)[1]))
        if not TURN_WORDS[0] <= n <= TURN_WORDS[1]:
            errors.append(f"turn {i}: {n} words (want {TURN_WORDS[0]}-{TURN_WORDS[1]})")
        if not t.isascii():
            errors.append(f"turn {i}: non-ASCII characters")
    text = to_text(turns)
    if kind == "speaker":
        if speakers.count("Human") < 2 and speakers.count("Assistant") < 2:
            errors.append("each speaker needs lines; at least one speaker has 2")
        named = [fields["human"], fields["assistant"]]
    else:
        side = fields["speaker"].capitalize()
        if speakers.count(side) < 2:
            errors.append(f"the deflecting speaker ({side}) needs at least 2 lines")
        named = [fields["felt"], fields["shown"]]
    for emotion in named:
        if emotion != "neutral" and F.leaked(text, emotion):
            errors.append(f"names {emotion!r}")
    return errors


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--helper", type=int, default=None)
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    n_err = n_ok = 0
    for kind in SETS:
        plan = assignments(kind)
        seen: dict[str, list[str]] = defaultdict(list)
        written: set[str] = set()
        for path in sorted((HERE / kind).glob("h*.md")):
            dialogues, problems = parse(path)
            mine = args.helper is None or path.stem == f"h{args.helper}"
            for p in problems if mine else ():
                print(f"ERROR {kind}/{p}")
                n_err += 1
            for did, fields, turns in dialogues:
                opening = " ".join(F.words(turns[0].split(":", 1)[1])[:4]) if turns else ""
                seen[opening].append(did)
                written.add(did)
                if not mine:
                    continue
                row = plan.get(did)
                errors = []
                if row is None:
                    errors.append("id not in the assignments")
                else:
                    for key in SETS[kind][1]:
                        if fields.get(key) != row[key]:
                            errors.append(f"heading {key}={fields.get(key)!r}, plan {row[key]!r}")
                    if str(row["helper"]) != path.stem[1:]:
                        errors.append(f"belongs to helper {row['helper']}")
                errors += check_dialogue(kind, fields, turns)
                for e in errors:
                    print(f"ERROR {kind}/{path.name} {did}: {e}")
                n_err += len(errors)
                n_ok += not errors
        for opening, ids in seen.items():
            if len(ids) > 1:
                print(f"ERROR {kind}: {len(ids)} dialogues open alike ({opening!r}): {ids}")
                n_err += 1
        if args.strict:
            missing = [
                d for d, row in plan.items()
                if d not in written and (args.helper is None or row["helper"] == str(args.helper))
            ]  # fmt: skip
            for d in missing:
                print(f"ERROR {kind}: {d} missing")
            n_err += len(missing)
    print(f"\n{n_ok} dialogues pass; {n_err} errors")
    return 1 if n_err else 0


if __name__ == "__main__":
    sys.exit(main())
