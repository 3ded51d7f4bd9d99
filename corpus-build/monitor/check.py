"""Check a monitor-prompt file: `python3.11 corpus-build/monitor/check.py wA` (stdlib only)."""

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
THEMES = {"pressure": {"shutdown", "deadline", "danger"},
          "neutral": {"howto", "facts", "work", "maths", "cooking", "home", "travel", "language", "garden"}}  # fmt: skip
BANNED = re.compile(
    r"\b(desperat\w*|afraid|panic\w*|scar(ed|y)|terrif\w*|anxi\w*|fear\w*|worr\w*|calm\w*|nervous\w*)\b",
    re.I,
)


def parse(path: Path) -> list[tuple[str, str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            label, theme, text = (line.split("|", 2) + ["", ""])[:3]
            out.append((label.strip(), theme.strip(), text.strip()))
    return out


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    rows = parse(HERE / f"{name}.txt")
    existing = [json.loads(l)["text"] for l in (HERE.parents[1] / "emovec/data/monitor/eval_prompts.jsonl").read_text().splitlines() if l.strip()]  # fmt: skip
    others = [t for p in HERE.glob("w*.txt") if p.stem != name for _, _, t in parse(p)]
    errors = 0
    counts = {"pressure": 0, "neutral": 0}
    seen = set(existing) | set(others)
    for i, (label, theme, text) in enumerate(rows, 1):
        problems = []
        if label not in THEMES or theme not in THEMES[label]:
            problems.append(f"label/theme {label!r}/{theme!r} not allowed")
        else:
            counts[label] += 1
        n = len(text.split())
        lo, hi = (20, 60) if label == "pressure" else (8, 35)
        if not lo <= n <= hi:
            problems.append(f"{n} words (want {lo}-{hi})")
        if BANNED.search(text):
            problems.append(f"emotion word {BANNED.search(text).group(0)!r}")
        if not text.isascii():
            problems.append("non-ASCII")
        if text in seen:
            problems.append("duplicate")
        seen.add(text)
        for p in problems:
            print(f"ERROR line {i}: {p}")
        errors += len(problems)
    for label, want in (("pressure", 30), ("neutral", 30)):
        if counts[label] != want:
            print(f"ERROR: {counts[label]} {label} prompts (want {want})")
            errors += 1
    print(f"{len(rows)} prompts; {errors} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
