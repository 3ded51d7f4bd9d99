"""The bounded load test of `benchmarks/serve_load.py`, small, on the tiny random Llama: many
short chats and bad requests at once against a queue of two; nothing lost, nothing unexpected."""

import importlib.util
from pathlib import Path

import pytest

from emovec.serve import Engine, Limits, create_app, running
from tests.monitor import random_bundle, single_thread

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "serve_load.py"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from single_thread()


def load_module():
    spec = importlib.util.spec_from_file_location("serve_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_many_short_chats_at_once_lose_no_transcript(tiny_backends):
    engine = Engine(
        tiny_backends["hf"], random_bundle(), queue_size=2, defaults={"watch": ["calm"]}
    )
    try:
        with running(create_app(engine, Limits(max_chars=300))) as url:
            result = load_module().load_test(
                url, requests=30, concurrency=8, tokens=2, deadline_s=240, max_chars=300
            )
    finally:
        engine.close()
    assert result["problems"] == [] and result["alive"]
    assert result["lost"] == 0 and result["unexpected"] == 0
    assert result["completed"] == 24 and result["bad_answered"] == 6
    assert result["rejected_503"] > 0  # 8 clients on a queue of 2: the bound was reached
    assert engine.served == 24
