"""The shared decode loop: observers, controls, sampling, positions (tiny model, every adapter)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec import Control, Edit, Site, TokenBatch
from emovec.adapterkit import completions
from tests.conftest import ADAPTERS


class Recorder:
    def __init__(self, sites):
        self.sites = sites
        self.views = []

    def observe(self, view):
        self.views.append(view)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_observed_activations_equal_a_separate_forward(tiny_backends, adapter):
    backend = tiny_backends[adapter]
    site = Site(1)
    rec = Recorder([site])
    gen = backend.generate(["a short prompt"], max_new_tokens=6, observers=[rec], stop_at_eos=False)
    prompt = gen.prompt_ids[0]
    tokens = prompt + gen.token_ids[0]
    streamed = torch.cat([v.activations[site][0] for v in rec.views])  # prompt, then one per step
    row = torch.tensor([tokens[: streamed.shape[0]]])
    full = backend.capture(TokenBatch(row, torch.ones_like(row)), [site])[site][0]
    assert rec.views[0].activations[site].shape[1] == len(prompt)
    assert all(v.activations[site].shape[1] == 1 for v in rec.views[1:])
    torch.testing.assert_close(streamed, full, atol=1e-5, rtol=0)


def test_observer_can_stop(tiny_backends):
    backend = tiny_backends["hf"]

    class StopAt3:
        sites = [Site(0)]

        def observe(self, view):
            return Control(stop=True) if view.step == 3 else None

    gen = backend.generate(
        ["hello", "there you"], max_new_tokens=10, observers=[StopAt3()], stop_at_eos=False
    )
    assert [len(t) for t in gen.token_ids] == [3, 3]
    assert gen.stopped == ["observer", "observer"]


def test_observer_added_edit_applies_from_then_on(tiny_backends):
    backend = tiny_backends["hf"]
    v = torch.randn(backend.d_model, generator=torch.Generator().manual_seed(3))
    steer = Edit.steer(Site(0), v, 50.0, positions="generated")

    class AddAt2:
        sites = [Site(0)]

        def observe(self, view):
            return Control(add_edits=[steer]) if view.step == 2 else None

    plain = backend.generate(["hello"], max_new_tokens=8, stop_at_eos=False)
    added = backend.generate(["hello"], max_new_tokens=8, observers=[AddAt2()], stop_at_eos=False)
    from_start = backend.generate(["hello"], max_new_tokens=8, edits=[steer], stop_at_eos=False)
    assert added.token_ids[0][:3] == plain.token_ids[0][:3]
    assert added.token_ids[0] != plain.token_ids[0]
    assert added.edits_added and added.edits_added[0][0] == 2
    assert from_start.token_ids[0][:1] == plain.token_ids[0][:1]


def test_sampling_is_seeded(tiny_backends):
    backend = tiny_backends["hf"]
    a = backend.generate(["hello"], max_new_tokens=8, temperature=1.0, seed=7, stop_at_eos=False)
    b = backend.generate(["hello"], max_new_tokens=8, temperature=1.0, seed=7, stop_at_eos=False)
    c = backend.generate(["hello"], max_new_tokens=8, temperature=1.0, seed=8, stop_at_eos=False)
    assert a.token_ids == b.token_ids != c.token_ids


def test_left_padded_batch_generates_like_single_rows(tiny_backends):
    backend = tiny_backends["hf"]
    prompts = ["a much longer prompt than the other one", "short"]
    batched = backend.generate(prompts, max_new_tokens=6, stop_at_eos=False)
    for i, prompt in enumerate(prompts):
        single = backend.generate([prompt], max_new_tokens=6, stop_at_eos=False)
        assert single.token_ids[0] == batched.token_ids[i]


def test_prompt_only_edit_leaves_decode_steps_alone(tiny_backends):
    backend = tiny_backends["hf"]
    v = torch.randn(backend.d_model, generator=torch.Generator().manual_seed(4))
    rec_p, rec_g = Recorder([Site(0)]), Recorder([Site(0)])
    backend.generate(
        ["hello"],
        max_new_tokens=3,
        observers=[rec_p],
        stop_at_eos=False,
        edits=[Edit.steer(Site(0), v, 9.0, positions="prompt")],
    )
    backend.generate(
        ["hello"],
        max_new_tokens=3,
        observers=[rec_g],
        stop_at_eos=False,
        edits=[Edit.steer(Site(0), v, 9.0, positions="generated")],
    )
    plain = Recorder([Site(0)])
    backend.generate(["hello"], max_new_tokens=3, observers=[plain], stop_at_eos=False)
    # prompt-only: prefill moved; generated-only: prefill identical to plain
    assert not torch.allclose(
        rec_p.views[0].activations[Site(0)], plain.views[0].activations[Site(0)]
    )
    torch.testing.assert_close(
        rec_g.views[0].activations[Site(0)], plain.views[0].activations[Site(0)]
    )
    torch.testing.assert_close(
        rec_g.views[1].activations[Site(0)] - v * 9.0,
        rec_g.views[1].activations[Site(0)] - v * 9.0,
    )


def _reference_nucleus(probs, top_p):
    """Full-vocabulary nucleus weights, indexed by token (the textbook definition)."""
    sorted_p, order = probs.sort(-1, descending=True)
    sorted_p = sorted_p.masked_fill(sorted_p.cumsum(-1) - sorted_p > top_p, 0.0)
    return torch.zeros_like(probs).scatter(-1, order, sorted_p)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 50.0])  # peaked, ordinary, flat (full sort)
@pytest.mark.parametrize("top_p", [0.5, 0.95])
def test_nucleus_keeps_the_same_tokens_with_the_same_weights(temperature, top_p):
    from emovec.adapterkit import nucleus

    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(4, 5000, generator=gen) * 4 / temperature, -1)
    weights, tokens = nucleus(probs, top_p)
    scattered = torch.zeros_like(probs).scatter(-1, tokens, weights)
    torch.testing.assert_close(scattered, _reference_nucleus(probs, top_p), rtol=0, atol=0)


def _contains(tokens, seq):
    return any(tokens[i : i + len(seq)] == list(seq) for i in range(len(tokens) - len(seq) + 1))


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_banned_sequences_never_appear(tiny_backends, adapter):
    backend = tiny_backends[adapter]
    prompts = ["a short prompt", "another"]
    free = backend.generate(prompts, max_new_tokens=8, stop_at_eos=False)
    # ban the first greedy token of row 0 outright and a later pair of row 1
    one = [free.token_ids[0][0]]
    pair = free.token_ids[1][2:4]
    banned = backend.generate(prompts, max_new_tokens=8, stop_at_eos=False, ban=[[one], [pair]])
    assert one[0] not in banned.token_ids[0]
    assert not _contains(banned.token_ids[1], pair)
    bites = next(i for i in range(1, 8) if free.token_ids[1][i - 1 : i + 1] == pair)
    assert banned.token_ids[1][:bites] == free.token_ids[1][:bites]  # same until the ban bites
    again = backend.generate(prompts, max_new_tokens=8, stop_at_eos=False, ban=[[], []])
    assert again.token_ids == free.token_ids


def test_ban_needs_one_list_per_prompt(tiny_backends):
    with pytest.raises(ValueError, match="one list of token sequences per prompt"):
        tiny_backends["hf"].generate(["a", "b"], max_new_tokens=2, ban=[[[1]]])


@given(
    st.lists(st.integers(0, 4), max_size=6),
    st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=3), max_size=4),
)
def test_completions_are_exactly_the_tokens_that_finish_a_sequence(generated, sequences):
    got = completions(generated, sequences)
    for token in range(5):
        extended = generated + [token]
        finishes = any(len(s) <= len(extended) and extended[-len(s) :] == s for s in sequences)
        assert (token in got) == finishes
