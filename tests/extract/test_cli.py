import json

import pytest
import torch

from emovec import cli
from emovec.vectors import EmotionVectors

from .conftest import toy_neutral, toy_stories


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    stories = [dict(s, kind="story") for s in toy_stories(per_cell=1)[::2]]
    neutral = [{"kind": "neutral", "text": t} for t in toy_neutral(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in stories + neutral))
    return path


@pytest.fixture
def emovec_main():
    return cli.main


def test_extract_writes_a_bundle_and_info_reads_it(
    emovec_main, model_dir, corpus, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = ["extract", "--model", str(model_dir), "--corpus", str(corpus), "--out", str(out)]
    argv += ["--sites", "0:2", "--start-token", "4", "--quiet"]
    assert emovec_main(argv) == 0
    bundle = out / "emotion_vectors.safetensors"
    ev = EmotionVectors.load(bundle)
    assert len(ev.emotions) == 4 and [str(s) for s in ev.sites] == ["resid_post.0", "resid_post.1"]
    assert ev.metadata["corpus"]["source"] == str(corpus)
    assert not list(out.glob("*.checkpoint.safetensors"))
    assert "wrote" in capsys.readouterr().out

    assert emovec_main(argv) == 1  # refuses to overwrite
    assert "pass --force" in capsys.readouterr().err

    assert emovec_main(["vectors", "info", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "4 emotions x 2 sites" in shown and "resid_post.1" in shown
    assert emovec_main(["vectors", "info", str(bundle), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recipe"]["start"] == 4


def test_a_left_over_checkpoint_needs_resume_or_force(emovec_main, corpus, tmp_path, capsys):
    out = tmp_path / "v.safetensors"
    (tmp_path / "v.checkpoint.safetensors").write_bytes(b"partial")
    assert emovec_main(["extract", "--corpus", str(corpus), "--out", str(out)]) == 1
    assert "--resume" in capsys.readouterr().err


def test_info_on_a_corrupt_file_is_one_clear_line(emovec_main, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    assert emovec_main(["vectors", "info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.safetensors" in err and len(err.strip().splitlines()) == 1


def test_templates_flag_writes_the_control_equal_to_template_vectors(
    emovec_main, model_dir, corpus, tmp_path
):
    import emovec
    from emovec.extract import template_vectors

    out = tmp_path / "tmpl"
    argv = ["extract", "--model", str(model_dir), "--corpus", str(corpus), "--out", str(out)]
    # float32 on both paths: the CLI's default `--dtype auto` may pick bfloat16 on this CPU.
    assert (
        emovec_main([*argv, "--sites", "0:2", "--templates", "--quiet", "--dtype", "float32"]) == 0
    )
    ev = EmotionVectors.load(out / "emotion_vectors.safetensors")
    assert ev.metadata["control"]["kind"] == "templates"
    from emovec.extract import TEMPLATES

    assert ev.metadata["corpus"]["n_stories"] == len(TEMPLATES) * len(ev.emotions)
    backend = emovec.load_backend(str(model_dir))
    neutral = [{"text": t} for t in toy_neutral(3)]
    direct = template_vectors(backend, ev.emotions, neutral, sites="0:2", progress=False)
    assert direct.emotions == ev.emotions
    torch.testing.assert_close(ev.vectors, direct.vectors, rtol=0, atol=1e-6)


def test_extract_kind_speaker_and_deflection(emovec_main, model_dir, corpus, tmp_path, capsys):
    import random

    from tests.extract.test_speaker import EMOTIONS, dialogue, dialogues

    speaker_file = tmp_path / "speaker.jsonl"
    speaker_file.write_text("".join(json.dumps(d) + "\n" for d in dialogues()))
    out = tmp_path / "speaker"
    base = ["--model", str(model_dir), "--corpus", str(corpus), "--sites", "0:2", "--quiet"]
    argv = ["extract", "--kind", "speaker", "--dialogues", str(speaker_file), "--out", str(out)]
    assert emovec_main([*argv, *base, "--dtype", "float32"]) == 0
    present = EmotionVectors.load(out / "present_speaker.safetensors")
    other = EmotionVectors.load(out / "other_speaker.safetensors")
    assert (
        present.metadata["kind"] == "present-speaker" and other.metadata["kind"] == "other-speaker"
    )
    assert json.loads((out / "speaker.json").read_text())["chance"] == pytest.approx(1 / 3)
    assert emovec_main([*argv, *base]) == 1  # refuses to overwrite without --force
    assert "--force" in capsys.readouterr().err

    story_dir = tmp_path / "story"
    assert emovec_main(["extract", "--out", str(story_dir), "--start-token", "4", *base]) == 0
    rng = random.Random(2)
    rows = [
        {**dialogue(rng, f, "neutral", i), "speaker": "human", "felt": f, "shown": s}
        for i, (f, s) in enumerate((f, s) for f in EMOTIONS for s in EMOTIONS if f != s)
    ]
    defl_file = tmp_path / "deflection.jsonl"
    defl_file.write_text("".join(json.dumps(d) + "\n" for d in rows))
    dargv = [
        "extract",
        "--kind",
        "deflection",
        "--dialogues",
        str(defl_file),
        "--out",
        str(tmp_path / "d"),
    ]
    assert emovec_main([*dargv, *base]) == 1  # needs --story-vectors
    assert "--story-vectors" in capsys.readouterr().err
    assert emovec_main([*dargv, *base, "--story-vectors", str(story_dir)]) == 0
    dv = EmotionVectors.load(tmp_path / "d" / "deflection.safetensors")
    assert dv.metadata["kind"] == "deflection" and set(dv.emotions) == set(EMOTIONS)
    assert "fraction of each deflection vector" in (tmp_path / "d" / "deflection.txt").read_text()
    denial = json.loads((tmp_path / "d" / "denial.json").read_text())
    assert {r["emotion"] for r in denial["rows"]} == set(EMOTIONS)
    assert "Positive = more denial" in (tmp_path / "d" / "denial.txt").read_text()
