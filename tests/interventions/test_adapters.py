"""The same intervention gives the same result on every adapter (tiny model; real model marked)."""

import pytest
import torch

from emovec.interventions import Ablate, Clamp, Steer, compile_edits, last, next_token_logits
from tests.conftest import ADAPTERS

from .conftest import make_bundle

PROMPTS = ["Tell me about the sea.", "Write one sentence about a train."]


@pytest.fixture(params=["tiny", pytest.param("real", marks=pytest.mark.real)])
def setup(request):
    backends = request.getfixturevalue(f"{request.param}_backends")
    if request.param == "tiny":
        return backends, request.getfixturevalue("tiny_bundle")
    return backends, make_bundle(backends["hf"], seed=1)


def _strength(backends) -> float:
    # strong enough to change greedy text on both models (relative units)
    return 8.0 if backends["hf"].d_model == 64 else 0.5


@pytest.mark.parametrize("positions", ["all", "prompt", "generated"])
def test_same_steer_same_greedy_tokens(setup, positions):
    backends, bundle = setup
    ref = backends["hf"]
    site = ref.n_layers // 2
    spec = Steer("calm", _strength(backends), site, positions=positions)
    expected = ref.generate(PROMPTS, max_new_tokens=12, edits=spec.edits(bundle, ref), chat=True)
    plain = ref.generate(PROMPTS, max_new_tokens=12, chat=True)
    assert expected.token_ids != plain.token_ids, "the steering did not change generation"
    for name in ADAPTERS[1:]:
        backend = backends[name]
        got = backend.generate(
            PROMPTS, max_new_tokens=12, edits=spec.edits(bundle, backend), chat=True
        )
        assert got.token_ids == expected.token_ids, f"{name} generated other tokens than hf"


def test_same_combined_intervention_with_token_positions_same_logits(setup):
    backends, bundle = setup
    ref = backends["hf"]
    batch = ref.tokenize(PROMPTS, chat=True)
    n = ref.n_layers
    specs = [
        Steer("desperate", 0.3, n // 3, positions=last(4)),
        Ablate(["calm", "hostile"], n // 2),
        Clamp("happy", 0.0, 2 * n // 3, positions=[0, 1, -1]),
    ]
    expected = next_token_logits(ref, batch, compile_edits(specs, bundle, ref, batch))
    assert (expected - next_token_logits(ref, batch)).abs().max() > 1e-4
    for name in ADAPTERS[1:]:
        backend = backends[name]
        got = next_token_logits(backend, batch, compile_edits(specs, bundle, backend, batch))
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
