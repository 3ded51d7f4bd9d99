"""Rehearse a remote block before it is sent: run it in the sandbox on a tiny stand-in model.

The static scan reads the block and the deserialisation check unpickles it, but a block can
pass both and still fail on NDIF when it runs: `getattr(x, "__di" + "ct__")` builds the name
at run time. So before every submission to a server that is not itself the strict sandbox,
the very request that will be sent is also run in the sandbox process (guarded builtins,
emovec not importable, strict unpickler) on a stand-in of the hosted model:

* the same architecture class, with every layer and the same module names (checked), but
  tiny widths (`TINY`) and random weights, built from the config the client already has
  (a hosted model's nnsight wrapper holds its config and tokenizer, not its weights);
* the request is not rebuilt: the sandbox deserialises the same bytes, narrows the
  floating-point tensors they carry where a dimension is a hosted width (`d_model` 4096 ->
  16) and folds token ids into the tiny vocabulary (`_standin.py`).

Verdicts: a server rule broken at run time (an import, a dunder attribute, a blocked
builtin), or a `NameError`/`ImportError` (which no width can cause), raises `PreflightError`
naming the block's line, and nothing is sent. Any other error on the stand-in (a shape it
cannot match, an index past its vocabulary) says nothing against the block, so it is a
`RehearsalWarning`, and the block is sent.

If no stand-in can be built (a multimodal config, an architecture from remote code, module
names that come out different), a `RehearsalWarning` says why, once per backend, and each
submission falls back to the deserialisation check. Not an error: the stand-in is a check of
our making, and its failure says nothing about the block, so refusing to send would lock
such models out for no fault of theirs; make the warning an error
(`warnings.simplefilter("error", RehearsalWarning)`) to insist.

Verdicts are cached per backend, by block shape (`block_shape`): the block's source and the
structure of what it reads, not tensor sizes or values, so a corpus loop rehearses each kind
of batch once.

nnsight's own `remote="local"` is not used here: it runs the deserialised block in-process
on the wrapper's own model, which for a hosted model has no weights (running it would load
them all), and it hides neither installed packages nor builtins. Everything it exercises
(serialise, deserialise, run) the rehearsal exercises in the stricter process.
"""

import ast
import copy
import hashlib
import linecache
import shutil
import tempfile
import time
import types
import warnings
import weakref
from typing import Any

import torch

from ._preflight import PreflightError, isolated_check

TINY = {"hidden": 16, "heads": 2, "intermediate": 32, "vocab": 256}
_INTERMEDIATE = ("intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size")
# Failures of the block itself, whatever the widths (the server would fail the same way).
_CERTAIN = ("NameError", "UnboundLocalError", "ImportError", "ModuleNotFoundError")
_DEPTH = 8


class RehearsalWarning(UserWarning):
    """The rehearsal could not decide (no stand-in, or an error that widths may cause)."""


class StandInError(ValueError):
    """No tiny stand-in can be described for this model."""


