"""The core never imports a framework or an adapter; each adapter imports without the others."""

import subprocess
import sys

import pytest

FRAMEWORKS = ("transformer_lens", "nnsight", "transformers")


def test_import_emovec_loads_no_framework():
    code = (
        "import sys, emovec, emovec.ops, emovec.models\n"
        f"print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import emovec loaded: {out.stdout.strip()}"


def test_attach_plugins_import_no_framework():
    # Choosing an adapter must not import frameworks the model did not bring.
    code = (
        "import sys, torch, emovec\n"
        "try:\n    emovec.attach(torch.nn.Linear(2, 2))\nexcept TypeError:\n    pass\n"
        f"print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"attach loaded: {out.stdout.strip()}"


ADAPTER_PACKAGES = ("emovec_hf", "emovec_transformer_lens", "emovec_nnsight")

# A subprocess prelude: refuse to import the named packages, as if they were not installed.
BLOCK = """
import importlib, importlib.abc, pkgutil, sys
class Refuse(importlib.abc.MetaPathFinder):
    def __init__(self, names):
        self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError("blocked: " + name, name=name)
        return None
sys.meta_path.insert(0, Refuse(BLOCKED))
def every_module(package):
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if info.name.endswith("__main__"):  # running it would start the CLI
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    return names
"""


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_every_core_module_imports_without_any_adapter():
    code = f"BLOCKED = {ADAPTER_PACKAGES!r}\n" + BLOCK + "print(len(every_module('emovec')))\n"
    assert int(_run(code)) > 50  # the whole core was walked, not just its top


@pytest.mark.parametrize("adapter", ADAPTER_PACKAGES)
def test_each_adapter_imports_without_the_others(adapter):
    others = tuple(p for p in ADAPTER_PACKAGES if p != adapter)
    code = (
        f"BLOCKED = {others!r}\n"
        + BLOCK
        + f"mods = every_module({adapter!r})\n"
        + f"print(len(mods), ','.join(m for m in {others!r} if m in sys.modules))\n"
    )
    count, leaked = (_run(code).split(" ") + [""])[:2]
    assert int(count) >= 3 and leaked == "", f"{adapter} pulled in {leaked}"
