"""A strict stand-in for NDIF's server, run as its own isolated process (never imported).

`_sandbox.Sandbox` starts it as `python -I -S _server.py` and sends its
configuration (the whitelist facts, site-packages folders, accepted API keys) as the first
frame on stdin, never on the command line where `ps` would show it. `-I -S`: no current
directory, no user site, no `.pth` files (so the editable emovec finder in site-packages is
never installed), site-packages added back as plain folders, and a meta-path blocker that
refuses emovec's packages whoever asks. Then, like the server, it:

* unpickles a request with an unpickler that only resolves globals from whitelisted modules
  (plus the few nnsight/cloudpickle internals every request needs), so a `functools.partial`,
  a dataclass or an emovec object in the block's variables fails exactly where NDIF fails;
* scans the shipped source (the block, and every function shipped by value) for imports of
  non-whitelisted modules and dunder attributes before running anything;
* runs the block on a tiny deployed model with `__import__`, `getattr`-style builtins and
  `eval`-style builtins guarded for code that came from the request;
* returns only the values the block saved, or the refusal or error at the request's line;
* rehearses a request meant for a model it does not serve on a tiny stand-in of that model's
  architecture.

The rules and failure reports are `_rules.py`, the stand-in `_standin.py`, both
loaded from this folder by path.

Messages come back as frames on stdout: 8-byte little-endian length, then a pickle of plain
data (requests) or a `torch.save` blob (replies). This file imports only the standard library
until its paths are set, and never imports emovec.
"""

import io
import json
import linecache
import os
import pickle
import struct
import sys
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


def _sibling(name: str):
    """A server-side module from this folder, loaded by path (emovec's packages are refused)."""
    if name not in _SIBLINGS:
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
        spec = importlib.util.spec_from_file_location(f"sandbox{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SIBLINGS[name] = module
    return _SIBLINGS[name]


_SIBLINGS: dict = {}


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
        self.rules = _sibling("_rules").Rules(config["facts"])
        self.models: dict = {}
        self.standins: dict = {}  # stand-in key -> nnsight model (rehearsals)

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

        rules = self.rules
        rules.begin()
        tracer = RequestModel.deserialize(blob, persistent, compress, unpickler=rules.unpickler())
        frame = tracer.info.frame
        filename = rules.block_file = frame.f_code.co_filename
        rules.scan_source("".join(linecache.getlines(filename)), filename, block=True)
        # Every scope nnsight builds for the block starts from these two namespaces, and
        # `exec` takes a scope's own `__builtins__` entry as the block's builtins.
        frame.f_globals["__builtins__"] = rules.restricted
        frame.f_locals["__builtins__"] = rules.restricted
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

    def rehearse(self, request: dict) -> dict:
        """Run a request meant for another model on a tiny stand-in of its architecture.

        Nothing comes back but the verdict: {} when the block ran, "standin" when no
        stand-in could be built, or (from `main`) the refusal or error, located.
        """
        spec = request["standin"]
        try:
            if spec["key"] not in self.standins:
                self.standins[spec["key"]] = _sibling("_standin").build(spec)
        except Exception as err:
            return {"error": "standin", "message": f"{type(err).__name__}: {err}"}
        model = self.standins[spec["key"]]
        tracer = self.deserialize(
            request["blob"], request["compress"], model._remoteable_persistent_objects()
        )
        _sibling("_standin").narrow(tracer, spec["widths"])
        model._remoteable_set_env(request.get("env") or {})
        threads = self.torch.get_num_threads()
        self.torch.set_num_threads(1)  # tiny matrices: threads only contend with the client
        try:
            self.execute(tracer)
        finally:
            self.torch.set_num_threads(threads)
        return {}

    def run(self, request: dict) -> dict:
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
        return self.execute(tracer)

    def execute(self, tracer) -> dict:
        """Run a deserialised block; its saved values and the warnings it raised."""
        from nnsight.tracing.tracer import _saves, dec, inc

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


def main() -> None:
    config = json.loads(_read(sys.stdin.buffer) or b"{}")
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
            elif op == "rehearse":
                reply = server.rehearse(request)
            else:
                reply = {"error": "protocol", "message": f"unknown op {op!r}"}
        except Exception as err:  # the block raised on the server: report, keep serving
            reply = _sibling("_rules").failure(server.rules, err)
        buffer = io.BytesIO()
        try:
            torch.save(reply, buffer)
        except Exception as err:
            buffer = io.BytesIO()
            torch.save({"error": "runtime", "message": f"cannot return saves: {err}"}, buffer)
        _write(replies, buffer.getvalue())


if __name__ == "__main__":
    main()
