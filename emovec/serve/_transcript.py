"""The transcript file the page downloads and reopens: one chat with every reading.

Format `emovec.serve.transcript/1`, a JSON object: `format`, `id`, `model_id`, `request` (the
message and settings, as `ChatRequest.to_dict`), `reply`, `stopped`, `seconds`, and `events`: the
monitor's own event stream for the chat (`header`, one `token` per token, `end`; schema
`emovec.monitor.events/1`), so `emovec.monitor.Transcript.from_events(t["events"])` renders it
with the library's views too.
"""

import json
from typing import Any

from emovec.monitor import validate_event

FORMAT = "emovec.serve.transcript/1"
MONITOR_EVENTS = ("header", "token", "end")


def validate_transcript(data: Any) -> dict[str, Any]:
    """Return `data` if it is a whole transcript, else raise `ValueError` saying what is wrong.

    Beyond each event's schema: one header first, every token of that generation with readings
    of the header's sites and emotions, and one end event last.

    Example:
        >>> validate_transcript({"format": "other"})
        Traceback (most recent call last):
        ...
        ValueError: Not an emovec transcript: 'format' is 'other', expected 'emovec.serve.transcript/1'.
    """
    if not isinstance(data, dict):
        raise ValueError(f"A transcript is a JSON object, not {type(data).__name__}.")
    if data.get("format") != FORMAT:
        raise ValueError(
            f"Not an emovec transcript: 'format' is {data.get('format')!r}, expected {FORMAT!r}."
        )
    for key, kind in (("request", dict), ("reply", str), ("events", list)):
        if not isinstance(data.get(key), kind):
            raise ValueError(f"Transcript field {key!r} is missing or not a {kind.__name__}.")
    if not isinstance(data["request"].get("message"), str):
        raise ValueError("Transcript 'request' lacks its 'message'.")
    events = data["events"]
    if len(events) < 2:
        raise ValueError("Transcript has no events (a header, tokens and an end event).")
    for number, event in enumerate(events):
        try:
            validate_event(event)
        except ValueError as err:
            raise ValueError(f"Transcript event {number}: {err}") from None
    header, end = events[0], events[-1]
    if header["type"] != "header" or end["type"] != "end":
        raise ValueError("Transcript events must start with a header and finish with an end.")
    generation = header["generation"]
    sites, emotions = header["sites"], set(header["emotions"])
    for number, event in enumerate(events[1:-1], start=1):
        if event["type"] != "token" or event["generation"] != generation:
            raise ValueError(
                f"Transcript event {number}: expected a token of generation {generation}."
            )
        for key in ("readings", "z"):
            table = event[key]
            if table is None:
                continue
            if sorted(table) != sorted(sites) or any(set(table[s]) != emotions for s in sites):
                raise ValueError(
                    f"Transcript event {number}: {key!r} do not match the header's sites and"
                    " emotions."
                )
    return data


def loads_transcript(text: "str | bytes") -> dict[str, Any]:
    """Parse and validate a transcript file's text."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"The transcript is not valid JSON ({err}).") from None
    return validate_transcript(data)
