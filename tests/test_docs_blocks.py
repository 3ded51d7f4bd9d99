"""Every shell and Python block in docs/ runs in a test or is marked as not run, with a reason
(the marks are described in tests/docs_blocks.py and CONTRIBUTING.md)."""

import os
import subprocess
import sys
from itertools import groupby
from pathlib import Path

import pytest

from tests.docs_blocks import ROOT, Block, all_blocks, page_blocks

BLOCKS = all_blocks()


def test_every_block_is_run_or_skipped_with_a_reason():
    assert len(BLOCKS) > 50  # the collector sees the pages
    for block in BLOCKS:
        assert block.mode in ("fast", "real", "raises", "skip"), block.where
        if block.mode == "skip":
            assert len(block.detail) >= 10, f"{block.where}: a skip needs its reason"
        if block.mode == "raises":
            assert block.detail.isidentifier(), f"{block.where}: raises NAME"
    assert any(b.mode == "fast" or b.mode == "raises" for b in BLOCKS)


def test_marks_are_read(tmp_path):
    page = tmp_path / "marks.md"
    page.write_text(
        "<!-- docs-test-page: skip: a page-wide reason -->\n\n```bash\nls\n```\n\n"
        "<!-- docs-test: raises KeyError -->\n```python\n{}['x']\n```\n\n```text\nnot code\n```\n"
    )
    blocks = page_blocks(page)
    assert [(b.language, b.mode, b.detail, b.line) for b in blocks] == [
        ("shell", "skip", "a page-wide reason", 3),
        ("python", "raises", "KeyError", 8),
    ]


def _run_page(blocks: list[Block], cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'adapters'}"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    namespace: dict[str, object] = {"__name__": "__docs__"}
    before = os.getcwd()
    os.chdir(cwd)
    try:
        for block in blocks:
            if block.language == "shell":
                done = subprocess.run(
                    ["bash", "-e", "-o", "pipefail", "-c", block.code],
                    cwd=cwd,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                assert done.returncode == 0, f"{block.where}:\n{done.stderr[-2000:]}"
                continue
            code = compile(block.code, block.where, "exec")
            if block.mode == "raises":
                with pytest.raises(Exception) as err:  # noqa: PT011 -- the class is checked below
                    exec(code, namespace)  # noqa: S102 -- the docs' own snippet
                assert type(err.value).__name__ == block.detail, block.where
            else:
                exec(code, namespace)  # noqa: S102 -- the docs' own snippet
    finally:
        os.chdir(before)


def _pages(modes: tuple[str, ...]) -> dict[str, list[Block]]:
    chosen = [b for b in BLOCKS if b.mode in modes]
    return {page: list(group) for page, group in groupby(chosen, key=lambda b: b.page)}


FAST = _pages(("fast", "raises"))
REAL = {p: bs for p, bs in _pages(("fast", "raises", "real")).items() if p in _pages(("real",))}


@pytest.mark.parametrize("page", sorted(FAST))
def test_fast_blocks_run(page, tmp_path):
    _run_page(FAST[page], tmp_path)


@pytest.mark.real
@pytest.mark.parametrize("page", sorted(REAL))
def test_real_blocks_run(page, tmp_path):
    """Pages whose blocks use the embedded model: every block not skipped, in order."""
    _run_page(REAL[page], tmp_path)
