"""The server rules the sandbox applies to a request, and where a request broke them.

Loaded by `_server.py` from this folder by path (the sandbox refuses emovec's
packages, and this folder is one of them): it imports only the standard library, and nnsight
when unpickling. The rules come as data, `_whitelist.as_json()`, so there is one statement of
them (`_whitelist`); here they are only applied:

* the unpickler resolves globals from whitelisted modules only (plus the few nnsight and
  cloudpickle internals every request needs, each narrowed further);
* shipped source (the block, every function shipped by value) is scanned for imports outside
  the whitelist and dunder names before anything runs;
* code from the request runs with guarded builtins (`restricted`): imports outside the
  whitelist, dunder names given to `getattr` and friends, and `eval`-style builtins raise.

A refusal or failure is reported at the request's own line (`locate`, `failure`).
"""

import ast
import builtins
import linecache
import traceback
import types


class Rejected(Exception):
    """The request breaks a server rule (kind "rejected"), found before running it."""

    def __init__(self, problem: str, where: dict | None = None):
        super().__init__(problem if where is None else f"{_at(where)}: {problem}")
        self.problem, self.where = problem, where


class NotWhitelisted(ImportError):
    """Code from the request imported a module outside the whitelist."""


class Blocked(AttributeError):
    """Code from the request reached a dunder attribute or a blocked builtin."""


def _at(where: dict) -> str:
    return f"{where['filename']}:{where['line']}: `{where['text']}`"


