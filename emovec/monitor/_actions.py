"""What a monitor does when a rule fires: record it, call a user's function, stop, or intervene.

Actions are plain data (serialisable with `to_dict`, rebuilt by `as_action`), except a `Call`
holding a Python function, which serialises by name and is found again through the monitor's
`handlers`. `Intervene` adds an `Edit` on generated positions through the generation seam
(`Control(add_edits=...)`): it applies from the next forward on, to every row of the batch
(edits carry no per-row mask on decode steps; monitor one prompt per call where rows must stay
independent).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from emovec._backend import Control
from emovec._edit import Edit
from emovec._site import Site
from emovec.ops import orthonormalize


@dataclass(frozen=True)
class Alert:
    """A rule firing on one row at one token.

    Attributes:
        rule: The rule's name.
        row: Batch row (or document index for corpus scoring).
        step: Generation step (0: the prompt forward).
        position: Index of the token in its row's own text.
        token_id: The token.
        phase: "prompt" or "generated".
        emotions: The emotions whose rise the rule reports (`Condition.watched`).
        values: Readings of those emotions at this token and the monitor's first site (z-scores
            when the monitor is calibrated, else raw).
    """

    rule: str
    row: int
    step: int
    position: int
    token_id: int
    phase: str
    emotions: tuple[str, ...] = ()
    values: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "row": self.row,
            "emotions": list(self.emotions),
            "values": dict(self.values),
        }


@dataclass
class Outcome:
    """What an action asks of the generation, and its entry in the event stream."""

    record: dict[str, Any]
    stop_rows: list[int] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    stop_all: bool = False


@dataclass
class ActionContext:
    """What actions may use: the vectors, the monitor's first site, handlers and live state."""

    vectors: Any
    site: Site
    handlers: Mapping[str, Callable[[Alert], Any]]
    active: dict[str, Edit] = field(default_factory=dict)  # interventions already added


class Action:
    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def check(self, ctx: ActionContext, watched: tuple[str, ...], rule: str) -> None:
        """Raise before any model call if this action cannot run (unknown emotion, handler)."""

    def run(self, alert: Alert, ctx: ActionContext) -> Outcome:
        raise NotImplementedError


@dataclass(frozen=True)
class Record(Action):
    """Only mark the alert in the event stream (the default)."""

    kind: ClassVar[str] = "record"

    def run(self, alert: Alert, ctx: ActionContext) -> Outcome:
        return Outcome({"kind": self.kind, "rule": alert.rule, "row": alert.row})


@dataclass(frozen=True)
class Stop(Action):
    """Stop generating for the alerted row (it ends with reason "observer")."""

    kind: ClassVar[str] = "stop"

    def run(self, alert: Alert, ctx: ActionContext) -> Outcome:
        return Outcome({"kind": self.kind, "rule": alert.rule, "row": alert.row}, [alert.row])


@dataclass(frozen=True)
class Call(Action):
    """Call a user's function with the `Alert`; it may return a `Control` (stop, add edits).

    In files a call names its handler (`{"kind": "call", "name": "page_oncall"}`); pass the
    function as `Monitor(..., handlers={"page_oncall": fn})`.
    """

    name: str
    fn: Callable[[Alert], Any] | None = field(default=None, compare=False)
    kind: ClassVar[str] = "call"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}

    def _resolve(self, ctx: ActionContext) -> Callable[[Alert], Any] | None:
        return self.fn if self.fn is not None else ctx.handlers.get(self.name)

    def check(self, ctx: ActionContext, watched: tuple[str, ...], rule: str) -> None:
        if self._resolve(ctx) is None:
            raise ValueError(
                f"Rule {rule!r} calls handler {self.name!r}, which was not given: pass"
                f" handlers={{{self.name!r}: function}} to the Monitor."
            )

    def run(self, alert: Alert, ctx: ActionContext) -> Outcome:
        fn = self._resolve(ctx)
        assert fn is not None  # check() ran at construction
        answer = fn(alert)
        out = Outcome({"kind": self.kind, "name": self.name, "rule": alert.rule, "row": alert.row})
        if isinstance(answer, Control):
            out.stop_all = answer.stop is True
            out.stop_rows = [] if answer.stop is True else list(answer.stop or ())
            out.edits = list(answer.add_edits)
        return out


