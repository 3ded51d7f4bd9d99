import json
import os
import stat

import pytest

from emovec._files import atomic_open, write_atomic, write_json
from emovec.corpus import atomic_open as corpus_atomic_open
from emovec.vectors import write_atomic as vectors_write_atomic


@pytest.fixture
def umask():
    """Run the test under a chosen umask and put the old one back afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_written_files_get_the_mode_open_would_give(tmp_path, umask, mask):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what an ordinary open gives under this umask
    written = [
        write_atomic(tmp_path / "a.bin", b"abc"),
        write_json(tmp_path / "b.json", {"a": 1}),
    ]
    with atomic_open(tmp_path / "c.txt") as handle:
        handle.write("c")
    written.append(tmp_path / "c.txt")
    assert _mode(plain) == 0o666 & ~mask
    for path in written:
        assert _mode(path) == _mode(plain), path


def test_the_old_names_are_the_one_writer():
    assert corpus_atomic_open is atomic_open
    assert vectors_write_atomic is write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_json(tmp_path / "x.json", {"old": True})
    with pytest.raises(ValueError, match="Out of range float"):
        write_json(path, {"new": float("nan")}, allow_nan=False)
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_json_is_utf8_with_a_final_newline_and_keeps_key_order(tmp_path):
    path = write_json(tmp_path / "x.json", {"z": "ü", "a": [1, 2]}, indent=None)
    assert path.read_bytes() == '{"z": "ü", "a": [1, 2]}\n'.encode()


def test_default_turns_unknown_values_into_json(tmp_path):
    path = write_json(tmp_path / "x.json", {"p": tmp_path}, default=str)
    assert json.loads(path.read_text()) == {"p": str(tmp_path)}


def test_append_mode_is_refused_with_a_pointer(tmp_path):
    with pytest.raises(ValueError, match="append in place"), atomic_open(tmp_path / "x", "a"):
        pass
