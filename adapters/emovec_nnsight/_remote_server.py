"""A strict stand-in for NDIF's server, run as its own isolated process (never imported).

`_remote_sandbox.Sandbox` starts it as `python -I -S _remote_server.py CONFIG_JSON`: no
current directory, no user site, no `.pth` files (so the editable emovec finder in
site-packages is never installed), site-packages added back as plain folders, and a
meta-path blocker that refuses emovec's packages whoever asks. Then, like the server, it:

* unpickles a request with an unpickler that only resolves globals from whitelisted modules
  (plus the few nnsight/cloudpickle internals every request needs), so a `functools.partial`,
  a dataclass or an emovec object in the block's variables fails exactly where NDIF fails;
* scans the shipped source (the block, and every function shipped by value) for imports of
  non-whitelisted modules, dunder attributes and blocked builtins before running anything;
* runs the block on a tiny deployed model with `__import__`, `getattr`-style builtins and
  `eval`-style builtins guarded for code that came from the request;
* returns only the values the block saved.

Messages come back as frames on stdout: 8-byte little-endian length, then a pickle of plain
data (requests) or a `torch.save` blob (replies). This file imports only the standard library
until its paths are set, and never imports emovec.
"""

import ast
import builtins
import io
import json
import linecache
import os
import pickle
import struct
import sys
import traceback
import warnings


def _read(stream):
    header = stream.read(8)
    if len(header) < 8:
        return None
    (size,) = struct.unpack("<Q", header)
    return stream.read(size)


def _write(stream, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


class Rejected(Exception):
    """The request breaks a server rule (kind "rejected")."""


class NotWhitelisted(ImportError):
    """Code from the request imported a module outside the whitelist."""


class Blocked(AttributeError):
    """Code from the request reached a dunder attribute or a blocked builtin."""


class _Blocker:
    """Meta-path finder that refuses emovec's packages, however they would be found."""

    def __init__(self, roots):
        self.roots = set(roots)

    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in self.roots:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed on the server)")
        return None


