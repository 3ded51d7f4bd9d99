"""docs/remote.md runs: every `python` block, in order, against `SimulatedNDIF`.

Only the lines marked `# dry run: replaced` change (the model id, the connection, a scratch
folder), by the mechanism the page itself documents, so the tutorial cannot rot unnoticed.
The run is also a key-safety check: with the key in `NDIF_API_KEY`, as the page tells users to
set it, nothing the tutorial writes contains it.
"""

import linecache
import re
from pathlib import Path

import pytest
import torch
from emovec_nnsight import RemoteNNsightBackend, SimulatedNDIF

from tests.conftest import tiny_llama

from .conftest import KEY, MODEL_ID, nnsight_model

DOC = Path(__file__).resolve().parents[2] / "docs" / "remote.md"
MARK = "# dry run: replaced"
REPLACED = {"MODEL_ID", "backend", "CHECKPOINT"}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def dry_run(code: str) -> tuple[str, set[str]]:
    """`code` with each marked assignment reading its value from `__dry_run__` instead."""
    names, lines = set(), []
    for line in code.splitlines():
        if line.rstrip().endswith(MARK):
            found = re.fullmatch(r"(\s*)([A-Za-z_]\w*) = .+", line.rstrip())
            assert found, f"a marked line must assign one name: {line!r}"
            indent, name = found.groups()
            names.add(name)
            line = f"{indent}{name} = __dry_run__[{name!r}]"
        lines.append(line)
    return "\n".join(lines) + "\n", names


def test_every_block_compiles_and_only_the_documented_lines_are_replaced():
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 8
    replaced = set()
    for i, block in enumerate(blocks):
        code, names = dry_run(block)
        compile(code, f"docs/remote.md python block {i + 1}", "exec")
        replaced |= names
    assert replaced == REPLACED
    assert "`MODEL_ID`" in DOC.read_text() and "`CHECKPOINT`" in DOC.read_text()


def test_the_lens_runs_remotely_and_equals_the_local_one(tokenizer, sandbox, local):
    from .conftest import make_remote

    backend = make_remote(tokenizer, sandbox)
    x = torch.randn(2, 3, backend.d_model, generator=torch.Generator().manual_seed(0))
    got = backend.unembed(x)
    assert got.shape == (2, 3, 49152) and backend.requests == 1
    assert torch.allclose(got, local.unembed(x), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_tutorial_runs_against_the_simulator(tokenizer, sandbox, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NDIF_API_KEY", KEY)  # where the page tells users to put it
    backend = RemoteNNsightBackend(
        nnsight_model(tokenizer, tiny_llama(0)), transport=SimulatedNDIF(sandbox), checker=sandbox
    )
    namespace = {
        "__name__": "docs_remote",
        "__dry_run__": {
            "MODEL_ID": MODEL_ID,
            "backend": backend,
            "CHECKPOINT": str(tmp_path / "dry-run-checkpoint"),
        },
    }
    for i, block in enumerate(python_blocks(DOC.read_text())):
        code, _ = dry_run(block)
        name = f"docs/remote.md python block {i + 1}"
        # nnsight compiles a `with` block from its source, which it reads through linecache.
        monkeypatch.setitem(linecache.cache, name, (len(code), None, code.splitlines(True), name))
        exec(compile(code, name, "exec"), namespace)

    vectors, packed = namespace["vectors"], namespace["packed"]
    assert len(vectors.emotions) == 171 and [s.layer for s in vectors.sites] == [0, 1, 2]
    assert torch.allclose(packed.vectors, vectors.vectors, atol=1e-5, rtol=0)
    assert namespace["report"].html.exists() and namespace["monitor"].zscores(0).shape[0] > 1
    assert namespace["reading"].shape[0] == 1 and namespace["means"].shape == (1, 64)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 10
    assert not [p for p in written if KEY.encode() in p.read_bytes()]
