"""Clear errors before anything is sent, and the API key never leaves memory.

Local weights, an undeployed model, a client/server nnsight mismatch, a missing key: each is
refused before a block reaches the server; a rejected key is named without being shown; and a
remote run that writes a bundle, a capture folder, a report and logs leaves the key in none.
"""

import json
import logging
import traceback

import pytest
import torch
from emovec_nnsight import (
    ApiKeyError,
    LocalWeightsError,
    NotDeployedError,
    RetryPolicy,
    SimulatedNDIF,
    TransientRemoteError,
    VersionMismatchError,
    capture_corpus,
)

import emovec
from emovec import MeanFrom, Site
from emovec.extract import extract_vectors
from tests.extract.conftest import toy_stories

from .conftest import KEY, make_remote


def blocks_sent(sandbox) -> int:
    return sandbox.counts.get("check", 0) + sandbox.counts.get("run", 0)


def test_shipped_weights_refused_before_sending(tokenizer, sandbox, fresh_model):
    shipped = emovec.Origin(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        weights_sha256="b179c952",
        shipped_as="smollm2-135m-instruct",
    )
    emovec.remember_origin(fresh_model, shipped)
    backend = make_remote(tokenizer, sandbox, model=fresh_model)
    before = sandbox.requests
    with pytest.raises(LocalWeightsError, match="shipped weights .*smollm2-135m-instruct"):
        backend.capture(["hello"], [Site(0)], MeanFrom(0))
    assert sandbox.requests == before  # not even the environment was asked for


def test_local_path_refused(tokenizer, sandbox, tmp_path):
    backend = make_remote(tokenizer, sandbox, model_id=str(tmp_path))
    with pytest.raises(LocalWeightsError, match="is a local path"):
        backend.connect()


def test_undeployed_model_named(tokenizer, sandbox):
    backend = make_remote(tokenizer, sandbox, model_id="meta-llama/Llama-3.1-405B")
    sent = blocks_sent(sandbox)
    with pytest.raises(NotDeployedError, match="Llama-3.1-405B is not deployed.*tiny-random-llama"):
        backend.capture(["hello"], [Site(0)], MeanFrom(0))
    assert blocks_sent(sandbox) == sent


class OtherServerVersion(SimulatedNDIF):
    def environment(self):
        env = super().environment()
        return {**env, "packages": {**env["packages"], "nnsight": "0.9.0"}}


def test_version_mismatch_says_which_versions(tokenizer, sandbox):
    backend = make_remote(tokenizer, sandbox, transport=OtherServerVersion(sandbox, api_key=KEY))
    sent = blocks_sent(sandbox)
    with pytest.raises(VersionMismatchError, match=r"client has 0\.8\.1, the server runs 0\.9\.0"):
        backend.run(["hello"])
    assert blocks_sent(sandbox) == sent


def test_missing_key_refused_before_sending(tokenizer, sandbox, monkeypatch):
    from nnsight.schema.config import CONFIG

    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    monkeypatch.setattr(CONFIG.API, "APIKEY", None)
    backend = make_remote(tokenizer, sandbox, transport=SimulatedNDIF(sandbox))
    sent = blocks_sent(sandbox)
    with pytest.raises(ApiKeyError, match="NDIF_API_KEY"):
        backend.run(["hello"])
    assert blocks_sent(sandbox) == sent


def test_key_read_from_nnsight_config_without_the_variable(tokenizer, sandbox, monkeypatch):
    from nnsight.schema.config import CONFIG

    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    monkeypatch.setattr(CONFIG.API, "APIKEY", KEY)  # what `nnsight login` stores
    backend = make_remote(tokenizer, sandbox, transport=SimulatedNDIF(sandbox))
    assert backend.transport.api_key() == (KEY, "nnsight's config file (nnsight login)")
    assert torch.isfinite(backend.run(["hello"])).all()  # the stand-in requires KEY

    monkeypatch.setattr(CONFIG.API, "APIKEY", "ndif-stale-key-77c1")
    stale = make_remote(tokenizer, sandbox, transport=SimulatedNDIF(sandbox))
    with pytest.raises(ApiKeyError, match=r"rejected the API key \(from nnsight's config file"):
        stale.run(["hello"])


def test_rejected_key_is_named_not_shown(tokenizer, sandbox):
    wrong = "ndif-wrong-key-0b7f3e"
    backend = make_remote(tokenizer, sandbox, transport=SimulatedNDIF(sandbox, api_key=wrong))
    with pytest.raises(ApiKeyError) as err:
        backend.run(["hello"])
    assert "rejected the API key (from the api_key argument)" in str(err.value)
    assert wrong not in str(err.value) and wrong not in repr(backend)


