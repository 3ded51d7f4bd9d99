"""The JSONL event stream: writer, reader, validation, damaged files."""

import json

import pytest

from emovec.monitor import SCHEMA, EventWriter, read_events, validate_event, write_events

HEADER = {
    "type": "header",
    "schema": SCHEMA,
    "generation": 0,
    "model_id": "m",
    "emotions": ["calm"],
    "sites": ["resid_post.1"],
    "calibrated": False,
    "min_position": 1,
    "rules": [],
}
TOKEN = {
    "type": "token",
    "generation": 0,
    "row": 0,
    "step": 0,
    "position": 3,
    "phase": "prompt",
    "token_id": 42,
    "token": " caf\u00e9",
    "readings": {"resid_post.1": {"calm": 0.5}},
    "z": None,
    "alerts": [],
    "actions": [],
}
END = {"type": "end", "generation": 0, "rows": [], "edits_added": []}


def test_writer_appends_whole_lines_that_read_back(tmp_path):
    path = tmp_path / "e.jsonl"
    with EventWriter(path) as write:
        write(HEADER)
        write(TOKEN)
        assert path.read_text(encoding="utf-8").count("\n") == 2  # flushed as it goes
    with EventWriter(path, mode="a") as write:
        write(END)
    assert read_events(path) == [HEADER, TOKEN, END]
    with pytest.raises(ValueError, match="closed"):
        write(END)


def test_write_events_is_atomic_and_equal(tmp_path):
    path = write_events(tmp_path / "e.jsonl", [HEADER, TOKEN, END])
    assert read_events(path) == [HEADER, TOKEN, END]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_truncated_last_line_is_reported_by_number(tmp_path):
    path = tmp_path / "e.jsonl"
    text = json.dumps(HEADER) + "\n" + json.dumps(TOKEN)[:40]
    path.write_text(text)
    with pytest.raises(ValueError, match="line 2: truncated"):
        read_events(path)
    path.write_text(json.dumps(HEADER) + "\n{oops}\n")
    with pytest.raises(ValueError, match="line 2: not JSON"):
        read_events(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"type": "tick"}, "Not a monitor event"),
        ({"step": "0"}, "'step' is str, expected int"),
        ({"row": True}, "'row' must not be a boolean"),
        ({"phase": "decode"}, "phase must be 'prompt' or 'generated'"),
        ({"readings": None}, "'readings' is NoneType"),
    ],
)
def test_validation_names_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        validate_event({**TOKEN, **change})
    bad = dict(TOKEN)
    del bad["alerts"]
    with pytest.raises(ValueError, match="lacks 'alerts'"):
        validate_event(bad)
    with pytest.raises(ValueError, match="schema"):
        validate_event({**HEADER, "schema": "emovec.monitor.events/0"})
