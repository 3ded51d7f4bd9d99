"""`NDIFTransport`'s own logic, with nnsight's network functions replaced by fakes.

These are unit tests of how emovec reads nnsight's answers (status, environment, deployment,
errors) and masks the API key: they say nothing about whether NDIF itself works (no network
here; `test_live.py` is the test against the service).
"""

import json
import traceback
from types import SimpleNamespace

import httpx
import huggingface_hub
import nnsight.ndif
import pytest
from emovec_nnsight import (
    ApiKeyError,
    NDIFTransport,
    NotDeployedError,
    RemoteExecutionError,
    TransientRemoteError,
)
from emovec_nnsight.remote._errors import classify, scrub
from emovec_nnsight.remote._transport import RemoteRequest
from huggingface_hub.errors import RepositoryNotFoundError
from nnsight.intervention.backends.remote import RemoteBackend, RemoteError

from .conftest import KEY

LLAMA = "meta-llama/Llama-3.1-8B"
KEY_JSON = {"repo_id": LLAMA, "revision": None, "task": "text-generation"}
MODEL_KEY = "nnsight.modeling.transformers.TransformersModel:" + json.dumps(KEY_JSON)


def deployment(repo_id=LLAMA, *, state="RUNNING", task="text-generation", revision="main"):
    return {
        "repo_id": repo_id,
        "revision": revision,
        "task": task,
        "deployment_level": "HOT",
        "application_state": state,
    }


@pytest.fixture
def ndif(monkeypatch):
    """nnsight's HTTP getter and the hub's `model_info` replaced: `server` is what they answer."""
    server = {
        "/status": {
            "deployments": {"a": deployment(), "b": deployment("x/cold", state="DEPLOYING")}
        },
        "/env": {"python": "3.11", "packages": {"nnsight": "0.8.1"}},
        "hub": {"meta-llama/llama-3.1-8b": LLAMA, LLAMA.lower(): LLAMA, "x/cold": "x/cold"},
        "calls": [],
    }

    def get(path, timeout=(5.0, 30.0), headers=None):
        server["calls"].append(path)
        answer = server[path]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def model_info(self, repo_id, **kwargs):
        answer = server["hub"].get(repo_id.lower())
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            response = httpx.Response(404, request=httpx.Request("GET", "https://hub/x"))
            raise RepositoryNotFoundError("404 not found", response=response)
        return SimpleNamespace(id=answer)

    monkeypatch.setattr(nnsight.ndif, "_get", get)
    monkeypatch.setattr(nnsight.ndif, "_REMOTE_ENV", None)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    return server


def key_for(repo_id: str, **extra) -> str:
    data = {**KEY_JSON, "repo_id": repo_id, **extra}
    return "nnsight.modeling.transformers.TransformersModel:" + json.dumps(data)


def test_running_asks_is_model_running_with_the_canonical_id(ndif):
    transport = NDIFTransport(api_key=KEY)
    assert transport.running(key_for("META-LLAMA/llama-3.1-8b"))  # the hub fixes the spelling
    assert not transport.running(key_for("x/cold"))  # listed, but not RUNNING
    assert not transport.running(key_for(LLAMA, task="text-classification"))  # another task
    assert not transport.running(key_for(LLAMA, revision="v2"))  # another revision
    assert ndif["calls"] == ["/status"] * 4


def test_running_names_an_id_the_hub_does_not_know(ndif):
    with pytest.raises(NotDeployedError, match="not-a/model is not a model id on the Hugging"):
        NDIFTransport(api_key=KEY).running(key_for("not-a/model"))


def test_hub_connection_trouble_is_transient(ndif):
    ndif["hub"][LLAMA.lower()] = httpx.ConnectError("hub unreachable")
    with pytest.raises(TransientRemoteError, match="Cannot ask the Hugging Face hub"):
        NDIFTransport(api_key=KEY).running(MODEL_KEY)


def test_deployed_lists_running_deployments_and_notices_a_silent_server(ndif):
    transport = NDIFTransport(api_key=KEY)
    assert transport.deployed() == {LLAMA}
    ndif["/status"] = httpx.ConnectError("refused")
    with pytest.raises(TransientRemoteError, match="did not answer its /status request"):
        transport.deployed()


def test_environment_reads_the_server_packages(ndif):
    transport = NDIFTransport(api_key=KEY)
    assert transport.environment()["packages"]["nnsight"] == "0.8.1"
    nnsight.ndif._REMOTE_ENV = None
    ndif["/env"] = httpx.ConnectError("refused")
    with pytest.raises(TransientRemoteError, match="Cannot read NDIF's environment at"):
        transport.environment()


def test_model_key_canonicalises_an_id_the_model_was_not_built_from(ndif):
    model = SimpleNamespace(repo_id="", revision=None, task="text-generation")
    key = NDIFTransport(api_key=KEY).model_key(model, "META-LLAMA/llama-3.1-8b")
    assert json.loads(key.split(":", 1)[1]) == KEY_JSON


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Failed to send request: 503 Service Unavailable", TransientRemoteError),
        ("Failed to send request: [Errno 111] Connection refused", TransientRemoteError),
        ("429 Too Many Requests", TransientRemoteError),
        ("401 Unauthorized: invalid api key", ApiKeyError),
        ("403 Forbidden", ApiKeyError),
        ("Module abc is not whitelisted", RemoteExecutionError),
        ("RuntimeError: shape mismatch", RemoteExecutionError),
    ],
)
def test_classify(message, kind):
    err = classify(message, "$NDIF_API_KEY")
    assert type(err) is kind and message in str(err)


def test_classify_says_the_whitelist_facts_are_stale():
    assert "_whitelist.py are out of date" in str(classify("Module abc is not whitelisted"))


