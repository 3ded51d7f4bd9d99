"""`emovec report` end to end on the tiny model saved as a folder."""

import json

import pytest

from emovec import cli
from tests.report.test_report import synthetic_bundle


@pytest.fixture
def emovec_main():
    return cli.main


@pytest.fixture
def bundle(model_dir, tmp_path):
    return synthetic_bundle(str(model_dir.resolve()), n_emotions=30).save(
        tmp_path / "v.safetensors"
    )


def test_report_command_writes_the_report_and_markdown(
    emovec_main, model_dir, bundle, tmp_path, capsys
):
    extra = tmp_path / "mine.txt"
    extra.write_text(
        "family: debt\nprompt: I owe the bank ${x}.\nvalues: 10, 1000, 100000\nrises: afraid\n"
    )
    out, md = tmp_path / "report", tmp_path / "results.md"
    argv = ["report", str(bundle), "--model", str(model_dir), "--out", str(out), "--quiet"]
    argv += ["--resamples", "20", "--markdown", str(md), "--k", "4"]
    argv += ["--no-shipped-families", "--families", str(extra)]  # one family: fewer figures
    assert emovec_main(argv) == 0
    printed = capsys.readouterr().out
    assert "tylenol rho(dose, afraid)" in printed and "n/a" in printed and "wrote" in printed
    numbers = json.loads((out / "numbers.json").read_text())
    assert [f["family"] for f in numbers["sweeps"]["families"]] == ["debt"]
    assert numbers["similarity"]["k"] == 4
    assert (out / "report.html").is_file() and (out / "figures" / "sweep_debt.svg").is_file()
    text = md.read_text()
    assert "# Validation results (generated)" in text and "emovec report" in text


def test_bad_inputs_fail_with_one_clear_line(emovec_main, model_dir, bundle, tmp_path, capsys):
    base = ["report", str(bundle), "--model", str(model_dir), "--out", str(tmp_path / "o")]
    broken = tmp_path / "broken.txt"
    broken.write_text("family: x\nprompt: took {x} mg\nvalues 1, 2, 3\n")
    assert emovec_main([*base, "--families", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "broken.txt, line 3" in err and err.count("\n") == 1

    norms = tmp_path / "fruit.csv"
    norms.write_text("emotion,valence,arousal,dominance\napple,7,4,5\n")
    assert emovec_main([*base, "--norms", str(norms)]) == 1
    assert "fruit.csv rate only 0 of the 30 emotions" in capsys.readouterr().err

    other = synthetic_bundle("some-other-model").save(tmp_path / "other.safetensors")
    argv = ["report", str(other), "--model", str(model_dir), "--out", str(tmp_path / "o")]
    assert emovec_main(argv) == 1
    err = capsys.readouterr().err
    assert "extracted from another model" in err and "--model" in err
    assert not (tmp_path / "o").exists()