@dataclass(frozen=True)
class Intervene(Action):
    """For the rest of the generation, steer toward an emotion or ablate the alerted ones.

    Attributes:
        mode: "steer" adds `strength * residual_norm(site)` along `toward`'s unit vector;
            "ablate" projects the alerted emotions' vectors out (zero-ablation of their span).
        toward: The emotion steered toward (mode "steer").
        strength: Fraction of the site's mean residual norm (the paper's unit; 0.05 to 0.5).
        site: Where the edit applies (default: the monitor's first site).
    """

    mode: str = "steer"
    toward: str = "calm"
    strength: float = 0.1
    site: str | None = None
    kind: ClassVar[str] = "intervene"

    def __post_init__(self) -> None:
        if self.mode not in ("steer", "ablate"):
            raise ValueError(f"Intervene mode must be 'steer' or 'ablate', got {self.mode!r}.")
        if not isinstance(self.strength, (int, float)) or not (
            float("-inf") < self.strength < float("inf")
        ):
            raise ValueError(f"Intervene strength must be a finite number, got {self.strength!r}.")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "mode": self.mode}
        if self.mode == "steer":
            out |= {"toward": self.toward, "strength": self.strength}
        return out | ({"site": self.site} if self.site is not None else {})

    def _site(self, ctx: ActionContext) -> Site:
        return Site.parse(self.site) if self.site is not None else ctx.site

    def check(self, ctx: ActionContext, watched: tuple[str, ...], rule: str) -> None:
        site = self._site(ctx)
        ctx.vectors.site_index(site)
        if self.mode == "steer":
            ctx.vectors.index(self.toward)
            ctx.vectors.residual_norm(site)
        elif not watched:
            raise ValueError(
                f"Rule {rule!r} ablates 'the alerted emotion', but its condition reports no"
                " rising emotion (use above= or a positive slope), or use mode='steer'."
            )
        else:
            for emotion in watched:
                ctx.vectors.index(emotion)

    def edit(self, alert: Alert, ctx: ActionContext) -> Edit:
        site = self._site(ctx)
        if self.mode == "steer":
            unit = ctx.vectors.vector(self.toward, site).float()
            unit = unit / unit.norm()
            amount = float(self.strength) * ctx.vectors.residual_norm(site)
            return Edit.steer(site, unit, amount, positions="generated")
        rows = torch.stack([ctx.vectors.vector(e, site).double() for e in alert.emotions])
        return Edit.ablate(site, orthonormalize(rows).float(), positions="generated")

    def run(self, alert: Alert, ctx: ActionContext) -> Outcome:
        key = f"{alert.rule}:{self.to_dict()}"
        record = {"kind": self.kind, "rule": alert.rule, "row": alert.row, **self.to_dict()}
        record["site"] = str(self._site(ctx))
        if self.mode == "ablate":
            record["emotions"] = list(alert.emotions)
        if key in ctx.active:
            # The edit already acts on every row for the rest of the generation.
            return Outcome({**record, "already_active": True})
        edit = self.edit(alert, ctx)
        ctx.active[key] = edit
        record["from_step"] = alert.step + 1
        if self.mode == "steer":
            record["added_norm"] = float(edit.offset[0])
        return Outcome(record, [], [edit])


_ACTIONS: dict[str, type[Action]] = {a.kind: a for a in (Record, Stop, Call, Intervene)}


def as_action(spec: Any) -> Action:
    """An action from a name ("record", "stop", "intervene"), a dict, a function, or an action.

    Example:
        >>> as_action({"kind": "intervene", "mode": "steer", "toward": "calm", "strength": 0.2})
        Intervene(mode='steer', toward='calm', strength=0.2, site=None)
    """
    if isinstance(spec, Action):
        return spec
    original = spec
    if isinstance(spec, str):
        spec = {"kind": spec}
    elif callable(spec):
        return Call(getattr(spec, "__name__", "callback"), spec)
    if not isinstance(spec, Mapping) or spec.get("kind") not in _ACTIONS:
        raise ValueError(
            f"Unknown action {original!r}: use one of {', '.join(_ACTIONS)} (a name or a table with"
            " 'kind')."
        )
    args = {k: v for k, v in spec.items() if k != "kind"}
    if isinstance(args.get("strength"), int) and not isinstance(args["strength"], bool):
        args["strength"] = float(args["strength"])
    try:
        return _ACTIONS[spec["kind"]](**args)
    except TypeError as err:
        raise ValueError(f"Bad {spec['kind']!r} action {dict(spec)!r}: {err}.") from None
