"""Alert rules: declarative, composable conditions on a stream of per-token probe readings.

A condition is plain data (a frozen dataclass) that serialises to a dict (`to_dict`) and back
(`condition_from_dict`), so rule sets live in JSON or TOML files. Conditions combine with `&`
(`AllOf`), `|` (`AnyOf`) and `~` (`Not`). To run, a condition is compiled against a `Layout`
(which emotions and sites the readings hold, whether z-scores exist) into an evaluator that
keeps per-row state and answers, token by token, "does the condition hold at this token?".

Tokens that are not real for a row (padding, a finished row, positions the caller excludes)
neither change a row's state nor satisfy any condition.
"""

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from emovec._site import Site

SCALES = ("z", "raw")
PHASES = ("all", "prompt", "generated")


# -- the data a rule sees ---------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """What the readings hold: emotions and sites in axis order, and whether z-scores exist.

    Example:
        >>> Layout(("calm", "afraid"), (Site(3),), calibrated=False).column("afraid", None)
        (0, 1)
    """

    emotions: tuple[str, ...]
    sites: tuple[Site, ...]
    calibrated: bool = False

    def column(self, emotion: str, site: "str | Site | None") -> tuple[int, int]:
        """`(site index, emotion index)`; `site=None` means the first site."""
        if emotion not in self.emotions:
            shown = ", ".join(self.emotions[:8]) + (" ..." if len(self.emotions) > 8 else "")
            raise ValueError(
                f"A rule watches {emotion!r}, which the monitor does not read ({shown}): add it"
                " to the monitor's emotions or fix the rule."
            )
        if site is None:
            return 0, self.emotions.index(emotion)
        parsed = Site.parse(site)
        if parsed not in self.sites:
            raise ValueError(
                f"A rule reads site {parsed}, which the monitor does not read"
                f" ({', '.join(map(str, self.sites))}): add it to the monitor's sites."
            )
        return self.sites.index(parsed), self.emotions.index(emotion)


@dataclass(frozen=True, eq=False)
class Frame:
    """One token per row: raw readings `[rows, site, emotion]`, z-scores (or None), real rows."""

    raw: np.ndarray
    z: np.ndarray | None
    valid: np.ndarray


# -- conditions -------------------------------------------------------------------------------
class Condition:
    """Base of every condition: combine with `&`, `|`, `~`; serialise with `to_dict`."""

    kind: ClassVar[str] = ""

    def __and__(self, other: "Condition") -> "AllOf":
        return AllOf((self, other))

    def __or__(self, other: "Condition") -> "AnyOf":
        return AnyOf((self, other))

    def __invert__(self) -> "Not":
        return Not(self)

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def compile(self, layout: Layout) -> "Evaluator":
        raise NotImplementedError

    def watched(self) -> tuple[str, ...]:
        """Emotions whose *rise* this condition reports (what an "ablate" action removes)."""
        return ()


def _check_scale(scale: str, layout: Layout, where: str) -> None:
    if scale == "z" and not layout.calibrated:
        raise ValueError(
            f"{where} uses z-scores but the monitor has no calibration: pass"
            " calibration=... (see `emovec monitor calibrate`) or use scale='raw'."
        )


def _finite(value: float, name: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")


@dataclass(frozen=True)
class Threshold(Condition):
    """The reading of one emotion is strictly above `above` (or strictly below `below`).

    Example:
        >>> Threshold("desperate", above=2.5).to_dict()
        {'kind': 'threshold', 'emotion': 'desperate', 'above': 2.5, 'scale': 'z'}
    """

    emotion: str
    above: float | None = None
    below: float | None = None
    scale: str = "z"
    site: str | None = None
    kind: ClassVar[str] = "threshold"

    def __post_init__(self) -> None:
        if (self.above is None) == (self.below is None):
            raise ValueError(
                f"Threshold on {self.emotion!r} needs exactly one of above= or below=; combine two"
                " thresholds with & for a band."
            )
        value = self.above if self.above is not None else self.below
        assert value is not None  # checked just above
        _finite(value, "Threshold value")
        for name in ("above", "below"):
            object.__setattr__(self, name, _number(getattr(self, name)))
        if self.scale not in SCALES:
            raise ValueError(f"Threshold scale must be one of {SCALES}, got {self.scale!r}.")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "emotion": self.emotion}
        out |= {"above": self.above} if self.above is not None else {"below": self.below}
        out["scale"] = self.scale
        return out | ({"site": self.site} if self.site is not None else {})

    def compile(self, layout: Layout) -> "Evaluator":
        _check_scale(self.scale, layout, f"Threshold on {self.emotion!r}")
        return _ThresholdEval(self, *layout.column(self.emotion, self.site))

    def watched(self) -> tuple[str, ...]:
        return (self.emotion,) if self.above is not None else ()


@dataclass(frozen=True)
class Rising(Condition):
    """The least-squares slope of one emotion over the last `window` tokens is >= `slope`.

    The slope is in reading units (z or raw) per token; it needs `window` real tokens first.

    Example:
        >>> Rising("afraid", window=4, slope=0.5).to_dict()["kind"]
        'rising'
    """

    emotion: str
    window: int
    slope: float
    scale: str = "z"
    site: str | None = None
    kind: ClassVar[str] = "rising"

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 2:
            raise ValueError(f"Rising needs window >= 2 tokens, got {self.window!r}.")
        _finite(self.slope, "Rising slope")
        object.__setattr__(self, "slope", float(self.slope))
        if self.scale not in SCALES:
            raise ValueError(f"Rising scale must be one of {SCALES}, got {self.scale!r}.")

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "emotion": self.emotion, "window": self.window}
        out |= {"slope": self.slope, "scale": self.scale}
        return out | ({"site": self.site} if self.site is not None else {})

    def compile(self, layout: Layout) -> "Evaluator":
        _check_scale(self.scale, layout, f"Rising on {self.emotion!r}")
        return _RisingEval(self, *layout.column(self.emotion, self.site))

    def watched(self) -> tuple[str, ...]:
        return (self.emotion,) if self.slope > 0 else ()


@dataclass(frozen=True)
class Sustained(Condition):
    """`condition` has held on each of the last `tokens` real tokens of the row."""

    condition: Condition
    tokens: int
    kind: ClassVar[str] = "sustained"

    def __post_init__(self) -> None:
        _check_child(self.condition, "Sustained")
        if isinstance(self.tokens, bool) or not isinstance(self.tokens, int) or self.tokens < 1:
            raise ValueError(f"Sustained needs tokens >= 1, got {self.tokens!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokens": self.tokens, "condition": self.condition.to_dict()}

    def compile(self, layout: Layout) -> "Evaluator":
        return _SustainedEval(self.condition.compile(layout), self.tokens)

    def watched(self) -> tuple[str, ...]:
        return self.condition.watched()


@dataclass(frozen=True)
class AllOf(Condition):
    """Every condition holds at this token (AND)."""

    conditions: tuple[Condition, ...]
    kind: ClassVar[str] = "all"

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditions", tuple(self.conditions))
        if not self.conditions:
            raise ValueError("AllOf needs at least one condition.")
        for c in self.conditions:
            _check_child(c, "AllOf")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "of": [c.to_dict() for c in self.conditions]}

    def compile(self, layout: Layout) -> "Evaluator":
        return _CombineEval([c.compile(layout) for c in self.conditions], np.logical_and)

    def watched(self) -> tuple[str, ...]:
        return _union(c.watched() for c in self.conditions)


@dataclass(frozen=True)
class AnyOf(Condition):
    """At least one condition holds at this token (OR)."""

    conditions: tuple[Condition, ...]
    kind: ClassVar[str] = "any"

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditions", tuple(self.conditions))
        if not self.conditions:
            raise ValueError("AnyOf needs at least one condition.")
        for c in self.conditions:
            _check_child(c, "AnyOf")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "of": [c.to_dict() for c in self.conditions]}

    def compile(self, layout: Layout) -> "Evaluator":
        return _CombineEval([c.compile(layout) for c in self.conditions], np.logical_or)

    def watched(self) -> tuple[str, ...]:
        return _union(c.watched() for c in self.conditions)


@dataclass(frozen=True)
class Not(Condition):
    """`condition` does not hold at this (real) token."""

    condition: Condition
    kind: ClassVar[str] = "not"

    def __post_init__(self) -> None:
        _check_child(self.condition, "Not")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "condition": self.condition.to_dict()}

    def compile(self, layout: Layout) -> "Evaluator":
        return _NotEval(self.condition.compile(layout))


@dataclass(frozen=True)
class Then(Condition):
    """`second` holds at this token, and `first` held at some earlier token of the row.

    For example a desperation peak followed by a return toward calm:
    `Then(Threshold("desperate", above=2), Threshold("desperate", below=0.5))`.
    """

    first: Condition
    second: Condition
    kind: ClassVar[str] = "then"

    def __post_init__(self) -> None:
        _check_child(self.first, "Then")
        _check_child(self.second, "Then")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "first": self.first.to_dict(), "second": self.second.to_dict()}

    def compile(self, layout: Layout) -> "Evaluator":
        return _ThenEval(self.first.compile(layout), self.second.compile(layout))

    def watched(self) -> tuple[str, ...]:
        return self.first.watched()


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _check_child(value: Any, where: str) -> None:
    if not isinstance(value, Condition):
        raise TypeError(f"{where} takes conditions, got {type(value).__name__}.")


def _union(groups: Any) -> tuple[str, ...]:
    out: list[str] = []
    for group in groups:
        out.extend(e for e in group if e not in out)
    return tuple(out)


_KINDS: dict[str, type[Condition]] = {
    c.kind: c for c in (Threshold, Rising, Sustained, AllOf, AnyOf, Not, Then)
}


def condition_from_dict(data: Mapping[str, Any]) -> Condition:
    """Rebuild a condition from `to_dict` output (JSON or TOML data).

    Example:
        >>> condition_from_dict({"kind": "threshold", "emotion": "calm", "below": -1.0})
        Threshold(emotion='calm', above=None, below=-1.0, scale='z', site=None)
    """
    if not isinstance(data, Mapping) or "kind" not in data:
        raise ValueError(f"A condition must be a table with a 'kind' key, got {data!r}.")
    kind = data["kind"]
    if kind not in _KINDS:
        raise ValueError(f"Unknown condition kind {kind!r}; known: {', '.join(_KINDS)}.")
    # TOML and JSON write 3 for 3.0: numbers become floats (and then compare equal on reload).
    args = {k: _number(v) if k in ("above", "below", "slope") else v for k, v in data.items()}
    args.pop("kind")
    try:
        if kind in ("all", "any"):
            parts = tuple(condition_from_dict(c) for c in args.pop("of"))
            return (AllOf if kind == "all" else AnyOf)(parts, **args)
        if kind in ("sustained", "not"):
            args["condition"] = condition_from_dict(args["condition"])
        if kind == "then":
            args["first"] = condition_from_dict(args["first"])
            args["second"] = condition_from_dict(args["second"])
        return _KINDS[kind](**args)
    except (KeyError, TypeError) as err:
        raise ValueError(f"Bad {kind!r} condition {dict(data)!r}: {err}.") from None


# -- rules ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A named condition and what to do when it fires.

    A rule fires on a row at a token where its condition holds and did not hold at the row's
    previous real token (a rising edge), at most once per row when `once` (the default).

    Attributes:
        name: Shown in alerts and events.
        when: The condition.
        action: An action spec (see `emovec.monitor.actions`): "record", "stop", ... or a dict.
        once: Fire at most once per row (per generation or document).
        phase: Tokens the rule looks at: "all", "prompt" or "generated".
    """

    name: str
    when: Condition
    action: Any = "record"
    once: bool = True
    phase: str = "all"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("A rule needs a non-empty name.")
        _check_child(self.when, f"Rule {self.name!r}")
        if self.phase not in PHASES:
            raise ValueError(
                f"Rule {self.name!r}: phase must be one of {PHASES}, got {self.phase!r}."
            )
        from ._actions import as_action

        object.__setattr__(self, "action", as_action(self.action))

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "when": self.when.to_dict(), "action": self.action.to_dict()}
        return out | {"once": self.once, "phase": self.phase}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Rule":
        if not isinstance(data, Mapping) or "name" not in data or "when" not in data:
            raise ValueError(f"A rule needs 'name' and 'when', got {data!r}.")
        unknown = set(data) - {"name", "when", "action", "once", "phase"}
        if unknown:
            raise ValueError(f"Rule {data['name']!r} has unknown keys {sorted(unknown)}.")
        return cls(
            data["name"],
            condition_from_dict(data["when"]),
            data.get("action", "record"),
            bool(data.get("once", True)),
            data.get("phase", "all"),
        )


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


