"""The real service: runs only when NDIF_API_KEY is set (and the machine can reach NDIF).

Set `EMOVEC_NDIF_MODEL` to a model NDIF has deployed (default meta-llama/Llama-3.1-8B; see
`print(nnsight.status())`).
"""

import os

import pytest
import torch

from emovec import Edit, MeanFrom, Site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("NDIF_API_KEY"),
        reason="NDIF_API_KEY is not set: the live test needs an NDIF key and network access",
    ),
]
MODEL = os.environ.get("EMOVEC_NDIF_MODEL", "meta-llama/Llama-3.1-8B")


def test_live_capture_steer_and_generate():
    from emovec_nnsight import RemoteNNsightBackend

    backend = RemoteNNsightBackend.from_hub(MODEL).connect()
    site = Site(backend.n_layers // 2)
    texts = ["She was so happy she could not stop smiling.", "He was terrified of the dark."]
    captured = backend.capture(texts, [site], MeanFrom(1, min_tokens=1))[site]
    assert captured.shape == (2, backend.d_model) and torch.isfinite(captured).all()
    direction = captured[0] - captured[1]
    steer = Edit.steer(
        site, direction / direction.norm(), 0.2 * float(captured.norm(dim=-1).mean())
    )
    assert not torch.allclose(backend.run(texts[:1], [steer]), backend.run(texts[:1]))
    gen = backend.generate(["Tell me about your day."], max_new_tokens=4, edits=[steer])
    assert 1 <= len(gen.token_ids[0]) <= 4
    assert backend.requests == 4