class Server:
    def __init__(self, config):
        import torch

        self.torch = torch
        self.config = config
        facts = config["facts"]
        self.allowed = set(facts["allowed_modules"])
        self.blocked_builtins = set(facts["blocked_builtins"])
        self.attribute_builtins = set(facts["attribute_builtins"])
        self.internals = {tuple(pair) for pair in facts["unpickle_internals"]}
        self.builtin_types = set(facts["builtin_types"])
        self.safe_builtins = set(facts["safe_builtins_in_pickle"])
        self.models: dict = {}
        self.restricted = self._restricted_builtins()

    # -- rules --------------------------------------------------------------------------------
    def module_allowed(self, module: str) -> bool:
        return module.split(".", 1)[0] in self.allowed

    @staticmethod
    def dunder(name: str) -> bool:
        return len(name) > 4 and name.startswith("__") and name.endswith("__")

    def scan_source(self, source: str, filename: str) -> None:
        """Refuse shipped code that imports outside the whitelist or reaches dunders.

        (Blocked builtins are refused when called: the block runs with `self.restricted`.)
        """
        lines = source.splitlines()

        def where(node):
            text = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
            return f"{filename}:{node.lineno}: `{text}`"

        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not self.module_allowed(alias.name):
                        raise Rejected(f"{where(node)}: Module {alias.name} is not whitelisted")
            elif isinstance(node, ast.ImportFrom):
                if node.level or not self.module_allowed(node.module or ""):
                    raise Rejected(f"{where(node)}: Module {node.module} is not whitelisted")
            elif isinstance(node, ast.Attribute) and self.dunder(node.attr):
                raise Rejected(f"{where(node)}: Attribute {node.attr} is blocked")
            elif isinstance(node, ast.Name) and self.dunder(node.id):
                raise Rejected(f"{where(node)}: {node.id} is blocked")

    # -- unpickling -----------------------------------------------------------------------------
    def unpickler(self):
        from nnsight.intervention.serialization import CustomCloudUnpickler

        server = self

        class Strict(CustomCloudUnpickler):
            def find_class(self, module, name):
                return server.find_class(module, name, super().find_class)

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
        import types

        def load_function(source, name, defaults, kwdefaults, annotations, filename, line):
            self.scan_source("\n" * (line - 1) + source, f"[{name}:{line}] {filename}")
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
        """A builtins namespace for block code only: guarded import, no dunder getattr."""
        server = self
        namespace = dict(builtins.__dict__)
        original_import = builtins.__import__

        def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level or not server.module_allowed(name):
                raise NotWhitelisted(f"Module {name} is not whitelisted")
            return original_import(name, globals, locals, fromlist, level)

        namespace["__import__"] = guarded_import
        for attr in self.attribute_builtins:
            original = getattr(builtins, attr)

            def guarded(obj, name, *rest, _original=original, _attr=attr):
                if isinstance(name, str) and server.dunder(name):
                    raise Blocked(f"Attribute {name} is blocked ({_attr})")
                return _original(obj, name, *rest)

            namespace[attr] = guarded
        for attr in self.blocked_builtins - {"__import__"}:

            def refused(*args, _attr=attr, **kwargs):
                raise Blocked(f"{_attr}() is blocked on the server")

            namespace[attr] = refused
        return namespace

    # -- requests -----------------------------------------------------------------------------
    def environment(self) -> dict:
        from importlib.metadata import version

        packages = {name: version(name) for name in ("nnsight", "torch", "transformers")}
        packages.update(self.config.get("server_versions") or {})
        import importlib

        try:
            importlib.import_module("emovec")
            isolated = False
        except ImportError:
            isolated = True
        return {"python_version": sys.version, "packages": packages, "emovec_blocked": isolated}

    def deployment(self, model_key: str):
        repo = json.loads(model_key.split(":", 1)[1]).get("repo_id")
        folder = (self.config.get("deployments") or {}).get(repo)
        if folder is None:
            raise LookupError(f"Model {repo!r} is not deployed on this server")
        if repo not in self.models:
            import torch
            from nnsight.modeling.transformers import TransformersModel
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder)
            module = AutoModelForCausalLM.from_pretrained(
                folder, dtype=torch.float32, attn_implementation="eager"
            ).eval()
            self.models[repo] = TransformersModel(module, tokenizer=tokenizer)
        return self.models[repo]

    def deserialize(self, blob: bytes, compress: bool, persistent: dict):
        from nnsight.schema.request import RequestModel

        tracer = RequestModel.deserialize(blob, persistent, compress, unpickler=self.unpickler())
        frame = tracer.info.frame
        filename = frame.f_code.co_filename
        self.scan_source("".join(linecache.getlines(filename)), filename)
        # Every scope nnsight builds for the block starts from these two namespaces, and
        # `exec` takes a scope's own `__builtins__` entry as the block's builtins.
        frame.f_globals["__builtins__"] = self.restricted
        frame.f_locals["__builtins__"] = self.restricted
        return tracer

    def check(self, request: dict) -> dict:
        class Anything(dict):
            """Resolves every persistent id (model parts) to a placeholder: no model needed."""

            def __contains__(self, key):
                return True

            def __getitem__(self, key):
                return object()

        self.deserialize(request["blob"], request["compress"], Anything(placeholder=None))
        return {}

    def run(self, request: dict) -> dict:
        from nnsight.tracing.tracer import _saves, dec, inc

        headers = request.get("headers") or {}
        keys = self.config.get("api_keys")
        if keys is not None:
            key = headers.get("ndif-api-key")
            if not key:
                return {"error": "auth", "message": "Missing API key"}
            if key not in keys:
                return {"error": "auth", "message": "Invalid API key"}
        server_version = self.environment()["packages"]["nnsight"]
        if headers.get("nnsight-version") != server_version:
            return {
                "error": "version",
                "message": "Failed to deserialize request (client nnsight"
                f" {headers.get('nnsight-version')}, server {server_version})",
            }
        try:
            model = self.deployment(request["model_key"])
        except LookupError as err:
            return {"error": "not_deployed", "message": str(err)}
        tracer = self.deserialize(
            request["blob"], request["compress"], model._remoteable_persistent_objects()
        )
        model._remoteable_set_env(request.get("env") or {})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            inc()
            try:
                tracer.execute(tracer.info.code)
                saves = _saves()
                result = {k: v for k, v in tracer.info.frame.f_locals.items() if id(v) in saves}
            finally:
                dec()
        return {"saves": result, "warnings": [str(w.message) for w in caught]}


def _refusal(err: BaseException) -> BaseException | None:
    """The server-rule violation behind `err` (nnsight may wrap what the block raised)."""
    seen = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (Rejected, NotWhitelisted, Blocked)):
            return current
        current = current.__cause__ or current.__context__
    return None


def main() -> None:
    config = json.loads(sys.argv[1])
    for path in config["site_packages"]:
        if path not in sys.path:
            sys.path.append(path)
    sys.meta_path.insert(0, _Blocker(config["facts"]["emovec_roots"]))
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the libraries print goes to the log, not into the reply channel
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer

    server = Server(config)
    import torch

    for repo in config.get("deployments") or {}:  # load now, while the client gets ready
        server.deployment("preload:" + json.dumps({"repo_id": repo}))

    while True:
        frame = _read(requests)
        if frame is None:
            return
        request = pickle.loads(frame)
        try:
            op = request["op"]
            if op == "hello":
                reply = {"env": server.environment()}
            elif op == "check":
                reply = server.check(request)
            elif op == "run":
                reply = server.run(request)
            else:
                reply = {"error": "protocol", "message": f"unknown op {op!r}"}
        except Exception as err:  # the block raised on the server: report, keep serving
            if _refusal(err) is not None:
                reply = {"error": "rejected", "message": str(_refusal(err))}
            else:
                reply = {
                    "error": "runtime",
                    "message": f"{type(err).__name__}: {err}",
                    "traceback": traceback.format_exc(limit=-8),
                }
        buffer = io.BytesIO()
        try:
            torch.save(reply, buffer)
        except Exception as err:
            buffer = io.BytesIO()
            torch.save({"error": "runtime", "message": f"cannot return saves: {err}"}, buffer)
        _write(replies, buffer.getvalue())


if __name__ == "__main__":
    main()