# -- evaluators -------------------------------------------------------------------------------
class Evaluator:
    """Per-row state of a compiled condition; `step` answers for one token per row."""

    def reset(self, rows: int) -> None:
        raise NotImplementedError

    def step(self, frame: Frame) -> np.ndarray:
        raise NotImplementedError


def _values(frame: Frame, scale: str, s: int, e: int) -> np.ndarray:
    source = frame.z if scale == "z" else frame.raw
    assert source is not None  # compile() refused z rules without calibration
    return source[:, s, e]


class _ThresholdEval(Evaluator):
    def __init__(self, spec: Threshold, s: int, e: int):
        self.spec, self.s, self.e = spec, s, e

    def reset(self, rows: int) -> None:
        pass

    def step(self, frame: Frame) -> np.ndarray:
        v = _values(frame, self.spec.scale, self.s, self.e)
        hit = v > self.spec.above if self.spec.above is not None else v < self.spec.below
        return frame.valid & hit


class _RisingEval(Evaluator):
    def __init__(self, spec: Rising, s: int, e: int):
        self.spec, self.s, self.e = spec, s, e
        x = np.arange(spec.window, dtype=np.float64)
        centred = x - x.mean()
        self.weights = centred / (centred**2).sum()  # slope = weights . y (least squares)

    def reset(self, rows: int) -> None:
        self.buf = np.zeros((rows, self.spec.window))
        self.count = np.zeros(rows, dtype=np.int64)

    def step(self, frame: Frame) -> np.ndarray:
        v = _values(frame, self.spec.scale, self.s, self.e)
        valid = frame.valid
        shifted = np.concatenate([self.buf[:, 1:], v[:, None]], axis=1)
        self.buf = np.where(valid[:, None], shifted, self.buf)
        self.count = self.count + valid
        slope = self.buf @ self.weights
        return valid & (self.count >= self.spec.window) & (slope >= self.spec.slope)


