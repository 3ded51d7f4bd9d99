"""Rule files: rule sets as dicts, JSON or TOML (`load_rules`, `dumps_rules`)."""

import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from ._rules import Rule


def rules_to_dict(rules: Sequence[Rule]) -> dict[str, Any]:
    """`{"rules": [...]}`: the file format of `load_rules`."""
    return {"rules": [r.to_dict() for r in rules]}


def rules_from_dict(data: Mapping[str, Any]) -> list[Rule]:
    """Rules from `{"rules": [...]}` (or a bare list); names must be unique."""
    items = data.get("rules") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise ValueError("A rules file holds a list 'rules' of tables (see docs/monitoring.md).")
    rules = [Rule.from_dict(item) for item in items]
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"Rule names must be unique; repeated: {', '.join(dupes)}.")
    return rules


def load_rules(path: Any) -> list[Rule]:
    """Read rules from a `.json` or `.toml` file (see `dumps_rules` for both formats)."""
    import json
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"Cannot read rules file {path}: {err.strerror or err}.") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"Rules file {path} is not valid {path.suffix[1:] or 'JSON'}: {err}"
        ) from None
    try:
        return rules_from_dict(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def dumps_rules(rules: Sequence[Rule], *, format: str = "json") -> str:
    """Rules as JSON or TOML text (read back by `load_rules`).

    Example:
        >>> from emovec.monitor import Threshold
        >>> r = Rule("spike", Threshold("desperate", above=3.0), "stop")
        >>> print(dumps_rules([r], format="toml"))
        [[rules]]
        name = "spike"
        when = { kind = "threshold", emotion = "desperate", above = 3.0, scale = "z" }
        action = { kind = "stop" }
        once = true
        phase = "all"
        <BLANKLINE>
    """
    import json

    data = rules_to_dict(rules)
    if format == "json":
        return json.dumps(data, indent=2) + "\n"
    if format != "toml":
        raise ValueError(f"format must be 'json' or 'toml', got {format!r}.")
    lines = []
    for rule in data["rules"]:
        lines.append("[[rules]]")
        lines.extend(f"{k} = {_toml(v)}" for k, v in rule.items())
        lines.append("")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise ValueError(f"Cannot write {type(value).__name__} to TOML.")
