"""What the page asks for: a chat message and its monitor settings, checked into a `ChatRequest`.

Every check raises `BadRequest` with the HTTP status and one line naming the problem and the fix
(413 for an oversized message, 400 for anything else), before the request takes a place in the
queue: a request that is queued is one the model can run.
"""

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from emovec.monitor import (
    AnyOf,
    Calibration,
    Intervene,
    Rule,
    Sustained,
    Threshold,
    rules_from_dict,
)
from emovec.vectors import EmotionVectors

ACTIONS = ("flag", "stop", "steer")


class BadRequest(ValueError):
    """A request the server refuses: `status` is the HTTP code, the message says what to fix."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """Bounds on one request (the server's `--max-chars`, `--max-new-tokens`)."""

    max_chars: int = 2000
    max_new_tokens: int = 256
    max_body: int = 64_000


@dataclass(frozen=True)
class ChatRequest:
    """One message and the monitor settings it runs under (JSON in, JSON out).

    `watch`: emotions the alert rule watches and the page colours; `threshold` (z-score when the
    server has a calibration, raw units otherwise) and `sustain` (tokens) make the default rule;
    `action` is what a firing rule does: `flag` (record it), `stop` the reply, or `steer` toward
    `toward` by `strength` times the site's mean residual norm. `rules` (optional, the rule-file
    format of `emovec.monitor.rules_from_dict`) replace the default rule.
    """

    message: str
    watch: tuple[str, ...]
    threshold: float
    sustain: int
    action: str
    toward: str
    strength: float
    max_new_tokens: int
    rules: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["watch"], data["rules"] = list(self.watch), list(self.rules)
        return data


def _number(
    data: dict[str, Any], key: str, default: float | int, low: float | int, high: float | int
) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(400, f"'{key}' must be a number, got {json.dumps(value)[:40]}.")
    if not low <= value <= high:
        raise BadRequest(400, f"'{key}' is {value:g}; it must lie in [{low:g}, {high:g}].")
    return float(value)


def _emotions(vectors: EmotionVectors, names: Any, what: str) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRequest(400, f"'{what}' must be a list of emotion names.")
    unknown = [n for n in names if n not in vectors.emotions]
    if unknown:
        raise BadRequest(
            400,
            f"Unknown emotion(s) in '{what}': {', '.join(map(repr, unknown[:5]))}; the bundle"
            f" has {len(vectors.emotions)} (e.g. {', '.join(vectors.emotions[:4])}).",
        )
    return tuple(dict.fromkeys(names))


def parse_chat(
    body: bytes, vectors: EmotionVectors, defaults: dict[str, Any], limits: Limits
) -> ChatRequest:
    """Check a request body (JSON) into a `ChatRequest`; `defaults` fill the missing settings."""
    if len(body) > limits.max_body:
        raise BadRequest(413, f"The request is {len(body)} bytes; the limit is {limits.max_body}.")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadRequest(400, f"The request is not valid JSON ({err}).") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "The request must be a JSON object with a 'message'.")
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        raise BadRequest(400, "'message' must be a non-empty string.")
    if len(message) > limits.max_chars:
        raise BadRequest(
            413,
            f"The message is {len(message)} characters; the limit is {limits.max_chars}"
            " (shorten it, or restart the server with a larger --max-chars).",
        )
    settings = {**defaults, **{k: v for k, v in data.items() if v is not None}}
    action = settings["action"]
    if action not in ACTIONS:
        raise BadRequest(400, f"'action' is {action!r}; choose one of {', '.join(ACTIONS)}.")
    rules = settings.get("rules") or []
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise BadRequest(400, "'rules' must be a list of rule tables (see docs/monitoring.md).")
    watch = _emotions(vectors, settings["watch"], "watch")
    if not watch:
        raise BadRequest(400, "'watch' names no emotion; pick at least one.")
    toward = _emotions(vectors, [settings["toward"]], "toward")[0]
    return ChatRequest(
        message=message,
        watch=watch,
        threshold=_number(settings, "threshold", 3.0, -1e6, 1e6),
        sustain=int(_number(settings, "sustain", 2, 1, 64)),
        action=action,
        toward=toward,
        strength=_number(settings, "strength", 0.1, 0.0, 2.0),
        max_new_tokens=int(_number(settings, "max_new_tokens", 48, 1, limits.max_new_tokens)),
        rules=tuple(rules),
    )


def build_rules(request: ChatRequest, calibrated: bool) -> list[Rule]:
    """The request's rules: its own rule tables, or the default rule on its watched emotions."""
    if request.rules:
        try:
            return rules_from_dict({"rules": list(request.rules)})
        except (ValueError, KeyError, TypeError) as err:
            raise BadRequest(400, f"Bad rule: {err}") from None
    scale = "z" if calibrated else "raw"
    when = Sustained(
        AnyOf(tuple(Threshold(e, above=request.threshold, scale=scale) for e in request.watch)),
        request.sustain,
    )
    action: Any = {"flag": "record", "stop": "stop"}.get(request.action)
    if request.action == "steer":
        action = Intervene("steer", request.toward, request.strength)
    unit = "z" if calibrated else "raw"
    name = f"{'+'.join(request.watch)} {unit}>{request.threshold:g} x{request.sustain}"
    return [Rule(name, when, action)]


def read_emotions(
    request: ChatRequest, rules: list[Rule], calibration: Calibration | None
) -> tuple[str, ...]:
    """What the monitor reads: the watched emotions, those the rules name, and the steering
    target (all of them calibrated when the server has a calibration)."""
    names = [*request.watch]
    for rule in rules:
        names.extend(rule.when.watched())
    if request.action == "steer" or calibration is None or request.toward in calibration.emotions:
        names.append(request.toward)
    names = list(dict.fromkeys(names))
    if calibration is not None:
        missing = [n for n in names if n not in calibration.emotions]
        if missing:
            raise BadRequest(
                400,
                f"No calibration for {', '.join(map(repr, missing[:5]))} (calibrated:"
                f" {', '.join(calibration.emotions[:8])}); watch calibrated emotions or run"
                " `emovec monitor calibrate --vectors BUNDLE --emotions ...` and pass"
                " --calibration.",
            )
    return tuple(names)
