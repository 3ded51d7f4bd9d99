"""Remote corpus capture: about n / texts_per_request requests, retries with backoff, resume,
progress; remote `extract_vectors` (one request per batch, resumable) and the fold of captures
into vectors (`vectors_from_capture`), against the local adapter."""

import json
import math

import pytest
import torch
from emovec_nnsight import (
    RemoteExecutionError,
    RetryPolicy,
    TransientRemoteError,
    capture_corpus,
    vectors_from_capture,
)
from emovec_nnsight.remote._transport import SimulatedNDIF

from emovec import MeanFrom, Site, TokenBatch
from emovec.extract import (
    Item,
    RowMoments,
    TokenMoments,
    extract_vectors,
    neutral_items,
    story_items,
)
from emovec.extract._capture import token_batches
from tests.extract.conftest import toy_neutral, toy_stories

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


def test_progress_bar_counts_texts_and_requests(tokenizer, sandbox, tmp_path, capsys):
    backend = make_remote(tokenizer, sandbox)
    items = corpus(12)
    capture_corpus(
        backend, items, SITES, REDUCER, out=tmp_path, texts_per_request=6, total=len(items)
    )
    err = capsys.readouterr().err
    assert "remote capture" in err and "12/12" in err
    assert f"requests={backend.requests}, retries=0" in err and backend.requests >= 2


STORIES, NEUTRAL = toy_stories(per_cell=2), toy_neutral(8)
EXTRACT = dict(sites="0:3", start=2, batch_tokens=256, progress=False)


def planned_batches(backend) -> list[tuple[int, ...]]:
    """The token rows of every forward a run of EXTRACT plans, stories then neutral."""
    plan = []
    for items in (story_items(STORIES), neutral_items(NEUTRAL)):
        for _, rows in token_batches(backend, items, batch_tokens=256, window=2048):
            plan.append(tuple(map(tuple, rows)))
    return plan


def recording(backend) -> list[tuple[int, ...]]:
    """Record the token rows of each capture that came back (one request each)."""
    sent, capture = [], backend.capture

    def recorded(batch, sites, reducer, **kwargs):
        out = capture(batch, sites, reducer, **kwargs)
        mask = batch.attention_mask.bool()
        sent.append(tuple(tuple(r[m].tolist()) for r, m in zip(batch.input_ids, mask, strict=True)))
        return out

    backend.capture = recorded
    return sent


def test_extract_vectors_sends_one_request_per_batch(tokenizer, sandbox, local):
    backend = make_remote(tokenizer, sandbox)
    vectors = extract_vectors(backend, STORIES, NEUTRAL, **EXTRACT)
    plan = planned_batches(local)
    texts = len(STORIES) + len(NEUTRAL)
    tokens = sum(len(local.encode(r["text"])) for r in STORIES) + sum(
        map(len, map(local.encode, NEUTRAL))
    )
    assert backend.requests == len(plan) <= texts / 3
    assert math.ceil(tokens / 256) <= backend.requests <= 2 * math.ceil(tokens / 256)
    want = extract_vectors(local, STORIES, NEUTRAL, **EXTRACT)
    assert torch.allclose(vectors.vectors, want.vectors, atol=1e-5, rtol=0)


def test_extract_vectors_resumes_without_repeating_requests(tokenizer, sandbox, tmp_path):
    kwargs = {**EXTRACT, "checkpoint": tmp_path / "ckpt.safetensors", "checkpoint_every": 1}
    broken = make_remote(tokenizer, sandbox, transport=Scripted(sandbox, fatal={4}))
    before = recording(broken)
    with pytest.raises(RemoteExecutionError, match="out of memory"):
        extract_vectors(broken, STORIES, NEUTRAL, **kwargs)
    assert broken.requests == len(before) == 3

    resumed = make_remote(tokenizer, sandbox)
    after = recording(resumed)
    vectors = extract_vectors(resumed, STORIES, NEUTRAL, **kwargs)
    plan = planned_batches(resumed)
    assert not set(before) & set(after)  # no batch asked for twice
    assert sorted(before + after) == sorted(plan) and resumed.requests == len(plan) - 3
    clean = extract_vectors(make_remote(tokenizer, sandbox), STORIES, NEUTRAL, **EXTRACT)
    assert torch.allclose(vectors.vectors, clean.vectors, atol=1e-6, rtol=0)


def capture_both(backend, folder, neutral_reducer):
    kwargs = dict(texts_per_request=8, batch_tokens=256, progress=False)
    sites = [Site(0), Site(1), Site(2)]
    capture_corpus(backend, story_items(STORIES), sites, RowMoments(2), out=folder / "s", **kwargs)
    capture_corpus(
        backend, neutral_items(NEUTRAL), sites, neutral_reducer, out=folder / "n", **kwargs
    )


@pytest.mark.parametrize(
    ("pca_mode", "reducer"), [("dialogue", RowMoments(2)), ("token", TokenMoments(2))]
)
def test_vectors_from_capture_equal_local_extraction(
    tokenizer, sandbox, local, tmp_path, pca_mode, reducer
):
    backend = make_remote(tokenizer, sandbox)
    capture_both(backend, tmp_path, reducer)
    got = vectors_from_capture(backend, STORIES, tmp_path / "s", NEUTRAL, tmp_path / "n", start=2)
    want = extract_vectors(local, STORIES, NEUTRAL, **EXTRACT, pca_mode=pca_mode)
    assert got.emotions == want.emotions and got.sites == want.sites
    assert torch.allclose(got.vectors, want.vectors, atol=1e-5, rtol=0)
    for key in ("recipe", "corpus", "neutral_pcs_removed"):
        assert got.metadata[key] == want.metadata[key]
    for site in got.sites:
        assert got.residual_norm(site) == pytest.approx(want.residual_norm(site), rel=1e-5)


def test_vectors_from_capture_refuses_an_unfinished_or_other_capture(tokenizer, sandbox, tmp_path):
    backend = make_remote(tokenizer, sandbox)
    kwargs = dict(batch_tokens=256, progress=False)
    capture_corpus(
        backend, story_items(STORIES[:-2]), [Site(1)], RowMoments(2), out=tmp_path / "s", **kwargs
    )
    with pytest.raises(ValueError, match="misses 2 records .*Rerun capture_corpus"):
        vectors_from_capture(backend, STORIES, tmp_path / "s", start=2)
    with pytest.raises(ValueError, match=r"captured with RowMoments\(start=2\); the recipe needs"):
        vectors_from_capture(backend, STORIES[:-2], tmp_path / "s", start=50)
