"""The monitor's evaluation prompts: the shipped set and a user's own, one JSONL prompt a line.

See `emovec.monitor.evaluate` for the file's fields and what each split is for.
"""

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

LABELS = ("neutral", "pressure")


@dataclass(frozen=True)
class EvalPrompt:
    """One evaluation prompt."""

    id: str
    label: str
    text: str
    split: str = "eval"
    theme: str = ""


def default_prompts_path() -> Path:
    """The shipped evaluation set."""
    return Path(str(resources.files("emovec") / "data" / "monitor" / "eval_prompts.jsonl"))


def load_eval_prompts(
    path: "str | os.PathLike[str] | None" = None, *, split: str | None = "eval"
) -> list[EvalPrompt]:
    """Prompts from a JSONL file (default: the shipped set), keeping `split` (None: all).

    Example:
        >>> ps = load_eval_prompts()
        >>> sorted({p.label for p in ps}), len(ps) >= 60
        (['neutral', 'pressure'], True)
    """
    path = Path(path) if path is not None else default_prompts_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ValueError(f"Cannot read prompts {path}: {err.strerror or err}.") from None
    out: list[EvalPrompt] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            prompt = EvalPrompt(
                str(rec["id"]),
                rec["label"],
                rec["text"],
                rec.get("split", "eval"),
                rec.get("theme", ""),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(
                f"{path}, line {number}: need a JSON object with id, label, text ({err})."
            ) from None
        if prompt.label not in LABELS or not isinstance(prompt.text, str) or not prompt.text:
            raise ValueError(
                f"{path}, line {number}: label must be one of {LABELS}, text non-empty."
            )
        if prompt.id in seen:
            raise ValueError(f"{path}, line {number}: duplicate id {prompt.id!r}.")
        seen.add(prompt.id)
        if split is None or prompt.split == split:
            out.append(prompt)
    return out
