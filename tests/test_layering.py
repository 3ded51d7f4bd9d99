"""The import graph of emovec and its adapters runs one way, with no cycles.

The graph is read from the source (AST), so it sees every import: module-level ones,
function-local ones (which hide cycles from Python's import machinery but not from a reader),
and `TYPE_CHECKING` ones. Each core module sits in a layer; a module may import its own layer
and the ones below, never one above, and no core module imports an adapter package.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("emovec_hf", "emovec_transformer_lens", "emovec_nnsight")

# Bottom to top. A module belongs to the first entry that is it or a package above it.
LAYERS: tuple[tuple[str, ...], ...] = (
    # the public vocabulary and the maths on it
    (
        "emovec._files",
        "emovec._dtype",
        "emovec._site",
        "emovec.ops",
        "emovec._batch",
        "emovec._provenance",
    ),
    ("emovec._edit",),
    # the backend contract, the toolkit adapters share, and finding an adapter
    (
        "emovec._backend",
        "emovec.adapterkit",
        "emovec._attach",
    ),
    # data: the catalogue, vector bundles, corpora, the default model's files
    ("emovec.catalogue", "emovec.vectors", "emovec.corpus", "emovec.models"),
    # the package's public face re-exports the vocabulary, the maths and the model loader
    ("emovec",),
    ("emovec.extract",),
    # what is done with the vectors
    (
        "emovec.analysis",
        "emovec.interventions",
        "emovec.monitor",
        "emovec.scoring",
        "emovec.interop",
    ),
    # what puts the analyses together
    ("emovec.report",),
    # the live monitor page serves what the monitor computes
    ("emovec.serve",),
    ("emovec.pipeline",),
    ("emovec.cli", "emovec.__main__"),
)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "adapters" if "adapters" in path.parts else ROOT)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    files = list((ROOT / "emovec").rglob("*.py"))
    for name in ADAPTERS:
        files += (ROOT / "adapters" / name).rglob("*.py")
    return {_module_name(p): p for p in files}


def _imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement anywhere in the file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                yield (sub if sub in known else module), node.lineno


def _graph() -> dict[str, dict[str, int]]:
    sources = _sources()
    known = set(sources)
    graph: dict[str, dict[str, int]] = {}
    for name, path in sources.items():
        edges = graph.setdefault(name, {})
        for target, line in _imports(name, path, known):
            # an import of a name inside one of our modules counts as that module
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                edges.setdefault(target, line)
    return graph


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer) of the most specific entry
    for index, entries in enumerate(LAYERS):
        for entry in entries:
            if module == entry or module.startswith(entry + "."):
                if best is None or len(entry) > best[0]:
                    best = (len(entry), index)
    return None if best is None else best[1]


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


GRAPH = _graph()


def test_the_graph_sees_function_local_imports():
    # a guard against a parser that silently finds nothing: `emovec replicate` imports the
    # pipeline inside its command function only
    assert len(GRAPH) > 100
    assert "emovec.pipeline._main_job" in GRAPH["emovec.cli._replicate"]


def test_every_core_module_has_a_layer():
    missing = [m for m in GRAPH if m.startswith("emovec") and m.split(".")[0] == "emovec"]
    missing = [m for m in missing if _layer(m) is None]
    assert not missing, f"add these modules to LAYERS in tests/test_layering.py: {missing}"


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    described = []
    for component in cycles:
        members = set(component)
        edges = [
            f"{a} -> {b} (line {GRAPH[a][b]})" for a in component for b in GRAPH[a] if b in members
        ]
        described.append("\n    ".join(edges))
    assert not cycles, "import cycles:\n  " + "\n  ".join(described)


def test_no_upward_imports():
    upward = []
    for module, edges in GRAPH.items():
        if module.split(".")[0] != "emovec":
            continue
        for target, line in edges.items():
            if target.split(".")[0] != "emovec":
                continue
            low, high = _layer(module), _layer(target)
            if low is not None and high is not None and high > low:
                upward.append(f"{module} (line {line}) imports {target}")
    assert not upward, "imports that go up a layer:\n  " + "\n  ".join(sorted(upward))


def test_the_core_imports_no_adapter():
    bad = [
        f"{module} (line {line}) imports {target}"
        for module, edges in GRAPH.items()
        if module.split(".")[0] == "emovec"
        for target, line in edges.items()
        if target.split(".")[0] in ADAPTERS
    ]
    assert not bad, "the core must not import adapters:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_adapters_do_not_import_each_other(adapter):
    bad = [
        f"{module} (line {line}) imports {target}"
        for module, edges in GRAPH.items()
        if module.split(".")[0] == adapter
        for target, line in edges.items()
        if target.split(".")[0] in ADAPTERS and target.split(".")[0] != adapter
    ]
    assert not bad, f"{adapter} imports another adapter:\n  " + "\n  ".join(bad)
