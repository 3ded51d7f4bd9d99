"""Conditions of alert rules: declarative and composable, on per-token probe readings.

A condition is plain data (a frozen dataclass) that serialises to a dict (`to_dict`) and back
(`condition_from_dict`), so rule sets live in JSON or TOML files. Conditions combine with `&`
(`AllOf`), `|` (`AnyOf`) and `~` (`Not`). To run, a condition is compiled against a `Layout`
(which emotions and sites the readings hold, whether z-scores exist) into an evaluator (see
`_evaluators`) that keeps per-row state and answers, token by token, "does the condition hold
at this token?".
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ._evaluators import (
    Evaluator,
    _CombineEval,
    _NotEval,
    _RisingEval,
    _SustainedEval,
    _ThenEval,
    _ThresholdEval,
)
from ._layout import Layout

SCALES = ("z", "raw")


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
