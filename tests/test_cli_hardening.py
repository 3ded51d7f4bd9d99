"""The bad-input table (tests/cli_cases.py) against the real CLI and API, and the page made
from it (docs/reliability.md)."""

from pathlib import Path

import pytest

from tests.cli_cases import all_cases, make_workspace, render, run_case

ROOT = Path(__file__).resolve().parents[1]
CASES = all_cases()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case run once (in its own copy of the workspace); the tests below judge them."""
    scratch = tmp_path_factory.mktemp("hardening")
    workspace = make_workspace(scratch / "workspace")
    return [run_case(c, workspace, scratch / f"case{i:03d}") for i, c in enumerate(CASES)]


def test_the_table_is_large_and_covers_every_command():
    assert len(CASES) >= 60
    commands = {c.argv[0] for c in CASES if c.argv}
    assert {"score", "extract", "report", "monitor", "steer", "vectors", "replicate"} <= commands
    assert {"files", "corpora", "arguments", "config", "file system", "python api"} == {
        c.group for c in CASES
    }
    assert len({(c.group, c.what) for c in CASES}) == len(CASES), "case names repeat"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.what for c in CASES])
def test_bad_input_gets_one_clear_line_and_leaves_nothing(outcomes, index):
    case, outcome = CASES[index], outcomes[index]
    assert outcome.code == case.code, outcome.message
    assert outcome.message.count("\n") == 0, f"not one line: {outcome.message!r}"
    assert case.problem in outcome.message and case.fix in outcome.message, outcome.message
    assert "Traceback" not in outcome.message and "Unknown model" not in outcome.message
    if case.call is None:
        assert outcome.message.startswith("emovec"), outcome.message
    assert outcome.left == [], f"left behind: {outcome.left}"


def test_reliability_page_is_current(outcomes):
    page = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert page == render(CASES, outcomes), (
        "docs/reliability.md is stale: run"
        " `PYTHONPATH=.:adapters python -m tests.cli_cases --write docs/reliability.md`"
    )


def test_config_values_go_through_the_parser_and_the_command_line_wins(tmp_path):
    from emovec.cli import _with_config, build_parser

    config = tmp_path / "c.toml"
    config.write_text(
        'out = "from-config"\nquiet = true\nwindow = 7\n'
        '[score]\nvectors = "v.safetensors"\npercentile = [50, 99.5]\n[extract]\nbogus = 1\n'
    )
    parser = build_parser()
    argv = ["score", "c.jsonl", "--config", str(config), "--window", "3"]
    args = _with_config(parser, parser.parse_args(argv), argv)
    assert args.out == Path("from-config") and isinstance(args.vectors, Path)
    assert (args.quiet, args.window, args.percentile) == (True, 3, [50.0, 99.5])
    argv = [*argv, "--percentile", "75"]  # a repeatable option given here replaces the list
    assert _with_config(parser, parser.parse_args(argv), argv).percentile == [75.0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, model_dir):
    from tests.monitor import random_bundle

    root = tmp_path_factory.mktemp("tiny")
    bundle = random_bundle(model_id=str(model_dir.resolve())).save(root / "v.safetensors")
    return model_dir, bundle


def test_quiet_hides_the_loading_bar_and_score_names_file_and_line(tiny, tmp_path, capsys):
    from emovec.cli import main

    model_dir, bundle = tiny
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "One text."}\n[1, 2]\n')
    argv = ["score", str(corpus), "--model", str(model_dir), "--vectors", str(bundle)]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "Loading weights" in err  # the bar the next run must hide
    assert f"{corpus}, line 2: a JSON array, not an object; skipped" in err
    assert main([*argv, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "Loading weights" not in err and "scoring" not in err
    assert err.strip() == f"{corpus}, line 2: a JSON array, not an object; skipped"


def test_monitor_failing_after_the_model_loaded_leaves_no_events_file(tiny, tmp_path, capsys):
    from emovec.cli import main
    from emovec.monitor import Rule, Threshold, dumps_rules

    model_dir, bundle = tiny
    rules = tmp_path / "r.toml"  # fires at once; its action names an emotion the bundle lacks
    action = {"kind": "intervene", "mode": "steer", "toward": "nosuch", "strength": 0.2}
    rule = Rule("x", Threshold("calm", above=-1e9, scale="raw"), action)
    rules.write_text(dumps_rules([rule], format="toml"))
    out = tmp_path / "mon"
    argv = ["monitor", "--vectors", str(bundle), "--model", str(model_dir), "--prompt", "hi"]
    assert main([*argv, "--rules", str(rules), "--out", str(out), "--quiet"]) == 1
    assert "No emotion 'nosuch'" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()  # a folder the user made stays, empty
    assert main([*argv, "--rules", str(rules), "--out", str(out), "--quiet"]) == 1
    assert list(out.iterdir()) == []
    assert main([*argv, "--out", str(out), "--quiet", "--max-new-tokens", "2"]) == 0
    assert {"events.jsonl", "heatmap.html", "readings.png"} <= {p.name for p in out.iterdir()}


@pytest.mark.real
def test_extract_on_the_real_model_with_paths_from_a_config(tmp_path, capsys):
    from emovec.cli import main
    from tests.cli_cases import STORIES, _lines

    corpus = tmp_path / "stories.jsonl"
    corpus.write_text(_lines(STORIES * 2))
    config = tmp_path / "run.toml"
    config.write_text(
        f'[extract]\ncorpus = "{corpus}"\nout = "{tmp_path / "vec"}"\nstart-token = 0\n'
        'neutral-variance = 0\nsites = "10:12"\nquiet = true\n'
    )
    assert main(["extract", "--config", str(config)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "vec").iterdir()) == ["emotion_vectors.safetensors"]
    one = tmp_path / "one.jsonl"  # the same run on one emotion stops before the model loads
    one.write_text(_lines([STORIES[0], STORIES[2]]))
    argv = ["extract", "--config", str(config), "--corpus", str(one), "--out", str(tmp_path / "o")]
    assert main([*argv, "--model", "no-such-model"]) == 1
    assert "one emotion only" in capsys.readouterr().err and not (tmp_path / "o").exists()