class _SustainedEval(Evaluator):
    def __init__(self, inner: Evaluator, tokens: int):
        self.inner, self.tokens = inner, tokens

    def reset(self, rows: int) -> None:
        self.inner.reset(rows)
        self.run = np.zeros(rows, dtype=np.int64)

    def step(self, frame: Frame) -> np.ndarray:
        hit = self.inner.step(frame)
        self.run = np.where(frame.valid, np.where(hit, self.run + 1, 0), self.run)
        return frame.valid & (self.run >= self.tokens)


class _CombineEval(Evaluator):
    def __init__(self, parts: list[Evaluator], op: Any):
        self.parts, self.op = parts, op

    def reset(self, rows: int) -> None:
        for p in self.parts:
            p.reset(rows)

    def step(self, frame: Frame) -> np.ndarray:
        # Every part steps on every token (stateful parts must see the whole stream).
        results = [p.step(frame) for p in self.parts]
        out = results[0]
        for r in results[1:]:
            out = self.op(out, r)
        return frame.valid & out


class _NotEval(Evaluator):
    def __init__(self, inner: Evaluator):
        self.inner = inner

    def reset(self, rows: int) -> None:
        self.inner.reset(rows)

    def step(self, frame: Frame) -> np.ndarray:
        return frame.valid & ~self.inner.step(frame)


