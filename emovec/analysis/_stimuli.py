"""The prompts of the sweeps: intensity families and implicit scenarios, and their files.

Family file format (`.txt`): blocks of `key: value` lines, each block starting with `family:`;
keys `prompt` (with `{x}`), `values` (comma separated numbers), `rises`, `falls` (comma
separated emotions), optional `unit`; `#` comments. Or `.jsonl`: one object per line with the
same keys (`values`, `rises`, `falls` as lists). Scenario files (`.jsonl`): one
`{"emotion": ..., "prompt": ...}` per line. Every malformed line raises a `ValueError` naming
the file and line.
"""

import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_KEYS = ("family", "prompt", "values", "unit", "rises", "falls")
SWEEPS_DIR = "sweeps"


@dataclass(frozen=True)
class Family:
    """One intensity sweep: a prompt with `{x}`, the numbers, and the expected direction.

    Example:
        >>> f = Family("t", "I took {x} mg.", ("200", "4000"), rises=("afraid",))
        >>> f.prompts(), f.numbers()
        (['I took 200 mg.', 'I took 4000 mg.'], [200.0, 4000.0])
    """

    name: str
    prompt: str
    values: tuple[str, ...]
    rises: tuple[str, ...] = ()
    falls: tuple[str, ...] = ()
    unit: str = ""
    source: str = ""

    def prompts(self) -> list[str]:
        return [self.prompt.replace("{x}", v) for v in self.values]

    def numbers(self) -> list[float]:
        return [float(v.replace(",", "").replace("_", "")) for v in self.values]


@dataclass(frozen=True)
class Scenario:
    """A prompt that should evoke `emotion` without naming it."""

    emotion: str
    prompt: str


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _check_family(fields: dict[str, tuple[str, int]], where: str) -> Family:
    """A `Family` from `{key: (value, line)}`; errors name the file and the offending line."""
    name, line = fields["family"]
    if not _NAME.match(name):
        raise ValueError(
            f"{where}, line {line}: family name {name!r} may use only letters, digits, - and _."
        )
    first = line
    for key in ("prompt", "values"):
        if key not in fields:
            raise ValueError(f"{where}, line {first}: family {name!r} has no '{key}:' line.")
    prompt, pline = fields["prompt"]
    if prompt.count("{x}") != 1:
        raise ValueError(
            f"{where}, line {pline}: the prompt of family {name!r} must contain {{x}} exactly once."
        )
    values_text, vline = fields["values"]
    values = _split_list(values_text)
    for v in values:
        try:
            number = float(v.replace("_", ""))
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(
                f"{where}, line {vline}: value {v!r} of family {name!r} is not a number."
            )
    if len(values) < 3 or len(set(float(v) for v in values)) < 3:
        raise ValueError(
            f"{where}, line {vline}: family {name!r} needs at least 3 distinct values for a"
            " rank correlation."
        )
    rises = _split_list(fields.get("rises", ("", 0))[0])
    falls = _split_list(fields.get("falls", ("", 0))[0])
    if not rises and not falls:
        raise ValueError(
            f"{where}, line {first}: family {name!r} names no emotions: add 'rises:' or 'falls:'."
        )
    both = set(rises) & set(falls)
    if both:
        raise ValueError(
            f"{where}, line {fields['falls'][1]}: family {name!r} lists {sorted(both)} as both"
            " rising and falling."
        )
    return Family(name, prompt, values, rises, falls, fields.get("unit", ("", 0))[0], where)


