"""`emovec monitor serve` on the tiny random Llama: the real app under uvicorn on 127.0.0.1, spoken
to over HTTP: the page and its files, streamed chats, transcripts, bad input, a full queue."""

import json
import re
import threading
import time
from importlib import resources

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emovec.monitor import Transcript, calibrate
from emovec.serve import (
    BadRequest,
    Engine,
    Limits,
    create_app,
    loads_transcript,
    parse_chat,
    running,
    validate_transcript,
)
from emovec.serve._engine import Job
from tests.monitor import random_bundle, single_thread

CALIBRATED = ("calm", "afraid", "desperate", "panicked")
LIMITS = Limits(max_chars=200, max_new_tokens=16, max_body=4000)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from single_thread()


@pytest.fixture(scope="module")
def vectors():
    return random_bundle()


@pytest.fixture(scope="module")
def engine(tiny_backends, vectors):
    backend = tiny_backends["hf"]
    cal = calibrate(
        backend,
        vectors,
        prompts=["Hello there.", "What is two plus two?"],
        emotions=list(CALIBRATED),
        max_new_tokens=4,
        progress=False,
    )
    engine = Engine(backend, vectors, cal, queue_size=1, defaults={"max_new_tokens": 5})
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def url(engine):
    with running(create_app(engine, LIMITS)) as base:
        yield base


def chat(url, body, *, raw=None):
    """POST a chat; (status, events or the error JSON)."""
    with httpx.Client(timeout=120) as client:
        kwargs = {"content": raw} if raw is not None else {"json": body}
        with client.stream("POST", f"{url}/api/chat", **kwargs) as response:
            if response.status_code != 200:
                response.read()
                return response.status_code, response.json(), response.headers
            events = [json.loads(x[6:]) for x in response.iter_lines() if x.startswith("data: ")]
            return 200, events, response.headers


