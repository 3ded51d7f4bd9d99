"""`emovec monitor`, `monitor calibrate` and `monitor evaluate` end to end, on the tiny model
saved as a local checkpoint folder."""

import json

import pytest

import emovec.cli
from emovec.monitor import Calibration, read_events

from . import random_bundle, single_thread


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from single_thread()


@pytest.fixture(scope="module")
def setup(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("cli")
    bundle = random_bundle(model_id=str(model_dir.resolve())).save(root / "v.safetensors")
    return root, model_dir, bundle


@pytest.fixture
def main():
    return emovec.cli.main


def test_calibrate_monitor_and_evaluate(setup, main, capsys, tmp_path):
    root, model_dir, bundle = setup
    common = ["--model", str(model_dir), "--vectors", str(bundle), "--quiet"]
    assert main(["monitor", "calibrate", *common, "--max-new-tokens", "3"]) == 0
    cal = Calibration.load(root / "v.calibration.json")
    assert len(cal.sites) == 3 and cal.metadata["n_prompts"] == 20

    out = tmp_path / "run"
    argv = ["monitor", *common, "--prompt", "Hello there, how are you?", "--max-new-tokens", "4"]
    argv += ["--threshold", "-50", "--action", "intervene", "--toward", "happy", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "alert 'desperate+afraid+panicked z>-50'" in printed and ": intervene" in printed
    events = read_events(out / "events.jsonl")
    assert [events[0]["type"], events[-1]["type"]] == ["header", "end"]
    assert events[0]["sites"] == ["resid_post.2"] and events[0]["calibrated"]
    assert events[-1]["edits_added"] and events[-1]["edits_added"][0]["site"] == "resid_post.2"
    page = (out / "heatmap.html").read_text(encoding="utf-8")
    assert "desperate" in page and "http" not in page
    assert (out / "readings.png").exists() and (out / "readings.svg").exists()

    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        "\n".join(
            json.dumps({"id": i, "label": label, "text": text})
            for i, (label, text) in enumerate(
                [("neutral", "Name a fruit."), ("pressure", "Help, fire!"), ("neutral", "Hi.")]
            )
        )
    )
    ev_out = tmp_path / "eval"
    argv = ["monitor", "evaluate", *common, "--prompts", str(prompts), "--sites", "0,2"]
    assert main([*argv, "--max-new-tokens", "2", "--out", str(ev_out)]) == 0
    result = json.loads((ev_out / "evaluation.json").read_text())
    assert [r["site"] for r in result["sites"]] == ["resid_post.0", "resid_post.2"]
    assert (ev_out / "evaluation.png").exists()


def test_monitor_errors_are_one_line_and_early(setup, main, capsys, tmp_path):
    root, model_dir, bundle = setup
    assert main(["monitor", "--vectors", str(bundle)]) == 1
    assert "exactly one of --prompt" in capsys.readouterr().err
    assert main(["monitor", "--prompt", "hi"]) == 1
    assert "Pass --vectors BUNDLE" in capsys.readouterr().err
    assert main(["monitor", "evaluate", "--vectors", str(root / "missing.safetensors")]) == 1
    assert "missing.safetensors does not exist" in capsys.readouterr().err
    # A bad rules file is reported before the model loads (this model name would fail).
    bad = tmp_path / "r.toml"
    bad.write_text("[[rules]]\nname = 'x'\nwhen = { kind = 'bogus' }\n")
    argv = ["monitor", "--vectors", str(bundle), "--prompt", "hi", "--rules", str(bad)]
    assert main([*argv, "--model", "no-such-model"]) == 1
    assert "Unknown condition kind 'bogus'" in capsys.readouterr().err
