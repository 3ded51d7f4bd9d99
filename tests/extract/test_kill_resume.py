"""A real `emovec extract` process killed with SIGKILL at several points, then resumed.

The resumed bundle must be bit-identical to an uninterrupted run's; a resume after one story
of the corpus was edited must be refused with one line naming the cause and the fix, leaving
the checkpoint as it was.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import emovec
from emovec.extract._checkpoint import read_checkpoint
from emovec.vectors import EmotionVectors

from .conftest import toy_neutral, toy_stories

pytestmark = pytest.mark.slow

ROOT = Path(emovec.__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    paths = [str(ROOT), str(ROOT / "adapters"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    stories = [dict(s, kind="story") for s in toy_stories(per_cell=5)]
    neutral = [{"kind": "neutral", "id": f"n{i}", "text": t} for i, t in enumerate(toy_neutral(24))]
    path.write_text("".join(json.dumps(r) + "\n" for r in stories + neutral))
    return path


def _argv(model_dir: Path, corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "emovec", "extract", "--model", str(model_dir),
        "--corpus", str(corpus), "--out", str(out), "--sites", "0:3", "--start-token", "4",
        "--batch-tokens", "48", "--checkpoint-every", "1", "--quiet", *extra,
    ]  # fmt: skip


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=300)


@pytest.fixture(scope="module")
def clean(model_dir, corpus, tmp_path_factory) -> EmotionVectors:
    out = tmp_path_factory.mktemp("clean") / "v.safetensors"
    done = _run(_argv(model_dir, corpus, out))
    assert done.returncode == 0, done.stderr
    return EmotionVectors.load(out)


def _processed(checkpoint: Path) -> dict[str, int]:
    try:
        _, header = read_checkpoint(checkpoint)
    except ValueError:  # not written yet
        return {}
    return {phase: len(ids) for phase, ids in header["processed"].items()}


def _kill_when(argv: list[str], checkpoint: Path, phase: str, at_least: int) -> dict[str, int]:
    """Start the run and SIGKILL it once its checkpoint holds `at_least` ids of `phase`."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if checkpoint.exists() and _processed(checkpoint).get(phase, 0) >= at_least:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return _processed(checkpoint)


def _same(a: EmotionVectors, b: EmotionVectors) -> None:
    assert a.emotions == b.emotions and a.sites == b.sites
    assert torch.equal(a.vectors, b.vectors)  # bit-identical, not merely close
    drop = ("created", "path")
    assert {k: v for k, v in a.metadata.items() if k not in drop} == {
        k: v for k, v in b.metadata.items() if k not in drop
    }


@pytest.mark.parametrize(("phase", "at_least"), [("story", 1), ("story", 30), ("neutral", 6)])
def test_killed_at_any_point_and_resumed_is_bit_identical(
    model_dir, corpus, clean, tmp_path, phase, at_least
):
    out = tmp_path / "v.safetensors"
    checkpoint = tmp_path / "v.checkpoint.safetensors"
    seen = _kill_when(_argv(model_dir, corpus, out), checkpoint, phase, at_least)
    assert seen.get(phase, 0) >= at_least and not out.exists()
    again = _run(_argv(model_dir, corpus, out, "--resume"))
    assert again.returncode == 0, again.stderr
    _same(EmotionVectors.load(out), clean)
    assert not checkpoint.exists()


def test_a_resume_after_a_story_was_edited_is_refused(model_dir, corpus, tmp_path):
    edited = tmp_path / "corpus.jsonl"
    edited.write_bytes(corpus.read_bytes())
    out = tmp_path / "v.safetensors"
    checkpoint = tmp_path / "v.checkpoint.safetensors"
    _kill_when(_argv(model_dir, edited, out), checkpoint, "story", 10)
    before = checkpoint.read_bytes()
    lines = edited.read_text().splitlines()
    first = json.loads(lines[0])
    lines[0] = json.dumps(dict(first, text=first["text"] + " Then the phone rang."))
    edited.write_text("\n".join(lines) + "\n")
    again = _run(_argv(model_dir, edited, out, "--resume"))
    assert again.returncode == 1
    # (the model's loading bar may precede it: --quiet's reach is the CLI's business)
    message = [line for line in again.stderr.splitlines() if "error" in line]
    assert len(message) == 1, again.stderr
    assert "corpus content" in message[0] and "--force" in message[0]
    assert not out.exists() and checkpoint.read_bytes() == before
