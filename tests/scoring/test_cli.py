"""`emovec score` end to end, on the tiny model saved as a local checkpoint folder."""

import json

import pytest

import emovec.cli
from tests.monitor import random_bundle, single_thread


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


def test_score_writes_profiles_and_a_filtered_corpus(setup, main, capsys, tmp_path):
    _, model_dir, bundle = setup
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "\n".join(json.dumps({"text": t}) for t in ["One text.", "Another, longer text here."])
        + "\nnot json\n"
    )
    rules = tmp_path / "keep.toml"
    rules.write_text(
        '[[rules]]\nname = "any"\nwhen = { kind = "threshold", emotion = "calm", above = -1000,'
        ' scale = "raw" }\n'
    )
    out = tmp_path / "scored"
    argv = ["score", str(corpus), "--model", str(model_dir), "--vectors", str(bundle)]
    assert main([*argv, "--filter", str(rules), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "scored 2 documents" in captured.out and "1 bad lines" in captured.out
    assert "line 3: not valid JSON" in captured.err
    assert len((out / "profiles.jsonl").read_text().splitlines()) == 2
    assert (out / "filtered.jsonl").read_text().splitlines() == corpus.read_text().splitlines()[:2]
    assert main([*argv, "--out", str(out), "--quiet"]) == 1
    assert "--force" in capsys.readouterr().err
