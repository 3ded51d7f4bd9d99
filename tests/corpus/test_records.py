import json

import pytest

from emovec.corpus import Record, RecordError, atomic_open, content_hash, read_jsonl
from emovec.corpus._records import append_jsonl, build_manifest, summarize, write_jsonl


def story(i: int, emotion: str = "calm", text: str = "She sat by the window.", **kw) -> Record:
    return Record(f"story/{emotion}/t{i:03d}/s0", "story", emotion, "a topic", text, "m", 7, **kw)


def neutral(i: int) -> Record:
    return Record(f"neutral/n{i:03d}/s0", "neutral", None, "git", "Human: a\nAssistant: b", "m", 7)


def test_record_round_trips_through_json():
    record = story(1, meta={"person": "first"})
    back = Record.from_dict(json.loads(record.to_json()))
    assert back == record
    assert set(json.loads(record.to_json())) == {
        "id", "kind", "emotion", "topic", "text", "generator", "seed", "meta",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text": ""}, "'text' must be a non-empty string"),
        ({"kind": "poem"}, "'kind' must be"),
        ({"emotion": None}, "a story needs"),
        ({"seed": "7"}, "'seed' must be an integer"),
        ({"seed": True}, "'seed' must be an integer"),
        ({"reason": 3}, "'reason' must be"),
    ],
)
def test_record_schema_errors_name_the_field(change, message):
    data = {**story(1).to_dict(), **change}
    with pytest.raises(RecordError, match=message):
        Record.from_dict(data)


def test_missing_fields_are_listed():
    with pytest.raises(RecordError, match="missing field\\(s\\) seed, generator|missing field"):
        Record.from_dict({"id": "x", "kind": "story", "emotion": "calm", "topic": "t", "text": "t"})
    with pytest.raises(RecordError, match="a neutral record has 'emotion': null"):
        Record.from_dict({**neutral(0).to_dict(), "emotion": "calm"})


def test_bad_jsonl_lines_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "stories.jsonl"
    good = story(1).to_json()
    path.write_text(f"{good}\n{{not json\n\n{json.dumps({'id': 'x'})}\n{good}\n")
    with pytest.raises(ValueError) as err:
        read_jsonl(path)
    message = str(err.value)
    assert "2 malformed line(s)" in message and "\n" not in message
    assert f"{path}, line 2: not valid JSON" in message
    assert f"{path}, line 4: missing field(s)" in message


def test_atomic_write_leaves_no_partial_file_on_exception(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write("half of the new")
        raise RuntimeError("boom")
    assert path.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [path]  # the temporary file is gone too


def test_atomic_write_of_a_new_file_leaves_nothing_on_exception(tmp_path):
    with pytest.raises(KeyError), atomic_open(tmp_path / "new.json") as handle:
        handle.write("{")
        raise KeyError("x")
    assert list(tmp_path.iterdir()) == []


def test_write_and_append_jsonl(tmp_path):
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [story(1)])
    append_jsonl(path, [story(2), neutral(0)])
    assert [r.id for r in read_jsonl(path)] == [story(1).id, story(2).id, neutral(0).id]


def test_content_hash_ignores_order_and_sees_content():
    records = [story(1), story(2), neutral(0)]
    base = content_hash(records)
    assert content_hash(list(reversed(records))) == base
    assert content_hash([story(1, text="She sat by the door."), story(2), neutral(0)]) != base
    assert content_hash(records[:2]) != base
    assert content_hash([story(1, meta={"person": "first"}), story(2), neutral(0)]) != base


def test_manifest_hash_changes_only_with_accepted_content():
    accepted = [story(1), story(2), neutral(0)]
    settings = dict(generation={"model_id": "m"}, filters={}, prompt_version="v", files={})
    first = build_manifest(accepted, **settings)
    rejected = story(3, reason="too_short")
    again = build_manifest([rejected, *reversed(accepted)], **settings)
    assert again["content_hash"] == first["content_hash"]
    assert again["counts"]["rejections"]["story"]["by_reason"]["too_short"] == {
        "count": 1,
        "rate": 0.3333,
    }
    changed = build_manifest([story(1, text="Other text."), story(2), neutral(0)], **settings)
    assert changed["content_hash"] != first["content_hash"]


def test_summarize_counts_per_emotion_and_reason():
    attempts = [
        story(1),
        story(2, emotion="sad"),
        story(3, emotion="sad", reason="leaked_emotion_word"),
        story(4, emotion="sad", reason="duplicate"),
        neutral(0),
    ]
    counts = summarize(attempts)
    assert counts["per_emotion"] == {"calm": 1, "sad": 1}
    assert counts["stories"] == 2 and counts["neutral"] == 1 and counts["attempts"] == 5
    by_reason = counts["rejections"]["story"]["by_reason"]
    assert by_reason["leaked_emotion_word"] == {"count": 1, "rate": 0.25}
    assert counts["rejections"]["neutral"]["rejected"] == 0
