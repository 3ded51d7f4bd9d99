"""Adding a fourth adapter touches only its own folder and its entry point.

The toy adapter (tests/adapters/toy_adapter) is found by `emovec.attach` through the entry point
a distribution declares, meets the `Backend` contract, and runs the shared conformance and
hygiene tests (test_conformance.py, test_hygiene.py) beside the shipped three.
"""

import ast
from pathlib import Path

import pytest
import torch

import emovec
from emovec import Site
from emovec._backend import CONTRACT
from tests.adapters.toy_adapter import ToyWrapped

TOY = Path(__file__).parent / "toy_adapter"
ROOT = Path(__file__).resolve().parents[2]


def test_the_entry_point_makes_it_an_installed_adapter(toy_installed):
    assert "toy" in emovec.adapters()
    assert emovec.adapters()[:3] == ["nnsight", "transformer_lens", "hf"]


def test_attach_picks_it_and_it_meets_the_contract(toy_backend):
    assert type(toy_backend).__name__ == "ToyBackend"
    assert isinstance(toy_backend, emovec.Backend)
    missing = [name for name in CONTRACT if not hasattr(toy_backend, name)]
    assert missing == []
    record = toy_backend.provenance
    assert (record.adapter, record.model_id, record.dtype) == (
        "toy",
        "tiny-random-llama",
        "float32",
    )
    assert record.compatibility_mode is None


def test_it_gives_the_same_activations_as_hf(toy_backend, tiny_backends):
    hf = tiny_backends["hf"]
    batch = hf.tokenize(["The kettle clicked off.", "Hi"])
    sites = [Site(0, "resid_pre"), Site(1), Site(hf.n_layers - 1)]
    want, got = hf.capture(batch, sites), toy_backend.capture(batch, sites)
    for site in sites:
        torch.testing.assert_close(got[site], want[site], rtol=0, atol=1e-5)


def test_an_adapter_without_a_part_way_start_says_so(toy_backend):
    assert toy_backend.resumable is False
    batch = toy_backend.tokenize(["Hi there"])
    hidden = toy_backend.capture(batch, [Site(0)])[Site(0)]
    with pytest.raises(NotImplementedError, match="toy adapter cannot start a forward part-way"):
        toy_backend.capture_from(batch, Site(0), hidden, [Site(1)])


def test_the_contract_check_names_what_is_missing():
    assert not isinstance(object(), emovec.Backend)
    assert not isinstance(ToyWrapped(None, None), emovec.Backend)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_it_uses_only_the_public_toolkit_and_no_other_adapter():
    used = set().union(*(_imports(p) for p in TOY.glob("*.py")))
    roots = {name.split(".")[0] for name in used}
    assert not roots & {"emovec_hf", "emovec_transformer_lens", "emovec_nnsight"}
    assert {m for m in used if m.startswith("emovec")} <= {
        "emovec",
        "emovec._batch",
        "emovec.adapterkit",
        "emovec.models",
    }


def test_nothing_outside_its_folder_names_it_but_the_registration_and_tests():
    named = {
        path.relative_to(ROOT).as_posix()
        for folder in ("emovec", "adapters", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if "toy_adapter" in path.read_text() and TOY not in path.parents
    }
    assert named == {
        "tests/adapters/conftest.py",  # the entry point, as a distribution declares it
        "tests/adapters/test_fourth_adapter.py",
    }
