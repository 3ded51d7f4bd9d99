"""The house rules a maintainer relies on: no library module over 400 lines, no library
function over 100 lines (issue 17). Counted from the source, the same way `wc -l` and the
function's first and last line do."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 100


def _library_files() -> list[Path]:
    files = sorted((ROOT / "emovec").rglob("*.py")) + sorted((ROOT / "adapters").rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def _long_functions(path: Path, limit: int) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return [
        f"{name}:{node.lineno} {node.name} ({(node.end_lineno or 0) - node.lineno + 1})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > limit
    ]


def test_the_library_has_files_to_check() -> None:
    assert len(_library_files()) > 100


def test_no_library_module_over_400_lines() -> None:
    long = [
        f"{f.relative_to(ROOT)} ({n})"
        for f in _library_files()
        if (n := f.read_text(encoding="utf-8").count("\n")) > MAX_MODULE_LINES
    ]
    assert not long, "split these modules: " + ", ".join(long)


def test_no_library_function_over_100_lines() -> None:
    long = [item for f in _library_files() for item in _long_functions(f, MAX_FUNCTION_LINES)]
    assert not long, "shorten these functions: " + ", ".join(long)


@pytest.mark.parametrize("limit, expect", [(3, True), (50, False)])
def test_the_function_counter_sees_a_long_function(
    tmp_path: Path, limit: int, expect: bool
) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    a = 1\n    b = 2\n    c = 3\n    return a + b + c\n")
    assert bool(_long_functions(source, limit)) is expect