def test_the_page_and_its_files_load_and_fetch_nothing_from_elsewhere(url):
    page = httpx.get(url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in ("app.js", "style.css"):
        assert httpx.get(f"{url}/static/{name}").status_code == 200
    for name in ("index.html", "app.js", "style.css"):
        text = (resources.files("emovec.serve") / "static" / name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), name  # no CDN
    assert 'src="/static/app.js"' in page.text


def test_info_names_the_model_site_emotions_and_calibration(url, vectors):
    info = httpx.get(url + "/api/info").json()
    assert info["emotions"] == list(vectors.emotions) and info["calibrated"] is True
    assert info["calibrated_emotions"] == list(CALIBRATED)
    assert info["site"] == "resid_post.2" and info["limits"]["max_chars"] == 200


def test_a_chat_streams_every_token_with_readings_then_its_transcript(url, engine):
    status, events, headers = chat(url, {"message": "Tell me about tea.", "watch": ["afraid"]})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["queued", "start", "header"] and kinds[-2:] == ["end", "done"]
    tokens = [e for e in events if e["type"] == "token"]
    end = events[-2]
    generated = [t for t in tokens if t["phase"] == "generated"]
    # every generated token but the last is fed back through the model and read
    assert len(generated) == end["rows"][0]["n_generated"] - 1 == 4
    assert events[2]["emotions"] == ["afraid", "calm"]  # watched, then the steering target
    assert all(set(t["z"]["resid_post.2"]) == {"afraid", "calm"} for t in tokens)
    stored = httpx.get(f"{url}/api/transcripts/{events[-1]['id']}").json()
    assert stored["events"] == [e for e in events if e["type"] in ("header", "token", "end")]
    assert validate_transcript(stored)["request"]["watch"] == ["afraid"]
    view = Transcript.from_events(stored["events"])
    assert view.scale == "z" and len(view.tokens) == len(tokens)
    back = httpx.post(url + "/api/transcripts/check", content=json.dumps(stored))
    assert back.status_code == 200 and back.json() == stored


def test_a_rule_that_fires_streams_its_alert_and_action(url):
    rules = [{"name": "low", "when": {"kind": "threshold", "emotion": "calm", "above": -1e9}}]
    _, events, _ = chat(url, {"message": "Hi.", "watch": ["calm"], "rules": rules})
    fired = [e for e in events if e["type"] == "token" and e["alerts"]]
    assert fired and fired[0]["alerts"][0]["rule"] == "low"
    assert fired[0]["actions"][0]["kind"] == "record"


def test_stop_action_stops_the_reply(url):
    body = {"message": "Hi.", "watch": ["calm"], "threshold": -1e5, "action": "stop"}
    _, events, _ = chat(url, body)
    assert events[-2]["rows"][0]["stopped"] == "observer"


@pytest.mark.parametrize(
    ("body", "raw", "status", "needle"),
    [
        (None, '{"message": "hi", ', 400, "not valid JSON"),
        (None, "[1, 2]", 400, "JSON object"),
        ({"message": ""}, None, 400, "non-empty"),
        ({"message": "x" * 201}, None, 413, "limit is 200"),
        (None, json.dumps({"message": "hi", "pad": "y" * 5000}), 413, "limit is 4000"),
        ({"message": "hi", "watch": ["glee"]}, None, 400, "'glee'"),
        ({"message": "hi", "watch": ["happy"]}, None, 400, "No calibration for 'happy'"),
        ({"message": "hi", "threshold": "high"}, None, 400, "'threshold' must be a number"),
        ({"message": "hi", "max_new_tokens": 17}, None, 400, "[1, 16]"),
        ({"message": "hi", "action": "explode"}, None, 400, "flag, stop, steer"),
        ({"message": "hi", "rules": [{"name": "r"}]}, None, 400, "Bad rule"),
    ],
)
def test_bad_requests_get_a_clear_error_and_the_server_keeps_serving(
    url, body, raw, status, needle
):
    code, answer, _ = chat(url, body, raw=raw)
    assert code == status and needle in answer["error"], answer
    assert httpx.get(url + "/api/info").status_code == 200


def test_bad_transcripts_are_refused_with_the_reason(url):
    assert httpx.get(url + "/api/transcripts/nope").status_code == 404
    answer = httpx.post(url + "/api/transcripts/check", content=b'{"format": 1}')
    assert answer.status_code == 400 and "Not an emovec transcript" in answer.json()["error"]


def test_validation_finds_tampered_transcripts(url):
    _, events, _ = chat(url, {"message": "Hi."})
    good = httpx.get(f"{url}/api/transcripts/{events[-1]['id']}").json()
    loads_transcript(json.dumps(good))
    cases = {
        "finish with an end": lambda t: t["events"].pop(),
        "do not match": lambda t: t["events"][1]["z"]["resid_post.2"].pop("calm"),
        "lacks 'token_id'": lambda t: t["events"][1].pop("token_id"),
        "'reply' is missing": lambda t: t.pop("reply"),
    }
    for needle, tamper in cases.items():
        bad = json.loads(json.dumps(good))
        tamper(bad)
        with pytest.raises(ValueError, match=re.escape(needle)):
            validate_transcript(bad)


def test_a_full_queue_answers_503_with_retry_advice_then_serves_again(url, engine):
    gate, started = threading.Event(), threading.Event()

    def hold(event):  # blocks the worker inside the first job until released
        if event["type"] == "start":
            started.set()
            gate.wait(60)

    request = parse_chat(b'{"message": "hold"}', engine.vectors, engine.defaults, LIMITS)
    held = engine.prepare(request, hold)
    engine.submit(held)
    assert started.wait(60)
    waiting = engine.prepare(request, lambda e: None)
    assert engine.submit(waiting) == 1  # one running ahead of it; the queue (size 1) is now full
    code, answer, headers = chat(url, {"message": "one more"})
    assert code == 503 and "Retry" in answer["error"] and headers["retry-after"] == "3"
    gate.set()
    for _ in range(100):  # as a client would: retry until the queue has room again
        code, events, _ = chat(url, {"message": "after"})
        if code != 503:
            break
        time.sleep(0.1)
    assert code == 200 and events[-1]["type"] == "done"
    assert engine.transcript(held.id) and engine.transcript(waiting.id)


def wait_for_transcript(engine, job_id, timeout_s=120.0):
    deadline = time.monotonic() + timeout_s
    while engine.transcript(job_id) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return engine.transcript(job_id)


def test_a_reader_that_leaves_stops_its_generation(engine):
    request = parse_chat(
        b'{"message": "Go on.", "max_new_tokens": 16}', engine.vectors, engine.defaults, LIMITS
    )
    job: Job

    def leave_after_first_generated(event):
        if event["type"] == "token" and event["phase"] == "generated":
            job.cancelled = True

    job = engine.prepare(request, leave_after_first_generated)
    engine.submit(job)
    record = wait_for_transcript(engine, job.id)
    assert record["stopped"] == "cancelled" and record["events"][-1]["rows"][0]["n_generated"] == 1


def test_a_reader_whose_event_loop_is_gone_does_not_stop_the_worker(url, engine):
    request = parse_chat(b'{"message": "Hi."}', engine.vectors, engine.defaults, LIMITS)

    def closed(event):
        raise RuntimeError("Event loop is closed")

    job = engine.prepare(request, closed)
    engine.submit(job)
    assert wait_for_transcript(engine, job.id)["stopped"] == "cancelled"
    code, events, _ = chat(url, {"message": "Still there?"})
    assert code == 200 and events[-1]["type"] == "done"


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        k: json_values
        for k in ("message", "watch", "threshold", "sustain", "action", "toward", "strength")
    }
    | {"max_new_tokens": json_values, "rules": json_values},
)


@settings(max_examples=200)
@given(fields)
def test_parsing_any_json_either_succeeds_or_raises_a_bad_request(vectors, body):
    defaults = {
        "watch": ["calm"],
        "threshold": 3.0,
        "sustain": 2,
        "action": "flag",
        "toward": "calm",
        "strength": 0.1,
        "max_new_tokens": 4,
    }
    try:
        request = parse_chat(json.dumps(body).encode(), vectors, defaults, LIMITS)
    except BadRequest as err:
        assert err.status in (400, 413) and str(err)
    else:
        assert request.message.strip() and set(request.watch) <= set(vectors.emotions)


def test_the_cli_refuses_a_missing_bundle_and_a_remote_host_without_the_flag(tmp_path, capsys):
    from emovec.cli import main

    missing = tmp_path / "none.safetensors"
    assert main(["monitor", "serve", "--vectors", str(missing)]) == 1
    assert "run `make demo`" in capsys.readouterr().err
    assert main(["monitor", "serve", "--host", "0.0.0.0", "--vectors", str(missing)]) == 1
    assert "add --allow-remote" in capsys.readouterr().err
    assert main(["monitor", "serve", "--screenshot", str(tmp_path / "x.png")]) == 1
    assert "needs --message" in capsys.readouterr().err