class Rules:
    """The whitelist facts, applied; and which code of the current request is its own."""

    def __init__(self, facts: dict):
        self.allowed = set(facts["allowed_modules"])
        self.dunder_affix = facts["dunder"]
        self.dunder_min_length = facts["dunder_min_length"]
        self.blocked_builtins = set(facts["blocked_builtins"])
        self.attribute_builtins = set(facts["attribute_builtins"])
        self.internals = {tuple(pair) for pair in facts["unpickle_internals"]}
        self.builtin_types = set(facts["builtin_types"])
        self.safe_builtins = set(facts["safe_builtins_in_pickle"])
        self.restricted = self._restricted_builtins()
        self.block_file: str | None = None  # the block of the request being handled
        self.function_files: dict[str, str] = {}  # its functions shipped by value -> origin

    def begin(self) -> None:
        """Forget the previous request's code (call before unpickling the next one)."""
        self.block_file, self.function_files = None, {}

    # -- the rules ----------------------------------------------------------------------------
    def module_allowed(self, module: str) -> bool:
        return module.split(".", 1)[0] in self.allowed

    def dunder(self, name: str) -> bool:
        """`_whitelist.attribute_blocked`, from the facts it sent (one rule, one place)."""
        affix, shortest = self.dunder_affix, self.dunder_min_length
        return len(name) >= shortest and name.startswith(affix) and name.endswith(affix)

    def scan_source(self, source: str, filename: str, *, block: bool) -> None:
        """Refuse shipped code that imports outside the whitelist or reaches dunders.

        (Blocked builtins are refused when called: the code runs with `self.restricted`.)
        """
        lines = source.splitlines()

        def refuse(node, problem):
            text = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
            where = {"filename": filename, "line": node.lineno, "text": text, "block": block}
            raise Rejected(problem, where)

        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not self.module_allowed(alias.name):
                        refuse(node, f"Module {alias.name} is not whitelisted")
            elif isinstance(node, ast.ImportFrom):
                if node.level or not self.module_allowed(node.module or ""):
                    refuse(node, f"Module {node.module} is not whitelisted")
            elif isinstance(node, ast.Attribute) and self.dunder(node.attr):
                refuse(node, f"Attribute {node.attr} is blocked")
            elif isinstance(node, ast.Name) and self.dunder(node.id):
                refuse(node, f"{node.id} is blocked")

    # -- unpickling -----------------------------------------------------------------------------
    def unpickler(self):
        from nnsight.intervention.serialization import CustomCloudUnpickler

        rules = self

        class Strict(CustomCloudUnpickler):
            def find_class(self, module, name):
                return rules.find_class(module, name, super().find_class)

        return Strict

    def find_class(self, module, name, default):
        if (module, name) in self.internals:
            target = default(module, name)
            if name == "subimport":
                return self._checked_subimport
            if name == "_builtin_type":
                return self._checked_builtin_type(target)
            if name == "_load_function":
                return self._checked_load_function(target)
            return target
        if module == "builtins" and name in self.safe_builtins:
            return default(module, name)
        if not self.module_allowed(module):
            raise Rejected(f"Module {module} is not whitelisted (needed for {module}.{name})")
        if any(self.dunder(part) for part in name.split(".")):
            raise Rejected(f"Attribute {name} of {module} is blocked")
        return default(module, name)

    def _checked_subimport(self, name):
        import importlib

        if not self.module_allowed(name):
            raise Rejected(f"Module {name} is not whitelisted")
        return importlib.import_module(name)

    def _checked_builtin_type(self, target):
        def builtin_type(name):
            if name not in self.builtin_types:
                raise Rejected(f"Builtin type {name} is not allowed in a request")
            return target(name)

        return builtin_type

    def _checked_load_function(self, target):
        def load_function(source, name, defaults, kwdefaults, annotations, filename, line):
            self.function_files[f"[{name}:{line}] {filename}"] = filename
            self.scan_source("\n" * (line - 1) + source, filename, block=False)
            loaded = target(source, name, defaults, kwdefaults, annotations, filename, line)
            # Rebuilt against the restricted builtins (nnsight gives it the real ones).
            func = types.FunctionType(
                loaded.__code__, {"__builtins__": self.restricted}, name, defaults, None
            )
            func.__kwdefaults__ = loaded.__kwdefaults__
            func.__annotations__ = loaded.__annotations__
            return func

        return load_function

    # -- restricted builtins for code that came from the request ------------------------------
    def _restricted_builtins(self) -> dict:
        """A builtins namespace for request code only: guarded import, no dunder getattr."""
        rules = self
        namespace = dict(builtins.__dict__)
        original_import = builtins.__import__

        def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level or not rules.module_allowed(name):
                raise NotWhitelisted(f"Module {name} is not whitelisted")
            return original_import(name, globals, locals, fromlist, level)

        namespace["__import__"] = guarded_import
        for attr in self.attribute_builtins:
            original = getattr(builtins, attr)

            def guarded(obj, name, *rest, _original=original, _attr=attr):
                if isinstance(name, str) and rules.dunder(name):
                    raise Blocked(f"Attribute {name} is blocked ({_attr})")
                return _original(obj, name, *rest)

            namespace[attr] = guarded
        for attr in self.blocked_builtins - {"__import__"}:

            def refused(*args, _attr=attr, **kwargs):
                raise Blocked(f"{_attr}() is blocked on the server")

            namespace[attr] = refused
        return namespace

    # -- where a request failed -------------------------------------------------------------
    def locate(self, err: BaseException) -> dict | None:
        """The innermost line of the request's own code in `err`'s traceback.

        `block` says whether the line is in the block's shipped source (nnsight unparses the
        block, so its lines may differ from the client's file; the client maps them back) or
        in a function shipped by value (its own lines).
        """
        if getattr(err, "where", None):
            return err.where  # type: ignore[attr-defined]
        found, tb = None, err.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name == self.block_file or name in self.function_files:
                text = linecache.getline(name, tb.tb_lineno).strip()
                origin = self.function_files.get(name, name)
                block = name == self.block_file
                found = {"filename": origin, "line": tb.tb_lineno, "text": text, "block": block}
            tb = tb.tb_next
        return found


def _chain(err: BaseException) -> list[BaseException]:
    """`err` and what caused it, outermost first (nnsight may wrap what the block raised)."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def refusal(err: BaseException) -> BaseException | None:
    """The server-rule violation behind `err`, if one is."""
    broken = (Rejected, NotWhitelisted, Blocked)
    return next((e for e in _chain(err) if isinstance(e, broken)), None)


def failure(rules: Rules, err: BaseException) -> dict:
    """The reply for a request that raised: the refusal or error, at the request's line.

    For an error that broke no rule, the culprit is the first exception of the chain raised
    in the request's own code (not a library's exception it happened to be handling).
    """
    refused = refusal(err)
    if refused is not None:
        culprit = refused
    else:
        chain = _chain(err)
        culprit = next((e for e in chain if rules.locate(e) is not None), err)
    where = rules.locate(culprit)
    if isinstance(culprit, Rejected):
        problem = culprit.problem
    elif refused is not None:
        problem = str(culprit)
    else:
        problem = f"{type(culprit).__name__}: {culprit}"
    reply = {
        "error": "rejected" if refused is not None else "runtime",
        "message": problem if where is None else f"{_at(where)}: {problem}",
        "problem": problem,
        "where": where,
        "type": type(culprit).__name__,
    }
    if refused is None:
        reply["traceback"] = "".join(traceback.format_exception(err, limit=-8))
    return reply
