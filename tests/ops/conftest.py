"""The ops as shipped (without runtime type checks), single-threaded.

Hypothesis profiles (`dev`, `ci`) are registered once for the whole suite in tests/conftest.py.
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import emovec.ops


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run these tests single-threaded, then restore the setting.

    Their matrices are tiny, so intra-op threads only add synchronisation, and on a loaded
    2-core machine every OpenMP barrier can stall for milliseconds (a 8 x 8 QR measured 16 ms
    with 2 threads, 8 us with 1).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shipped() -> ModuleType:
    """`emovec.ops` loaded again under another name, which the jaxtyping import hook skips.

    Under the suite's runtime type checks a wrong width is caught at the call, as a
    `TypeCheckError`, before the op's own validation runs; users see that validation (a
    `ValueError` with a fix in its message), so the error tests call this copy.
    """
    name = "unchecked_emovec_ops"
    if name not in sys.modules:
        path = Path(emovec.ops.__file__).parent
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
