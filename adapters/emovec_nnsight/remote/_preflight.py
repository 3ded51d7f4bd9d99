"""Preflight: refuse, before anything is sent, a remote block that NDIF would reject.

Two checks run before every remote submission (and in the tests):

1. `scan_tracer`: a static scan of exactly what nnsight will ship: the `with` block's source
   (imports of non-whitelisted modules, dunder attributes, blocked builtins) and every value
   it references (`_preflight_values`: emovec functions and objects, `functools.partial`,
   dataclass instances, modules, classes and builtin-type subclasses from outside the
   whitelist), recursing into the source of functions that cloudpickle ships by value. Each
   problem names the file, line and source text.
2. The isolated check, in the sandbox process (`_server.py`), where emovec cannot be
   imported, the unpickler resolves only whitelisted globals and the block's builtins are
   guarded: the request is deserialised and run on a tiny stand-in of the hosted model
   (`_rehearsal`); `isolated_check` (deserialisation only) is the fallback where no
   stand-in can be built.

The facts all checks apply live in `_whitelist`.
"""

import ast
import builtins
import inspect
import linecache
import textwrap
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _whitelist as wl
from ._preflight_values import not_whitelisted, value_problems


@dataclass(frozen=True)
class Finding:
    """One reason NDIF would reject a block, at one line of its source."""

    filename: str
    line: int
    text: str
    problem: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}: `{self.text}`: {self.problem}"


class PreflightError(ValueError):
    """The block would be rejected by NDIF; nothing was sent.

    Attributes:
        findings: Every problem found, each naming its file, line and source text.
    """

    def __init__(self, findings: "list[Finding] | str"):
        self.findings = [] if isinstance(findings, str) else list(findings)
        if isinstance(findings, str):
            body = findings
        else:
            body = "\n".join(f"  {f}" for f in self.findings)
        super().__init__(
            "This block would be rejected by NDIF, so it was not sent"
            f" (facts {wl.FACTS_VERSION}):\n{body}\nRemote blocks may only hold torch"
            " operations on tensors and numbers captured as values; compute everything else"
            " client-side."
        )


# -- the source ------------------------------------------------------------------------------
def _line(filename: str, lineno: int) -> str:
    return linecache.getline(filename, lineno).strip()


def _stored_names(body: list[ast.stmt]) -> set[str]:
    """Names the statements bind themselves (assignments, loop targets, arguments, imports)."""
    names: set[str] = set()
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def _source_findings(
    body: list[ast.stmt], filename: str, lines: Any = None, bound: "set[str] | None" = None
) -> list[Finding]:
    """Imports, dunder attributes and blocked builtins in the shipped statements.

    `bound`: names that are the block's own or shipped values, so not builtins there.
    """
    bound = (bound or set()) | _stored_names(body)

    def text(node: ast.AST) -> str:
        lineno = getattr(node, "lineno", 0)
        if lines is not None:
            return lines(lineno)
        return _line(filename, lineno)

    found: list[Finding] = []

    def add(node: ast.AST, problem: str) -> None:
        found.append(Finding(filename, getattr(node, "lineno", 0), text(node), problem))

    for node in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not wl.module_allowed(alias.name):
                    add(node, not_whitelisted(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                add(node, "relative imports cannot run on NDIF (the block has no package there)")
            elif not wl.module_allowed(node.module or ""):
                add(node, not_whitelisted(node.module or ""))
        elif isinstance(node, ast.Attribute) and wl.attribute_blocked(node.attr):
            add(node, f"attribute `{node.attr}` is blocked on NDIF (dunder attributes are)")
        elif isinstance(node, ast.Name) and node.id in wl.BLOCKED_BUILTINS - bound:
            add(node, f"`{node.id}` is refused: it reaches around NDIF's import whitelist")
        elif isinstance(node, ast.Name) and wl.attribute_blocked(node.id):
            add(node, f"name `{node.id}` is blocked on NDIF (dunder names are)")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in wl.ATTRIBUTE_BUILTINS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and wl.attribute_blocked(node.args[1].value)
        ):
            add(node, f"attribute `{node.args[1].value}` is blocked on NDIF, via {node.func.id}()")
    return found


# -- putting it together ---------------------------------------------------------------------
def _chains(body: list[ast.stmt], name: str) -> list[tuple[str, int]]:
    """Dotted attribute chains rooted at `name` (`emovec.ops.reject`), with their lines."""
    found = []
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if not isinstance(node, ast.Attribute):
            continue
        parts, inner = [], node
        while isinstance(inner, ast.Attribute):
            parts.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name) and inner.id == name:
            found.append((".".join([name, *reversed(parts)]), node.lineno))
    # the longest chain per line: `emovec.ops.reject`, not also `emovec.ops`
    longest: dict[int, str] = {}
    for chain, line in found:
        if len(chain) > len(longest.get(line, "")):
            longest[line] = chain
    return sorted((chain, line) for line, chain in longest.items())


def _resolve(value: Any, chain: str) -> Any:
    for part in chain.split(".")[1:]:
        try:
            value = getattr(value, part)
        except AttributeError:
            return None
    return value


def _uses(body: list[ast.stmt], name: str) -> list[int]:
    return sorted(
        {
            n.lineno
            for stmt in body
            for n in ast.walk(stmt)
            if isinstance(n, ast.Name) and n.id == name
        }
    )


