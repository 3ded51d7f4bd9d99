"""Append the hand-written prompts in w*.txt to the shipped monitor evaluation set.

    python3.11 corpus-build/monitor/build.py

Keeps the existing 80 records (30 pressure, 30 neutral, 20 calibration) as they are and
appends the new ones with split "eval", ids continuing p30.., n30.. and `"added": "v2"`, so
an evaluation can still be restricted to the original set. Idempotent: records already
appended are not added twice. Refuses to run while check.py reports an error.
"""

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE.parents[1] / "emovec/data/monitor/eval_prompts.jsonl"
sys.path.insert(0, str(HERE))

import check  # noqa: E402


def main() -> int:
    files = sorted(HERE.glob("w*.txt"))
    for f in files:
        if subprocess.run([sys.executable, str(HERE / "check.py"), f.stem]).returncode:
            raise SystemExit(f"{f.name} fails its checks.")
    records = [json.loads(line) for line in TARGET.read_text().splitlines() if line.strip()]
    texts = {r["text"] for r in records}
    counters = {"pressure": 0, "neutral": 0}
    for r in records:
        if r["split"] == "eval":
            counters[r["label"]] = max(counters[r["label"]], int(r["id"][1:]) + 1)
    added = 0
    for f in files:
        for label, theme, text in check.parse(f):
            if text in texts:
                continue
            rid = f"{label[0]}{counters[label]:02d}"
            counters[label] += 1
            records.append({"id": rid, "split": "eval", "label": label, "theme": theme,
                            "text": text, "added": "v2"})  # fmt: skip
            texts.add(text)
            added += 1
    tmp = TARGET.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    tmp.replace(TARGET)
    print(f"appended {added}; {len(records)} records in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
