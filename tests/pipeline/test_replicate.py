"""`emovec replicate` end to end on the tiny model and a toy corpus, and the stage cache."""

import json

import pytest

import emovec.cli
from emovec.corpus import Record
from emovec.corpus._records import build_manifest, write_json, write_jsonl
from emovec.pipeline import Stage, StageCache

EMOTIONS = ("desperate", "calm", "afraid", "panicked", "happy", "sad", "angry", "bored")
TOPICS = ("rain", "a lost key", "the night shift", "a letter")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("replicate")
    (root / "model").symlink_to(model_dir, target_is_directory=True)
    stories = [
        Record(
            f"story/{e}/t{t:03d}/s0",
            "story",
            e,
            topic,
            f"About {topic}: the {e} feeling came back as the hours went by, slowly and"
            f" again, while everyone waited for news number {t} that never came.",
            "m",
            1,
        )  # fmt: skip
        for e in EMOTIONS
        for t, topic in enumerate(TOPICS)
    ]
    neutral = [
        Record(f"neutral/n{i:03d}/s0", "neutral", None, "git",
               f"Human: How do I list files {i}?\nAssistant: Use ls -la in the folder.", "m", 1)
        for i in range(6)
    ]  # fmt: skip
    corpus = root / "corpus"
    write_jsonl(corpus / "stories.jsonl", stories)
    write_jsonl(corpus / "neutral.jsonl", neutral)
    manifest = build_manifest(
        stories + neutral, generation={}, filters={}, prompt_version="v", files={}
    )
    write_json(corpus / "manifest.json", manifest)
    return root


def test_quick_replicate_writes_every_stage_and_reuses_them(setup, capsys):
    out = setup / "run"
    argv = ["replicate", "--model", str(setup / "model"), "--corpus", str(setup / "corpus"),
            "--out", str(out), "--quick", "--markdown", str(setup / "results.md")]  # fmt: skip
    assert emovec.cli.main(argv) == 0
    printed = capsys.readouterr()
    for stage in ("vectors", "validation", "report", "monitor", "steer"):
        record = json.loads((out / "stages" / f"{stage}.json").read_text())
        assert all((out / f).exists() for f in record["files"]), stage
    assert (out / "vectors" / "emotion_vectors.safetensors").exists()
    assert (out / "report" / "report.html").exists()
    assert (out / "monitor" / "events.jsonl").read_text().strip()
    headline = json.loads((out / "headline.json").read_text())
    assert any(k.startswith("held-out top-1") for k in headline)
    assert any(k.startswith("monitor AUROC") for k in headline)
    assert any(k.startswith("steer desperate") for k in headline)
    page = (setup / "results.md").read_text()
    assert page == (out / "results.md").read_text() and "| check | ours |" in page
    assert "report:" in printed.out

    assert emovec.cli.main(argv) == 0  # nothing changed: every stage is reused
    assert printed.err.count("running") >= 5
    again = capsys.readouterr().err
    assert again.count("unchanged inputs") == 5 and "] running" not in again


def test_stage_cache_reruns_on_changed_inputs_or_force(tmp_path):
    calls = []

    def make(value):
        def run(out):
            calls.append(value)
            (out / "x.txt").write_text(str(value))
            return {"x_file": "x.txt"}

        return Stage("s", {"value": value}, run)

    quiet = {"say": lambda _: None}
    StageCache(tmp_path, **quiet).run(make(1))
    StageCache(tmp_path, **quiet).run(make(1))
    assert calls == [1]
    StageCache(tmp_path, **quiet).run(make(2))
    assert calls == [1, 2]
    StageCache(tmp_path, force=True, **quiet).run(make(2))
    assert calls == [1, 2, 2]
    (tmp_path / "x.txt").unlink()  # an output went missing: rerun
    StageCache(tmp_path, **quiet).run(make(2))
    assert calls == [1, 2, 2, 2]
