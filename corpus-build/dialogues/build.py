"""Assemble the hand-written speaker and deflection dialogues into the shipped JSONL files.

    python3.11 corpus-build/dialogues/build.py      # after check.py --strict passes

Writes `emovec/data/dialogues/{speaker,deflection}.jsonl` (one record per dialogue: id, text,
the labels of BRIEF.md, "authorship": "hand-written"), in assignment order, atomically.
Refuses to write anything while the checker reports an error.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import check  # noqa: E402


def main() -> int:
    result = subprocess.run(
        [sys.executable, str(HERE / "check.py"), "--strict"], capture_output=True, text=True
    )
    if result.returncode != 0:
        print(result.stdout[-3000:], file=sys.stderr)
        raise SystemExit("check.py --strict failed: fix the errors first.")
    out_dir = ROOT / "emovec/data/dialogues"
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, (_, labels, _) in check.SETS.items():
        plan = check.assignments(kind)
        found = {}
        for path in sorted((HERE / kind).glob("h*.md")):
            for did, fields, turns in check.parse(path)[0]:
                found[did] = {
                    "id": did,
                    "text": check.to_text(turns),
                    **{k: fields[k] for k in labels},
                    "authorship": "hand-written",
                }
        lines = [json.dumps(found[d], sort_keys=True, ensure_ascii=True) for d in plan]
        fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_dir / f"{kind}.jsonl")
        print(f"{kind}: {len(lines)} dialogues -> {out_dir / f'{kind}.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