class FlakyOnce(SimulatedNDIF):
    """Fails its first send with a message that quotes the key (as a careless server might)."""

    failed = False

    def send(self, request):
        if not self.failed:
            self.failed = True
            raise TransientRemoteError(f"503 busy (request header ndif-api-key: {KEY})")
        return super().send(request)


def test_key_never_written_to_bundles_reports_or_logs(
    tokenizer, sandbox, monkeypatch, tmp_path, caplog, capfd
):
    monkeypatch.setenv("NDIF_API_KEY", KEY)  # where a user would put it
    caplog.set_level(logging.DEBUG)
    backend = make_remote(tokenizer, sandbox, transport=FlakyOnce(sandbox))
    checkpoint = tmp_path / "extract.ckpt.safetensors"
    vectors = extract_vectors(
        backend,
        toy_stories(per_cell=1)[:8],
        sites="0:3",
        start=1,
        progress=True,
        checkpoint=checkpoint,
        checkpoint_every=1,
    )
    vectors.save(tmp_path / "vectors.safetensors")
    capture_corpus(
        backend, ["one text", "another text"], [Site(1)], MeanFrom(0), out=tmp_path / "capture"
    )
    report = {
        "backend": repr(backend),
        "source": backend.provenance.model_record(),
        "metadata": vectors.metadata,
    }
    (tmp_path / "report.json").write_text(json.dumps(report, default=str))
    logging.getLogger("emovec.remote").info("run finished with %r", backend)
    assert backend.retries == 1 and "retry 1/" in caplog.text

    out, err = capfd.readouterr()
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert len(written) >= 5 and checkpoint in written
    assert all(KEY.encode() not in data for data in written.values()), [
        str(p) for p, data in written.items() if KEY.encode() in data
    ]
    assert KEY not in caplog.text and KEY not in out and KEY not in err
    assert KEY not in sandbox._log_tail(10**7)  # the server side logs nothing of it either
    assert torch.isfinite(vectors.vectors).all()


class SlowToAnswer(SimulatedNDIF):
    """A restarting server: its setup answers fail transiently a given number of times."""

    def __init__(self, sandbox, **fails):
        super().__init__(sandbox, api_key=KEY)
        self.fails = fails

    def _answer(self, what):
        if self.fails.get(what, 0):
            self.fails[what] -= 1
            raise TransientRemoteError(f"503 while asked for {what}")

    def environment(self):
        self._answer("environment")
        return super().environment()

    def running(self, model_key):
        self._answer("running")
        return super().running(model_key)


def test_connect_retries_transient_failures(tokenizer, sandbox):
    slept = []
    transport = SlowToAnswer(sandbox, environment=2, running=1)
    retry = RetryPolicy(attempts=4, base=0.5, sleep=slept.append)
    backend = make_remote(tokenizer, sandbox, transport=transport, retry=retry)
    sent = blocks_sent(sandbox)
    backend.connect()
    assert slept == [0.5, 1.0, 0.5] and backend.retries == 3
    assert blocks_sent(sandbox) == sent


def test_connect_gives_up_after_the_last_attempt(tokenizer, sandbox):
    transport = SlowToAnswer(sandbox, environment=10)
    retry = RetryPolicy(attempts=3, sleep=lambda s: None)
    backend = make_remote(tokenizer, sandbox, transport=transport, retry=retry)
    with pytest.raises(TransientRemoteError, match="Gave up after 3 attempts.*environment"):
        backend.run(["hello"])
    assert transport.fails["environment"] == 7


def test_planted_exception_leaves_the_transport_masked(tokenizer, sandbox, monkeypatch):
    backend = make_remote(tokenizer, sandbox).connect()

    def broken(op, **fields):
        try:
            raise ConnectionResetError(f"pipe closed mid-request (ndif-api-key: {KEY})")
        except ConnectionResetError:
            raise LookupError(f"no reply for the request with key {KEY}")  # noqa: B904

    monkeypatch.setattr(backend.transport.sandbox, "request", broken)
    with pytest.raises(Exception) as info:
        backend.run(["hello"])
    text, err = "".join(traceback.format_exception(info.value)), info.value
    while err is not None:
        text += repr(err.args)
        err = err.__cause__ or err.__context__
    assert "no reply for the request with key ***" in text  # the planted one, masked
    assert KEY not in text
