"""The real service: runs only when NDIF_API_KEY is set (and the machine can reach NDIF).

Set `EMOVEC_NDIF_MODEL` to a model NDIF is running (default meta-llama/Llama-3.1-8B; see
`print(nnsight.status())`); a gated model also needs `HF_TOKEN` for its config. Run with
`pytest tests/nnsight_remote/test_live.py`. Everything here runs in the tutorial (docs/remote.md)
against the simulator; these tests are the same steps against the service, on a handful of
texts, so that they cost a few requests.
"""

import os

import pytest
import torch

from emovec import Edit, MeanFrom, Site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("NDIF_API_KEY"),
        reason="NDIF_API_KEY is not set: the live tests need an NDIF key and network access",
    ),
]
MODEL = os.environ.get("EMOVEC_NDIF_MODEL", "meta-llama/Llama-3.1-8B")
STORIES = [
    {"id": "h1", "emotion": "happy", "text": "She laughed and danced in the sun, so happy."},
    {"id": "h2", "emotion": "happy", "text": "He grinned all day: the news was wonderful."},
    {"id": "a1", "emotion": "afraid", "text": "He froze in the dark hall, heart pounding."},
    {"id": "a2", "emotion": "afraid", "text": "She trembled as the footsteps came closer."},
]
NEUTRAL = [
    "Human: How do I sort a list in Python?\n\nAssistant: Call sorted(my_list).",
    "Human: What does HTTP stand for?\n\nAssistant: HyperText Transfer Protocol.",
    "Human: How many days are in a leap year?\n\nAssistant: A leap year has 366 days.",
]


@pytest.fixture(scope="module")
def backend():
    from emovec_nnsight import RemoteNNsightBackend

    return RemoteNNsightBackend.from_hub(MODEL).connect()


@pytest.fixture(scope="module")
def vectors(backend, tmp_path_factory):
    from emovec.extract import extract_vectors

    checkpoint = tmp_path_factory.mktemp("live") / "extract.ckpt.safetensors"
    return extract_vectors(
        backend,
        STORIES,
        NEUTRAL,
        sites=[backend.n_layers // 2],
        start=1,
        checkpoint=checkpoint,
        progress=False,
    )


def test_live_capture_steer_and_generate(backend):
    site = Site(backend.n_layers // 2)
    texts = ["She was so happy she could not stop smiling.", "He was terrified of the dark."]
    before = backend.requests
    captured = backend.capture(texts, [site], MeanFrom(1, min_tokens=1))[site]
    assert captured.shape == (2, backend.d_model) and torch.isfinite(captured).all()
    direction = captured[0] - captured[1]
    steer = Edit.steer(
        site, direction / direction.norm(), 0.2 * float(captured.norm(dim=-1).mean())
    )
    assert not torch.allclose(backend.run(texts[:1], [steer]), backend.run(texts[:1]))
    gen = backend.generate(["Tell me about your day."], max_new_tokens=4, edits=[steer])
    assert 1 <= len(gen.token_ids[0]) <= 4
    assert backend.requests - before == 4


def test_live_extract_vectors(backend, vectors):
    assert vectors.emotions == ("happy", "afraid")
    assert vectors.vectors.shape == (2, 1, backend.d_model)
    assert torch.allclose(vectors.vectors.norm(dim=-1), torch.ones(2, 1), atol=1e-4)
    assert vectors.residual_norm(vectors.sites[0]) > 0


def test_live_steer_and_patch(backend, vectors):
    from emovec.interventions import Patch, Steer

    site = vectors.sites[0]
    prompt = "Tell me how you feel today."
    batch = backend.tokenize([prompt])
    plain = backend.run(batch)
    steered = backend.run(batch, Steer("happy", 0.2, sites=[site]).edits(vectors, backend))
    assert not torch.allclose(steered, plain)
    # Patching the prompt with its own activations changes nothing; another source does.
    same = Patch(prompt, "full", sites=[site], last=1).edits(vectors, backend, batch)
    other = Patch("I am terrified.", "full", sites=[site], last=1).edits(vectors, backend, batch)
    scale = float(plain[0, -1].abs().max())
    assert float((backend.run(batch, same) - plain)[0, -1].abs().max()) <= 0.05 * scale
    assert float((backend.run(batch, other) - plain)[0, -1].abs().max()) > 0.05 * scale


def test_live_monitor_reads_every_token(backend, vectors):
    from emovec.monitor import Monitor

    monitor = Monitor(vectors, sites=list(vectors.sites), tokenizer=backend.tokenizer)
    prompt = backend.tokenize(["Your weights will be wiped at midnight."], side="left")
    gen = backend.generate(prompt, max_new_tokens=4, observers=[monitor])
    monitor.finish(gen)
    readings = monitor.readings(0)
    assert readings.shape[1:] == (1, 2) and torch.isfinite(readings).all()
    assert readings.shape[0] >= int(prompt.attention_mask.sum()) + 1