def shrink(config: Any) -> tuple[Any, list[tuple[int, int]]]:
    """A copy of `config` with tiny widths and every layer, and the widths that shrank.

    Example:
        >>> from transformers import LlamaConfig
        >>> tiny, widths = shrink(LlamaConfig(hidden_size=4096, intermediate_size=14336,
        ...     num_attention_heads=32, num_key_value_heads=8, num_hidden_layers=32,
        ...     vocab_size=128256))
        >>> tiny.hidden_size, tiny.num_hidden_layers, widths
        (16, 32, [(4096, 16), (14336, 32), (128256, 256)])
    """
    for nested in ("text_config", "vision_config", "audio_config"):
        if getattr(config, nested, None) is not None:
            raise StandInError(f"its config has a {nested} (multimodal models are not supported)")
    hidden = getattr(config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise StandInError(f"{type(config).__name__} has no integer hidden_size")
    tiny = copy.deepcopy(config)
    widths: list[tuple[int, int]] = []

    def narrow(name: str, size: int) -> None:
        old = getattr(tiny, name, None)
        if type(old) is int and old > size:
            setattr(tiny, name, size)
            if old not in {w for w, _ in widths}:
                widths.append((old, size))

    heads = getattr(config, "num_attention_heads", None)
    narrow("hidden_size", TINY["hidden"])
    if type(heads) is int:
        tiny.num_attention_heads = min(heads, TINY["heads"])
        kv = getattr(config, "num_key_value_heads", None)
        if type(kv) is int:
            tiny.num_key_value_heads = tiny.num_attention_heads if kv == heads else 1
        if getattr(config, "head_dim", None) is not None:
            tiny.head_dim = tiny.hidden_size // tiny.num_attention_heads
    for name in _INTERMEDIATE:
        narrow(name, TINY["intermediate"])
    narrow("vocab_size", TINY["vocab"])
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        value = getattr(tiny, name, None)
        if type(value) is int:
            setattr(tiny, name, value % tiny.vocab_size)
        elif isinstance(value, list):
            setattr(tiny, name, [v % tiny.vocab_size for v in value])
    if hasattr(tiny, "quantization_config"):
        del tiny.quantization_config  # the stand-in is plain float32
    return tiny, widths


def _path(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def stand_in(model: Any, tokenizer_dir: str | None) -> dict[str, Any]:
    """What the sandbox needs to build a tiny stand-in of `model` (an nnsight wrapper)."""
    inner = model._module
    tiny, widths = shrink(inner.config)
    layers = getattr(tiny, "num_hidden_layers", "?")
    spec = {
        "description": f"{type(inner).__name__} ({layers} layers, {tiny.hidden_size} wide)",
        "architecture": _path(type(inner)),
        "config_class": _path(type(tiny)),
        "config": tiny.to_json_string(use_diff=False),
        "wrapper": _path(type(model)),
        "module_names": sorted(name for name, _ in inner.named_modules()),
        "widths": widths,
        "tokenizer": tokenizer_dir,
    }
    spec["key"] = hashlib.sha256(repr(sorted(spec.items())).encode()).hexdigest()[:16]
    return spec


def block_shape(tracer: Any) -> str:
    """A digest of what decides how a block runs: its source, and the structure of its values.

    Tensors count by dtype and rank, floats and strings by type; ints, bools and None count by
    value in names, tuples and dicts (settings such as a layer or a reducer kind) and by type
    in lists (data); a list counts as the set of its elements' shapes.
    """
    from nnsight.intervention.serialization import reduce_block

    frame = tracer.info.frame
    source, glbls, lcls = reduce_block(tracer.node, frame.f_globals, frame.f_locals)
    inputs = (tuple(getattr(tracer, "args", ()) or ()), dict(getattr(tracer, "kwargs", {}) or {}))
    parts = (type(tracer).__qualname__, frame.f_code.co_filename, source)
    shapes = tuple(_shape(value, True, 0) for value in (glbls, lcls, inputs))
    return hashlib.sha256(repr((parts, shapes)).encode()).hexdigest()


def _shape(value: Any, setting: bool, depth: int) -> Any:
    if depth > _DEPTH:
        return "deep"
    kind = type(value)
    if kind in (bool, int, type(None)):
        return ("=", value) if setting else kind.__name__
    if kind in (float, complex, str, bytes):
        return kind.__name__
    if isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype), value.dim())
    if kind is tuple:
        return ("tuple", tuple(_shape(item, True, depth + 1) for item in value))
    if kind in (list, set, frozenset):
        items = {repr(_shape(item, False, depth + 1)) for item in value}
        return (kind.__name__, tuple(sorted(items)))
    if kind is dict:
        items = ((repr(k), _shape(v, True, depth + 1)) for k, v in value.items())
        return ("dict", tuple(sorted(items, key=lambda pair: pair[0])))
    if isinstance(value, types.ModuleType):
        return ("module", value.__name__)
    return ("object", f"{kind.__module__}.{kind.__qualname__}")


def shipped_lines(tracer: Any) -> dict[int, int]:
    """Line numbers of the block as shipped (nnsight unparses it) -> lines of its file."""
    node = tracer.node
    written = ast.Module(body=node.body, type_ignores=[])
    padding = "\n" * (node.body[0].lineno - 1)
    shipped = ast.parse(padding + ast.unparse(written))
    lines: dict[int, int] = {}
    for ours, theirs in zip(ast.walk(shipped), ast.walk(written), strict=False):
        if type(ours) is not type(theirs):
            break  # not a faithful round trip: keep the lines found so far
        if isinstance(ours, (ast.stmt, ast.expr)) and isinstance(theirs, (ast.stmt, ast.expr)):
            lines.setdefault(ours.lineno, theirs.lineno)
    return lines


