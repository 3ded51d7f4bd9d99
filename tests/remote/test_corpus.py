"""Remote corpus capture: about n / texts_per_request requests, retries with backoff, resume."""

import json
import math

import pytest
import torch
from emovec_nnsight import RemoteExecutionError, RetryPolicy, TransientRemoteError, capture_corpus
from emovec_nnsight._remote_transport import SimulatedNDIF

from emovec import MeanFrom, Site, TokenBatch
from emovec.extract import Item

from .conftest import KEY, make_remote

WORDS = "the a letter morning kitchen window slowly said looked table rain light voice".split()
SITES = [Site(0), Site(2, "resid_pre")]
REDUCER = MeanFrom(2, min_tokens=2)


def corpus(n: int = 20) -> list[Item]:
    gen = torch.Generator().manual_seed(3)
    items = []
    for i in range(n):
        length = int(torch.randint(3, 25, (1,), generator=gen))
        words = [WORDS[int(j)] for j in torch.randint(0, len(WORDS), (length,), generator=gen)]
        items.append(Item(f"text-{i}", " ".join(words)))
    return items


class Scripted(SimulatedNDIF):
    """Fails chosen sends (by count): transiently, or for good."""

    def __init__(self, sandbox, *, transient=(), fatal=()):
        super().__init__(sandbox, api_key=KEY)
        self.transient, self.fatal, self.sends = set(transient), set(fatal), 0

    def send(self, request):
        self.sends += 1
        if self.sends in self.transient:
            raise TransientRemoteError("503 Service Unavailable")
        if self.sends in self.fatal:
            raise RemoteExecutionError("the server ran out of memory")
        return super().send(request)


def check_against_local(capture, items, local) -> int:
    texts = {item.id: item.text for item in items}
    rows = 0
    for ids, captured in capture:
        batch = TokenBatch.from_ids(
            [local.encode(texts[i]) for i in ids], pad_id=local.pad_token_id
        )
        want = local.capture(batch, SITES, REDUCER)
        for site in SITES:
            assert torch.allclose(captured[site], want[site], atol=1e-5, rtol=0)
        rows += len(ids)
    return rows


def test_requests_scale_with_corpus_over_batch(tokenizer, sandbox, local, tmp_path):
    backend = make_remote(tokenizer, sandbox)
    items = corpus(20)
    capture = capture_corpus(
        backend, items, SITES, REDUCER, out=tmp_path, texts_per_request=8, batch_tokens=64
    )
    low = math.ceil(len(items) / 8)
    assert low <= backend.requests <= low + 1
    assert check_against_local(capture, items, local) == len(items)
    manifest = capture.manifest()
    assert len(manifest["requests"]) == backend.requests and manifest["sites"] == [
        "resid_post.0",
        "resid_pre.2",
    ]


def test_transient_failures_retried_with_exponential_backoff(tokenizer, sandbox, local, tmp_path):
    slept: list[float] = []
    transport = Scripted(sandbox, transient={1, 2, 4})
    retry = RetryPolicy(attempts=4, base=0.5, sleep=slept.append)
    backend = make_remote(tokenizer, sandbox, transport=transport, retry=retry)
    items = corpus(12)
    capture = capture_corpus(backend, items, SITES, REDUCER, out=tmp_path, texts_per_request=6)
    assert slept == [0.5, 1.0, 0.5]  # twice on the first request, once on the second
    assert backend.retries == 3
    assert check_against_local(capture, items, local) == len(items)


def test_gives_up_after_the_last_attempt(tokenizer, sandbox, tmp_path):
    transport = Scripted(sandbox, transient=set(range(1, 10)))
    backend = make_remote(
        tokenizer, sandbox, transport=transport, retry=RetryPolicy(attempts=3, sleep=lambda s: None)
    )
    with pytest.raises(TransientRemoteError, match="Gave up after 3 attempts; last error: 503"):
        capture_corpus(backend, corpus(4), SITES, REDUCER, out=tmp_path)
    assert transport.sends == 3


def test_resume_redoes_nothing(tokenizer, sandbox, local, tmp_path):
    items = corpus(20)
    kwargs = dict(out=tmp_path, texts_per_request=5, batch_tokens=64)
    broken = make_remote(tokenizer, sandbox, transport=Scripted(sandbox, fatal={3}))
    with pytest.raises(RemoteExecutionError, match="out of memory"):
        capture_corpus(broken, items, SITES, REDUCER, **kwargs)
    done = len(json.loads((tmp_path / "manifest.json").read_text())["requests"])
    assert done == 2

    resumed = make_remote(tokenizer, sandbox)
    capture = capture_corpus(resumed, items, SITES, REDUCER, **kwargs)
    clean = make_remote(tokenizer, sandbox)
    capture_corpus(clean, items, SITES, REDUCER, **{**kwargs, "out": tmp_path / "clean"})
    assert resumed.requests == clean.requests - done
    assert check_against_local(capture, items, local) == len(items)


def test_other_settings_refuse_the_folder(tokenizer, sandbox, tmp_path):
    backend = make_remote(tokenizer, sandbox)
    capture_corpus(backend, corpus(3), SITES, REDUCER, out=tmp_path)
    with pytest.raises(ValueError, match="use another folder"):
        capture_corpus(backend, corpus(3), [Site(1)], REDUCER, out=tmp_path)
