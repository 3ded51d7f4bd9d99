"""The dialogue sets behind speaker and deflection vectors: shipped JSONL or a user's file."""

import json
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

DIALOGUE_KINDS = {
    "speaker": ("human", "assistant"),
    "deflection": ("speaker", "felt", "shown"),
}


def load_dialogues(kind: str, path: "str | PathLike[str] | None" = None) -> list[dict[str, Any]]:
    """Records of one dialogue set: `id`, `text` and the kind's labels.

    `speaker`: `human` and `assistant` (an emotion or "neutral" each). `deflection`: `speaker`
    (who deflects: "human" or "assistant"), `felt` and `shown`. `path` None loads the shipped,
    hand-written set (`emovec/data/dialogues/<kind>.jsonl`).

    Raises:
        ValueError: An unknown kind, a malformed line (named with its file and line number),
            a missing field or a repeated id.
    """
    if kind not in DIALOGUE_KINDS:
        raise ValueError(f"Unknown dialogue kind {kind!r}: use one of {', '.join(DIALOGUE_KINDS)}.")
    if path is None:
        source = resources.files("emovec").joinpath(f"data/dialogues/{kind}.jsonl")
        where = f"emovec/data/dialogues/{kind}.jsonl"
        text = source.read_text(encoding="utf-8")
    else:
        where = str(path)
        if not Path(path).is_file():
            raise FileNotFoundError(f"Dialogue file {where} does not exist.")
        text = Path(path).read_text(encoding="utf-8")
    records, seen = [], set()
    needed = ("id", "text", *DIALOGUE_KINDS[kind])
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}:{number}: not valid JSON ({err.msg}).") from None
        if not isinstance(record, dict):
            raise ValueError(f"{where}:{number}: expected a JSON object.")
        missing = [k for k in needed if not isinstance(record.get(k), str) or not record[k]]
        if missing:
            raise ValueError(
                f"{where}:{number}: a {kind} dialogue needs {', '.join(needed)}; missing or empty:"
                f" {', '.join(missing)}."
            )
        if record["id"] in seen:
            raise ValueError(f"{where}:{number}: id {record['id']!r} repeats.")
        seen.add(record["id"])
        records.append(record)
    if not records:
        raise ValueError(f"{where} holds no dialogues.")
    return records
