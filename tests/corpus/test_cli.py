import json

import pytest

from emovec import cli

OPEN = ["--min-words", "0", "--max-repeated", "1.0", "--min-english", "0.0", "--min-ascii", "0.0"]


@pytest.fixture
def emovec_main():
    return cli.main


def test_generate_filter_stats(emovec_main, model_dir, tmp_path, capsys):
    out = tmp_path / "corpus"
    argv = ["corpus", "generate", "--model", str(model_dir), "--out", str(out)]
    argv += ["--limit-emotions", "2", "--topics-per-emotion", "1", "--stories-per-topic", "1"]
    argv += ["--neutral", "1", "--max-new-tokens", "3", "--answer-max-new-tokens", "2"]
    argv += ["--batch-size", "4", "--no-progress", *OPEN]
    assert emovec_main(argv) == 0
    shown = capsys.readouterr().out
    assert "3 texts generated" in shown and "stories 2 over 2 emotions" in shown
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["per_emotion"] == {"afraid": 1, "alarmed": 1}
    assert manifest["generation"]["max_new_tokens"] == 3

    assert emovec_main(argv) == 0  # rerun: everything is already done
    assert "0 texts generated, 3 already done" in capsys.readouterr().out

    strict = tmp_path / "strict"
    assert (
        emovec_main(["corpus", "filter", str(out), "--out", str(strict), "--min-words", "500"]) == 0
    )
    assert "too_short 2 (100.0%)" in capsys.readouterr().out

    assert emovec_main(["corpus", "stats", str(out), "--per-emotion"]) == 0
    shown = capsys.readouterr().out
    assert "neutral dialogues 1" in shown and "alarmed" in shown


def test_sharded_generate_asks_for_filter(emovec_main, model_dir, tmp_path, capsys):
    out = tmp_path / "corpus"
    argv = ["corpus", "generate", "--model", str(model_dir), "--out", str(out), "--shard", "1/2"]
    argv += ["--limit-emotions", "1", "--topics-per-emotion", "2", "--stories-per-topic", "1"]
    argv += ["--max-new-tokens", "2", "--no-progress", *OPEN]
    assert emovec_main(argv) == 0
    assert f"emovec corpus filter {out}" in capsys.readouterr().out
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["corpus", "generate", "--shard", "2/2"], "Shard 2/2 does not exist"),
        (["corpus", "generate", "--emotions", "/no/such/file.txt"], "does not exist"),
        (["corpus", "filter", "/no/such/folder"], "has no run.json"),
        (["corpus", "stats", "/no/such/folder"], "does not exist"),
    ],
)
def test_bad_input_is_one_clear_line(emovec_main, argv, message, capsys):
    assert emovec_main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
