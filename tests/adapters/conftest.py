"""The toy fourth adapter, registered the way an installed package registers one."""

import sys

import pytest

import emovec
from tests.adapters.toy_adapter import ToyWrapped
from tests.conftest import copy_of, tiny_llama

TOY_ENTRY_POINT = "toy = tests.adapters.toy_adapter._plugin"


def install_toy_distribution(folder) -> None:
    """A `*.dist-info` on `folder` that declares the toy adapter's `emovec.backends` entry point.

    It is what `pip install` of a package with this `pyproject.toml` table leaves behind:
    `[project.entry-points."emovec.backends"] toy = "tests.adapters.toy_adapter._plugin"`.
    """
    info = folder / "emovec_toy-0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: emovec-toy\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(f"[emovec.backends]\n{TOY_ENTRY_POINT}\n")


@pytest.fixture(scope="session")
def toy_installed(tmp_path_factory):
    """The toy distribution on `sys.path` for the session's toy tests."""
    folder = tmp_path_factory.mktemp("site-packages")
    install_toy_distribution(folder)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@pytest.fixture(scope="session")
def toy_backend(toy_installed, tokenizer):
    """The tiny random Llama (its own copy) behind the toy adapter, chosen by `attach`."""
    return emovec.attach(ToyWrapped(copy_of(tiny_llama()), tokenizer))