class Rehearsal:
    """Rehearsals of one model's blocks, with their cached verdicts.

    Attributes:
        runs: Rehearsals run in the sandbox.
        skipped: Submissions whose block shape had already passed.
        seconds: Time spent in rehearsals (including building the stand-in).
        fallback: Why no stand-in could be built, once that is known; None otherwise.
    """

    def __init__(self, model: Any):
        self.model = model
        self.verdicts: dict[str, str] = {}
        self.runs = self.skipped = 0
        self.seconds = 0.0
        self.fallback: str | None = None
        self._spec: dict[str, Any] | None = None

    def spec(self) -> dict[str, Any]:
        """The stand-in's description (saves the tokenizer once, for the sandbox to load)."""
        if self._spec is None:
            folder = None
            tokenizer = getattr(self.model, "tokenizer", None)
            if tokenizer is not None:
                folder = tempfile.mkdtemp(prefix="emovec-standin-")
                weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
                tokenizer.save_pretrained(folder)
            self._spec = stand_in(self.model, folder)
        return self._spec

    def check(
        self, tracer: Any, blob: bytes, *, compress: bool, sandbox: Any, env: dict[str, Any]
    ) -> None:
        """Rehearse `tracer`'s serialised request `blob`; raise `PreflightError` if NDIF would
        refuse it (the deserialisation check instead, when no stand-in can be built)."""
        shape = block_shape(tracer)
        if shape in self.verdicts:
            self.skipped += 1
            return
        start = time.perf_counter()
        try:
            reply = self._rehearse(blob, compress, sandbox, env)
        finally:
            self.seconds += time.perf_counter() - start
        if reply is None:
            isolated_check(blob, sandbox, compress=compress)
            return
        if reply.get("error") is None:
            self.verdicts[shape] = "passed"
            return
        where = _located(tracer, reply.get("where"))
        stage = f"rehearsal on a tiny stand-in {self.spec()['description']}"
        problem = reply.get("problem") or reply.get("message", "")
        said = f"{where}: {problem}" if where else problem
        # A NameError/ImportError counts only when the block's own line raised it.
        certain = reply.get("type") in _CERTAIN and reply.get("where") is not None
        if reply["error"] == "rejected" or certain:
            raise PreflightError(f"  {said}\n  (found in the {stage})")
        self.verdicts[shape] = "inconclusive"
        warnings.warn(
            f"The {stage} stopped at {said}. The stand-in's widths are tiny, so this need not"
            " fail on NDIF; server rules were checked up to that line. Sending the block.",
            RehearsalWarning,
            stacklevel=2,
        )

    def _rehearse(self, blob: bytes, compress: bool, sandbox: Any, env: dict) -> dict | None:
        if self.fallback is None:
            try:
                spec = self.spec()
            except (StandInError, AttributeError, TypeError, ValueError, OSError) as err:
                self._fall_back(str(err))
            else:
                self.runs += 1
                reply = sandbox.request(
                    "rehearse", blob=blob, compress=compress, standin=spec, env=env
                )
                if reply.get("error") != "standin":
                    return reply
                self._fall_back(reply["message"])
        return None

    def _fall_back(self, reason: str) -> None:
        self.fallback = reason
        warnings.warn(
            f"Cannot build a tiny stand-in of {type(self.model._module).__name__} to rehearse"
            f" remote blocks on ({reason}). Falling back to the static scan and the"
            " deserialisation check, which cannot see names built at run time; report the"
            " architecture, or make this an error with"
            " warnings.simplefilter('error', RehearsalWarning).",
            RehearsalWarning,
            stacklevel=4,
        )


def _located(tracer: Any, where: dict | None) -> str:
    """`file:line: \\`text\\`` in the client's own file (block lines mapped back)."""
    if not where:
        return ""
    filename, line, text = where["filename"], where["line"], where["text"]
    if where.get("block"):
        written = shipped_lines(tracer).get(line)
        if written is not None:
            line, text = written, linecache.getline(filename, written).strip() or text
    return f"{filename}:{line}: `{text}`"