def scan_block(
    body: list[ast.stmt],
    filename: str,
    variables: Mapping[str, Any],
    *,
    header_line: int = 0,
    inputs: Mapping[str, Any] | None = None,
    lines: Any = None,
    _seen: set[int] | None = None,
) -> list[Finding]:
    """Everything in a block (its statements and referenced values) NDIF would refuse.

    Args:
        body: The block's statements, with their line numbers in `filename`.
        filename: Where the block was written (for messages).
        variables: The names the block reads and their values (what nnsight ships).
        header_line: The `with` line, for problems in the trace's own inputs.
        inputs: Arguments of the trace call (they travel inside the request too).
        lines: Optional `lineno -> source text` (default: read `filename`).

    Returns:
        The findings, in source order; empty when the block is fine.

    Example:
        >>> import ast, functools
        >>> tree = ast.parse("y = f(x)\\nz = x.__dict__")
        >>> found = scan_block(tree.body, "<demo>", {"f": functools.partial(max, 1), "x": 1.0},
        ...                    lines=lambda n: ["y = f(x)", "z = x.__dict__"][n - 1])
        >>> [(f.line, f.problem.split(":")[0]) for f in found]
        [(1, '`f` is a functools.partial of builtins.max'), (2, 'attribute `__dict__` is blocked on NDIF (dunder attributes are)')]
    """
    seen = set() if _seen is None else _seen
    found = _source_findings(body, filename, lines, set(variables))

    def text(lineno: int) -> str:
        return lines(lineno) if lines is not None else _line(filename, lineno)

    for name, value in variables.items():
        if isinstance(value, types.ModuleType) and not wl.module_allowed(value.__name__):
            # Name what the block reaches through the module (`emovec.ops.reject`), per line.
            for chain, lineno in _chains(body, name):
                target = _resolve(value, chain)
                if target is None or isinstance(target, types.ModuleType):
                    continue
                for problem, _ in value_problems(target, chain, 0, set()):
                    found.append(Finding(filename, lineno, text(lineno), problem))
            if any(f.problem.startswith(f"`{name}.") for f in found):
                continue
        for problem, function in value_problems(value, name, 0, seen):
            where = _uses(body, name) or [header_line]
            if function is not None:
                found.extend(_scan_function(function, seen))
                continue
            extra = (
                f" (also used at line {', '.join(map(str, where[1:]))})" if len(where) > 1 else ""
            )
            found.append(Finding(filename, where[0], text(where[0]), problem + extra))
    for name, value in (inputs or {}).items():
        for problem, function in value_problems(value, f"trace input {name}", 0, seen):
            if function is not None:
                found.extend(_scan_function(function, seen))
            else:
                found.append(Finding(filename, header_line, text(header_line), problem))
    return sorted(found, key=lambda f: (f.filename, f.line))


def _scan_function(func: types.FunctionType, seen: set[int]) -> list[Finding]:
    """Scan a function cloudpickle ships by value, as the server will see its source."""
    filename = func.__code__.co_filename
    try:
        source_lines, first = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return [
            Finding(
                filename,
                func.__code__.co_firstlineno,
                func.__name__,
                f"function {func.__qualname__} has no source to ship (nnsight would fall back to"
                " bytecode, which preflight refuses)",
            )
        ]
    tree = ast.parse(textwrap.dedent("".join(source_lines)))
    ast.increment_lineno(tree, first - 1)
    closure = {}
    if func.__closure__:
        for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
            try:
                closure[name] = cell.cell_contents
            except ValueError:
                pass
    names = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    variables = {}
    for name in sorted(names):
        if name in closure:
            variables[name] = closure[name]
        elif name in func.__globals__:
            variables[name] = func.__globals__[name]
        elif hasattr(builtins, name) and name in wl.BLOCKED_BUILTINS:
            variables[name] = getattr(builtins, name)
    first_node = tree.body[0] if tree.body else None
    if isinstance(first_node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        body = first_node.body
    else:
        body = tree.body
    return scan_block(body, filename, variables, _seen=seen)


def scan_tracer(tracer: Any) -> list[Finding]:
    """Scan what nnsight would ship for `tracer` (call from a backend's `__call__`).

    Uses nnsight's own `reduce_block`, so the values checked are exactly the ones that will
    be pickled: the names the block reads, from the frame it was written in.

    Example:
        >>> class Checked:  # an nnsight backend that refuses what NDIF would  # doctest: +SKIP
        ...     def __call__(self, tracer):
        ...         if found := scan_tracer(tracer):
        ...             raise PreflightError(found)
    """
    from nnsight.intervention.serialization import reduce_block

    node, frame = tracer.node, tracer.info.frame
    _, glbls, lcls = reduce_block(node, frame.f_globals, frame.f_locals)
    inputs: dict[str, Any] = {}
    for i, arg in enumerate(getattr(tracer, "args", ()) or ()):
        inputs[str(i)] = arg
    for key, arg in (getattr(tracer, "kwargs", {}) or {}).items():
        inputs[key] = arg
    return scan_block(
        node.body,
        frame.f_code.co_filename,
        {**glbls, **lcls},
        header_line=node.lineno,
        inputs=inputs,
    )


def isolated_check(blob: bytes, sandbox: Any, *, compress: bool) -> None:
    """Deserialise the request in the sandbox (no model): raise if the server would refuse it."""
    reply = sandbox.request("check", blob=blob, compress=compress)
    if reply.get("error") == "rejected":
        raise PreflightError(f"  in the isolated server check: {reply['message']}")
    if reply.get("error"):
        raise PreflightError(
            f"  the isolated server check could not deserialise the request: {reply['message']}"
        )
