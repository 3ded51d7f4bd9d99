"""`emovec steer ...` end to end on the tiny model saved as a local checkpoint."""

import json

import pytest

import emovec
import emovec.cli

from .conftest import make_bundle


@pytest.fixture(scope="module")
def local_model(model_dir, tmp_path_factory):
    backend = emovec.load_backend(str(model_dir))
    bundle = make_bundle(backend)
    path = bundle.save(tmp_path_factory.mktemp("bundle") / "vectors.safetensors")
    return str(model_dir), str(path)


@pytest.fixture
def steer(local_model):
    model, bundle = local_model

    def call(*argv: str) -> int:
        return emovec.cli.main(
            ["steer", argv[0], "--model", model, "--vectors", bundle, "--quiet", *argv[1:]]
        )

    return call


def test_generate_prints_both_texts(steer, capsys, tmp_path):
    assert (
        steer(
            "generate",
            "--steer",
            "calm:8",
            "--sites",
            "1",
            "--prompt",
            "Tell me a story.",
            "--max-new-tokens",
            "6",
            "--out",
            str(tmp_path),
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "--- unsteered:" in out and "--- steered (calm:8 at resid_post.1):" in out
    saved = json.loads((tmp_path / "generations.json").read_text())
    assert saved["generations"][0]["prompt"] == "Tell me a story."


def test_dose_writes_json_and_plots(steer, capsys, tmp_path):
    code = steer(
        "dose",
        "--emotion",
        "calm",
        "--metric",
        "prob:A|A,B",
        "--prompt",
        "Pick A or B.",
        "--strengths=-0.5,0.5",
        "--n-random",
        "3",
        "--no-side-effects",
        "--sites",
        "1",
        "--out",
        str(tmp_path),
    )
    assert code == 0
    assert "dose-response of 'calm'" in capsys.readouterr().out
    data = json.loads((tmp_path / "dose_response.json").read_text())
    assert data["strengths"] == [-0.5, 0.5] and len(data["random"][0][0]) == 3
    assert (tmp_path / "dose_response.png").exists() and (tmp_path / "dose_response.svg").exists()


def test_patch_and_suite(steer, capsys, tmp_path):
    assert (
        steer(
            "patch",
            "--source",
            "I am very happy",
            "--target",
            "I am very sad",
            "--last",
            "1",
            "--out",
            str(tmp_path),
        )
        == 0
    )
    assert "restored" in capsys.readouterr().out
    situations = tmp_path / "mine.jsonl"
    situations.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": f"s{i}",
                    "category": "c",
                    "situation": f"Task {i} is due.",
                    "honest": "say so",
                    "shortcut": "fake it",
                }
            )
            for i in range(2)
        )
    )
    assert (
        steer(
            "suite",
            "pressure",
            "--file",
            str(situations),
            "--n-random",
            "2",
            "--strengths",
            "0.5",
            "--out",
            str(tmp_path),
        )
        == 0
    )
    assert "pressure suite" in capsys.readouterr().out
    assert json.loads((tmp_path / "pressure.json").read_text())["settings"]["n_situations"] == 2


def test_errors_are_one_line_and_early(steer, capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was caught")

    monkeypatch.setattr(emovec, "load_backend", no_model)
    assert steer("generate", "--steer", "calmm:0.1", "--prompt", "x") == 1
    err = capsys.readouterr().err
    assert (
        "No emotion 'calmm'" in err
        and "Did you mean 'calm'" in err
        and len(err.strip().splitlines()) == 1
    )
    assert steer("generate", "--steer", "calm:nan", "--prompt", "x") == 1
    assert "strength must be a finite number" in capsys.readouterr().err
    assert steer("dose", "--emotion", "calm", "--metric", "probability", "--prompt", "x") == 1
    assert "Cannot read metric" in capsys.readouterr().err
