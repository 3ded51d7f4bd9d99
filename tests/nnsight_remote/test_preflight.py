"""The preflight refuses, before sending, each known way a block fails on NDIF, naming the line.

Each planted block below is a real `with model.trace(...)` whose one bad line carries the
marker `# PLANTED`; the error must name this file, that line number and its source text.
"""

import ast
import functools
import inspect
import os
import types
from dataclasses import dataclass

import pytest
import torch
from emovec_nnsight import PreflightError, SimulatedNDIF
from emovec_nnsight.remote._backend import Submission
from emovec_nnsight.remote._preflight import scan_block

import emovec.ops
from emovec import Edit, Site

from .conftest import KEY, make_remote

INPUTS = {
    "input_ids": torch.tensor([[5, 6, 7, 8]]),
    "attention_mask": torch.ones(1, 4, dtype=torch.long),
}


def planted_line(func) -> tuple[int, str]:
    lines, first = inspect.getsourcelines(func)
    for offset, line in enumerate(lines):
        if "# PLANTED" in line:
            return first + offset, line.strip()
    raise AssertionError(f"{func.__name__} has no planted line")


def emovec_function_call(backend):
    model, layers = backend.model, backend.layers
    basis = torch.eye(64)[:2]
    with model.trace(INPUTS, backend=Submission(backend)):
        x = layers[0].output
        layers[0].output = emovec.ops.reject(x, basis)  # PLANTED
        out = model.output.logits.save()
    return out


def emovec_method_call(backend):
    model, layers = backend.model, backend.layers
    edit = Edit.steer(Site(0), torch.ones(64), 2.0)
    with model.trace(INPUTS, backend=Submission(backend)):
        x = layers[0].output
        layers[0].output = edit.apply(x)  # PLANTED
        out = model.output.logits.save()
    return out


def partial_call(backend):
    model, layers = backend.model, backend.layers
    double = functools.partial(torch.mul, 2.0)
    with model.trace(INPUTS, backend=Submission(backend)):
        layers[1].output = double(layers[1].output)  # PLANTED
        out = model.output.logits.save()
    return out


@dataclass
class Knob:
    layer: int
    scale: float


def dataclass_value(backend):
    model, layers = backend.model, backend.layers
    knob = Knob(1, 2.0)
    with model.trace(INPUTS, backend=Submission(backend)):
        envoy = layers[knob.layer]  # PLANTED
        envoy.output = envoy.output * 2.0
        out = model.output.logits.save()
    return out


def dunder_access(backend):
    model, layers = backend.model, backend.layers
    with model.trace(INPUTS, backend=Submission(backend)):
        state = layers[0].output.__dict__  # PLANTED
        out = model.output.logits.save()
    return out, state


def forbidden_import(backend):
    model = backend.model
    with model.trace(INPUTS, backend=Submission(backend)):
        import json  # PLANTED

        out = model.output.logits.save()
    return out, json


PLANTED = {
    emovec_function_call: "emovec function emovec.ops._subspace.reject",
    emovec_method_call: "emovec Edit object",
    partial_call: "functools.partial",
    dataclass_value: "dataclass instance",
    dunder_access: "attribute `__dict__` is blocked",
    forbidden_import: "module `json` is not whitelisted",
}


@pytest.mark.parametrize("block", list(PLANTED), ids=lambda f: f.__name__)
def test_preflight_rejects_planted_failure(remote, sandbox, block):
    line, text = planted_line(block)
    sent = (sandbox.counts.get("check", 0), sandbox.counts.get("run", 0))
    with pytest.raises(PreflightError) as err:
        block(remote)
    message = str(err.value)
    assert f"{__file__}:{line}: `{text}`" in message, message
    assert PLANTED[block] in message, message
    now = (sandbox.counts.get("check", 0), sandbox.counts.get("run", 0))
    assert now == sent, "a rejected block must never reach the server"