REQUEST = RemoteRequest(MODEL_KEY, b"serialised block", False, {})


def fail_with(monkeypatch, make_error):
    seen = {}

    def request(self, envelope, tracer):
        seen.update(key=self.api_key, blob=self._serialize(None), model_key=envelope.model_key)
        raise make_error()

    monkeypatch.setattr(RemoteBackend, "request", request)
    return seen


def shown(err: BaseException) -> str:
    """All a traceback print shows, along the whole chain, plus every args tuple on it."""
    text = "".join(traceback.format_exception(err))
    while err is not None:
        text += repr(err.args)
        err = err.__cause__ or err.__context__
    return text


def test_send_passes_the_request_and_returns_the_saves(monkeypatch):
    seen = {}

    def request(self, envelope, tracer):
        seen.update(key=self.api_key, blob=self._serialize(None), model_key=envelope.model_key)
        return {"hidden": 1}

    monkeypatch.setattr(RemoteBackend, "request", request)
    assert NDIFTransport(api_key=KEY).send(REQUEST) == {"hidden": 1}
    assert seen == {"key": KEY, "blob": b"serialised block", "model_key": MODEL_KEY}


def test_rejected_key_is_classified_and_masked(monkeypatch):
    fail_with(monkeypatch, lambda: RemoteError(f"401 Unauthorized: key {KEY} is not valid"))
    with pytest.raises(ApiKeyError, match=r"rejected the API key \(from the api_key argument\)"):
        NDIFTransport(api_key=KEY).send(REQUEST)
    try:
        NDIFTransport(api_key=KEY).send(REQUEST)
    except ApiKeyError as err:
        assert isinstance(err.__cause__, RemoteError)  # the chain is kept ...
        assert KEY not in shown(err) and "key *** is not valid" in shown(err)  # ... masked


def test_connection_errors_are_transient_and_masked(monkeypatch):
    fail_with(monkeypatch, lambda: httpx.ConnectError(f"wss://ndif/subscribe?key={KEY}"))
    with pytest.raises(TransientRemoteError) as info:
        NDIFTransport(api_key=KEY).send(REQUEST)
    assert KEY not in shown(info.value)


class Quoting(Exception):
    """An exception whose text comes from an attribute, not from its args."""

    def __init__(self, header):
        super().__init__("bad header")
        self._header = header

    def __str__(self):
        return f"bad header {self._header}"


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: ValueError(f"unexpected reply for ndif-api-key={KEY}"),
        lambda: KeyError(KEY),
        lambda: Quoting({"ndif-api-key": KEY}),
    ],
    ids=["message", "args", "custom-str"],
)
def test_unknown_exceptions_leave_with_the_key_masked(monkeypatch, make_error):
    def request(self, envelope, tracer):
        try:
            raise OSError(f"socket closed while sending {KEY}")
        except OSError:
            raise make_error()  # noqa: B904 (the OSError, key and all, becomes its context)

    monkeypatch.setattr(RemoteBackend, "request", request)
    with pytest.raises(Exception) as info:
        NDIFTransport(api_key=KEY).send(REQUEST)
    assert KEY not in shown(info.value)
    assert "request" in "".join(traceback.format_tb(info.value.__traceback__))  # where it came from


def test_scrub_keeps_type_and_traceback_when_it_can():
    try:
        raise ValueError(f"header {KEY}")
    except ValueError as err:
        caught = err
    clean = scrub(caught, KEY)
    assert clean is caught and str(clean) == "header ***"
    assert clean.__traceback__ is not None


def test_scrub_replaces_an_exception_it_cannot_mask():
    clean = scrub(Quoting({"ndif-api-key": KEY}), KEY)
    assert isinstance(clean, RemoteExecutionError)
    assert str(clean) == "Quoting: bad header {'ndif-api-key': '***'}"


def backend_over(tokenizer, model_id, **kwargs):
    from emovec_nnsight import RemoteNNsightBackend, RetryPolicy

    from .conftest import nnsight_model

    kwargs.setdefault("retry", RetryPolicy(attempts=3, sleep=lambda s: None))
    transport = NDIFTransport(api_key=KEY)
    return RemoteNNsightBackend(
        nnsight_model(tokenizer), model_id=model_id, transport=transport, **kwargs
    )


def test_connect_checks_through_nnsight(ndif, tokenizer):
    backend = backend_over(tokenizer, "meta-llama/llama-3.1-8b").connect()
    assert json.loads(backend._model_key.split(":", 1)[1])["repo_id"] == LLAMA
    assert ndif["calls"] == ["/env", "/status"] and backend.retries == 0


def test_connect_names_the_running_models(ndif, tokenizer):
    with pytest.raises(
        NotDeployedError, match=r"x/cold is not deployed on ndif .*running: meta-ll"
    ):
        backend_over(tokenizer, "x/cold").connect()


def test_connect_names_both_versions(ndif, tokenizer):
    ndif["/env"] = {"packages": {"nnsight": "0.9.0"}}
    with pytest.raises(Exception, match=r"client has 0\.8\.1, the server runs 0\.9\.0"):
        backend_over(tokenizer, LLAMA).connect()
    assert ndif["calls"] == ["/env"]  # nothing else was asked


def test_connect_retries_a_silent_server_then_gives_up(ndif, tokenizer, capsys):
    ndif["/status"] = httpx.ConnectError("refused")
    backend = backend_over(tokenizer, LLAMA)
    with pytest.raises(TransientRemoteError, match="Gave up after 3 attempts.*did not answer"):
        backend.connect()
    assert backend.retries == 2 and ndif["calls"].count("/status") == 6  # running + listing