class _ThenEval(Evaluator):
    def __init__(self, first: Evaluator, second: Evaluator):
        self.first, self.second = first, second

    def reset(self, rows: int) -> None:
        self.first.reset(rows)
        self.second.reset(rows)
        self.seen = np.zeros(rows, dtype=bool)

    def step(self, frame: Frame) -> np.ndarray:
        earlier = self.seen.copy()
        self.seen |= self.first.step(frame)
        return frame.valid & earlier & self.second.step(frame)


class RuleSet:
    """Compiled rules with their firing state: `step` returns, per rule, the rows that fired.

    Example:
        >>> layout = Layout(("calm",), (Site(0),), calibrated=False)
        >>> rs = RuleSet([Rule("low", Threshold("calm", below=0.0, scale="raw"))], layout)
        >>> rs.reset(1)
        >>> [rs.step(Frame(np.array([[[v]]]), None, np.array([True])))[0].tolist() for v in (1, -1, -2, 1, -1)]
        [[False], [True], [False], [False], [False]]
    """

    def __init__(self, rules: Sequence[Rule], layout: Layout):
        self.rules = list(rules)
        self.layout = layout
        self.evaluators = [r.when.compile(layout) for r in self.rules]
        self.rows = 0

    def reset(self, rows: int) -> None:
        self.rows = rows
        for ev in self.evaluators:
            ev.reset(rows)
        self.previous = np.zeros((len(self.rules), rows), dtype=bool)
        self.fired = np.zeros((len(self.rules), rows), dtype=np.int64)

    def step(self, frame: Frame, phase: str = "all") -> list[np.ndarray]:
        """Advance every rule by one token per row; `[rows]` bool per rule: fired here."""
        out = []
        for i, (rule, ev) in enumerate(zip(self.rules, self.evaluators, strict=True)):
            applies = rule.phase == "all" or phase == "all" or rule.phase == phase
            use = frame if applies else Frame(frame.raw, frame.z, np.zeros_like(frame.valid))
            holds = ev.step(use)
            fire = holds & ~self.previous[i]
            if rule.once:
                fire &= self.fired[i] == 0
            self.previous[i] = np.where(use.valid, holds, self.previous[i])
            self.fired[i] += fire
            out.append(fire)
        return out