def test_clean_block_passes_and_runs(remote, local):
    model, layers = remote.model, remote.layers
    scale = torch.tensor(2.0)
    with model.trace(INPUTS, backend=remote.nnsight_backend()):
        layers[1].output = layers[1].output * scale
        out = model.output.logits.save()

    with local.model.trace(INPUTS):
        local.layers[1].output = local.layers[1].output * scale
        want = local.model.output.logits.save()
    assert torch.allclose(out, want, atol=1e-5, rtol=0)


class Recording:
    """A transport that is not strict (like NDIF) and records what reaches it."""

    name, strict, requires_key = "recording", False, True

    def __init__(self, inner):
        self.inner, self.sent = inner, []

    def __getattr__(self, attr):
        return getattr(self.inner, attr)

    def send(self, request):
        self.sent.append(request)
        return self.inner.send(request)


def hidden_partial(backend):
    model, layers = backend.model, backend.layers
    holder = torch.nn.Identity()
    holder.hook = functools.partial(torch.mul, 2.0)  # an allowed object hiding a refused one
    with model.trace(INPUTS, backend=Submission(backend)):
        layers[0].output = holder(layers[0].output)
        out = model.output.logits.save()
    return out


def test_sandbox_cannot_import_emovec(sandbox):
    env = sandbox.environment()
    assert env["emovec_blocked"] is True
    assert env["packages"]["nnsight"] == "0.8.1"


def test_isolated_check_catches_what_the_scan_cannot_see(tokenizer, sandbox):
    transport = Recording(SimulatedNDIF(sandbox, api_key=KEY))
    backend = make_remote(tokenizer, sandbox, transport=transport)
    with pytest.raises(PreflightError, match="Module functools is not whitelisted"):
        hidden_partial(backend)
    assert transport.sent == []
    static_only = make_remote(tokenizer, sandbox, transport=transport, preflight="static")
    with pytest.raises(PreflightError, match="isolated server refused"):
        hidden_partial(static_only)  # the strict server itself refuses it too


def test_isolated_check_passes_clean_blocks(tokenizer, sandbox, local):
    """With a non-strict transport (as for NDIF) each clean request is rehearsed, then sent."""
    transport = Recording(SimulatedNDIF(sandbox, api_key=KEY))
    backend = make_remote(tokenizer, sandbox, transport=transport)
    rehearsals = sandbox.counts.get("rehearse", 0)
    edits = [Edit.steer(Site(1), torch.ones(64), 1.0)]
    logits = backend.run(["a clean block"], edits)
    gen = backend.generate(["a clean block"], max_new_tokens=3, edits=edits)
    assert sandbox.counts.get("rehearse", 0) == rehearsals + 2 and len(transport.sent) == 2
    assert torch.allclose(logits, local.run(["a clean block"], edits), atol=1e-5, rtol=0)
    assert (
        gen.token_ids == local.generate(["a clean block"], max_new_tokens=3, edits=edits).token_ids
    )


def test_nnsight_local_simulation_is_looser(remote):
    """nnsight's own remote="local" accepts a functools.partial that NDIF refuses."""
    model, layers = remote.model, remote.layers
    double = functools.partial(torch.mul, 2.0)
    with model.trace(INPUTS, remote="local"):
        layers[1].output = double(layers[1].output)
        out = model.output.logits.save()
    assert out.shape == (1, 4, 49152)


def _helper_using_os(x):
    return x * len(os.sep)


def test_scan_recurses_into_functions_shipped_by_value():
    helper = types.FunctionType(_helper_using_os.__code__, globals(), "_helper_using_os")
    helper.__module__ = "__main__"  # cloudpickle ships __main__ functions by value, as source
    body = ast.parse("y = helper(x)").body
    found = scan_block(
        body, "<block>", {"helper": helper, "x": 1.0}, lines=lambda n: "y = helper(x)"
    )
    line = inspect.getsourcelines(_helper_using_os)[1] + 1
    assert [(f.filename, f.line) for f in found] == [(__file__, line)], found
    assert "module `os` is not whitelisted" in found[0].problem
