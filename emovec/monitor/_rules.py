"""Alert rules: a named condition and its action, fired on the condition's rising edge.

`RuleSet` compiles rules against a `Layout` and steps them token by token, returning per rule
the rows that fired; rules travel as files through `load_rules` and `dumps_rules`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._conditions import Condition, _check_child, condition_from_dict
from ._layout import Frame, Layout

PHASES = ("all", "prompt", "generated")


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


class RuleSet:
    """Compiled rules with their firing state: `step` returns, per rule, the rows that fired.

    Example:
        >>> from emovec import Site
        >>> from emovec.monitor import Threshold
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
