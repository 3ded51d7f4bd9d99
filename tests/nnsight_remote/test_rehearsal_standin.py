"""The rehearsal: before a block goes to NDIF, it runs in the sandbox on a tiny stand-in.

Here the tiny test model plays the hosted model and the transport is not strict (as NDIF's
is not), so each block is rehearsed on a stand-in of it (16 wide instead of 64, a 256-token
vocabulary instead of 49152, every layer) before it is sent. Blocks marked `# PLANTED` fail
only at run time, where no scan and no deserialisation can see them.
"""

import warnings

import pytest
import torch
from emovec_nnsight import PreflightError, SimulatedNDIF
from emovec_nnsight.remote._preflight import isolated_check
from emovec_nnsight.remote._rehearsal import RehearsalWarning

from emovec import Edit, MeanFrom, Site, keep

from .conftest import KEY, make_remote
from .test_preflight import INPUTS, Recording, planted_line


def to_ndif(tokenizer, sandbox, **kwargs):
    transport = Recording(SimulatedNDIF(sandbox, api_key=KEY))
    return make_remote(tokenizer, sandbox, transport=transport, **kwargs), transport


def dunder_built_at_run_time(backend):
    model, layers = backend.model, backend.layers
    with model.trace(INPUTS, backend=backend.nnsight_backend()):
        x = layers[0].output

        # the name exists only at run time (and nnsight ships this block without comments)
        name = "__di" + "ct__"
        state = getattr(x, name)  # PLANTED
        out = model.output.logits.save()
    return out, state


def name_never_shipped(backend):
    model = backend.model
    factor = 2.0
    del factor  # so nnsight ships no `factor`: the block's name is undefined on the server
    with model.trace(INPUTS, backend=backend.nnsight_backend()):
        out = (model.output.logits * factor).save()  # noqa: F821  # PLANTED
    return out


PLANTED = {
    dunder_built_at_run_time: "Attribute __dict__ is blocked (getattr)",
    name_never_shipped: "NameError",
}


@pytest.mark.parametrize("block", list(PLANTED), ids=lambda f: f.__name__)
def test_rehearsal_rejects_run_time_failure_before_sending(tokenizer, sandbox, block):
    backend, transport = to_ndif(tokenizer, sandbox)
    line, text = planted_line(block)
    with pytest.raises(PreflightError) as err:
        block(backend)
    message = str(err.value)
    assert f"{__file__}:{line}: `{text}`: " in message, message
    assert (
        PLANTED[block] in message
        and "rehearsal on a tiny stand-in LlamaForCausalLM (3 layers, 16 wide)" in message
    )
    assert transport.sent == [], "a rejected block must never be sent"


def test_without_rehearsal_the_run_time_dunder_is_sent(tokenizer, sandbox):
    """The planted block passes the static scan and the deserialisation check: only running
    it finds the problem (here the strict server itself does, after it was sent)."""
    backend, transport = to_ndif(tokenizer, sandbox, preflight="static")
    with pytest.raises(PreflightError, match="isolated server refused"):
        dunder_built_at_run_time(backend)
    (sent,) = transport.sent
    isolated_check(sent.blob, sandbox, compress=sent.compress)  # deserialises without complaint


def test_clean_blocks_rehearse_once_per_shape(tokenizer, sandbox, local):
    backend, transport = to_ndif(tokenizer, sandbox)
    before = sandbox.counts.get("rehearse", 0)
    edits = [Edit.steer(Site(1), torch.ones(64), 1.0)]
    sites = [Site(1), Site(2)]
    backend.capture(["I feel calm."], sites, MeanFrom(0), edits=edits)
    longer = ["Another, rather longer sentence.", "And a second row."]
    got = backend.capture(longer, sites, MeanFrom(0), edits=edits)
    assert sandbox.counts["rehearse"] == before + 1, "same shape, other tokens: cached"
    assert backend.rehearsal.skipped == 1
    backend.capture(["I feel calm."], sites, keep, edits=edits)  # another branch of the block
    assert sandbox.counts["rehearse"] == before + 2
    assert len(transport.sent) == 3
    want = local.capture(longer, sites, MeanFrom(0), edits=edits)
    for site in sites:
        assert torch.allclose(got[site], want[site], atol=1e-5, rtol=0)


def hard_coded_width(backend):
    model, layers = backend.model, backend.layers
    with model.trace(INPUTS, backend=backend.nnsight_backend()):
        bias = torch.zeros(64)  # the hosted width, written into the block
        layers[1].output = layers[1].output + bias
        out = model.output.logits.save()
    return out


def test_error_the_tiny_widths_cause_warns_and_sends(tokenizer, sandbox):
    backend, transport = to_ndif(tokenizer, sandbox)
    with pytest.warns(RehearsalWarning, match="need not fail on NDIF"):
        out = hard_coded_width(backend)
    assert out.shape == (1, 4, 49152) and len(transport.sent) == 1
    runs = backend.rehearsal.runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hard_coded_width(backend)  # the verdict is cached: no second warning, no rehearsal
    assert backend.rehearsal.runs == runs and len(transport.sent) == 2


def test_no_stand_in_warns_once_and_falls_back_to_deserialising(tokenizer, sandbox):
    backend, transport = to_ndif(tokenizer, sandbox)
    spec = backend.rehearsal.spec()
    remote_code = "transformers_modules.custom.modeling:CustomForCausalLM"
    backend.rehearsal._spec = {**spec, "architecture": remote_code, "key": "remote-code"}
    checks = sandbox.counts.get("check", 0)
    with pytest.warns(RehearsalWarning, match="Falling back to the static scan") as caught:
        backend.run(["a clean block"])
    assert "transformers_modules" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.run(["a clean block"])
    assert sandbox.counts["check"] == checks + 2 and len(transport.sent) == 2