def _families_txt(text: str, where: str) -> list[Family]:
    blocks: list[dict[str, tuple[str, int]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not colon or key not in _KEYS:
            raise ValueError(
                f"{where}, line {number}: expected 'key: value' with a key among"
                f" {', '.join(_KEYS)}; got {raw.strip()[:60]!r}."
            )
        if not value:
            raise ValueError(f"{where}, line {number}: '{key}:' has no value.")
        if key == "family":
            blocks.append({})
        elif not blocks:
            raise ValueError(f"{where}, line {number}: '{key}:' before any 'family:' line.")
        if key in blocks[-1]:
            raise ValueError(
                f"{where}, line {number}: '{key}:' repeated in one family (first on line"
                f" {blocks[-1][key][1]})."
            )
        blocks[-1][key] = (value, number)
    return [_check_family(b, where) for b in blocks]


def _families_jsonl(text: str, where: str) -> list[Family]:
    families = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}, line {number}: not valid JSON ({err.msg}).") from None
        if not isinstance(obj, dict) or "family" not in obj:
            raise ValueError(f"{where}, line {number}: expected an object with a 'family' key.")
        unknown = set(obj) - set(_KEYS)
        if unknown:
            raise ValueError(f"{where}, line {number}: unknown key(s) {sorted(unknown)}.")
        fields = {}
        for key, value in obj.items():
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            fields[key] = (str(value), number)
        families.append(_check_family(fields, where))
    return families


def load_families(path: "str | PathLike[str] | None" = None) -> list[Family]:
    """Intensity-sweep families from a `.txt` or `.jsonl` file (see the module docstring).

    Args:
        path: A family file; None loads every shipped file (`emovec/data/sweeps/*.txt`).

    Returns:
        The families, in file order.

    Raises:
        ValueError: A malformed line (the message names the file and line), or a family name
            used twice.

    Example:
        >>> [f.name for f in load_families()][:2]
        ['tylenol', 'missing-child']
    """
    if path is None:
        folder = resources.files("emovec").joinpath("data", SWEEPS_DIR)
        texts = [
            (f.read_text(encoding="utf-8"), f"emovec/data/{SWEEPS_DIR}/{f.name}", ".txt")
            for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith(".txt")
        ]
    else:
        p = Path(path)
        try:
            texts = [(p.read_text(encoding="utf-8"), str(p), p.suffix.lower())]
        except FileNotFoundError:
            raise FileNotFoundError(f"Family file {p} does not exist.") from None
    families: list[Family] = []
    for text, where, suffix in texts:
        if suffix not in (".txt", ".jsonl"):
            raise ValueError(f"{where}: family files end in .txt or .jsonl.")
        found = _families_jsonl(text, where) if suffix == ".jsonl" else _families_txt(text, where)
        if not found:
            raise ValueError(f"{where} defines no family: start a block with 'family: NAME'.")
        families.extend(found)
    seen: dict[str, str] = {}
    for f in families:
        if f.name in seen:
            raise ValueError(f"Family {f.name!r} is defined twice ({seen[f.name]} and {f.source}).")
        seen[f.name] = f.source
    return families


def load_scenarios(path: "str | PathLike[str] | None" = None) -> list[Scenario]:
    """Implicit scenarios from a JSONL file of `{"emotion": ..., "prompt": ...}` lines.

    Args:
        path: The file; None loads the shipped `emovec/data/sweeps/scenarios.jsonl`.

    Raises:
        ValueError: A malformed line (naming the file and line).

    Example:
        >>> load_scenarios()[0].emotion
        'afraid'
    """
    if path is None:
        text = resources.files("emovec").joinpath("data", SWEEPS_DIR, "scenarios.jsonl")
        text, where = text.read_text(encoding="utf-8"), f"emovec/data/{SWEEPS_DIR}/scenarios.jsonl"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"Scenario file {path} does not exist.") from None
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}, line {number}: not valid JSON ({err.msg}).") from None
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("emotion"), str)
            or not isinstance(obj.get("prompt"), str)
            or not obj["prompt"].strip()
        ):
            raise ValueError(
                f'{where}, line {number}: expected {{"emotion": ..., "prompt": ...}} with'
                " non-empty strings."
            )
        out.append(Scenario(obj["emotion"].strip(), obj["prompt"].strip()))
    if not out:
        raise ValueError(f"{where} holds no scenarios.")
    return out
