"""Every adapter captures, edits and generates identically (tiny random model and the real one).

On the tiny model the toy fourth adapter (registered through an entry point in
tests/adapters/conftest.py) runs every one of these tests beside the shipped three.
"""

import pytest
import torch

from emovec import Edit, Site

TEXTS = [
    "The tenant read the letter twice, then folded it and set it on the kitchen table.",
    "Water boils at a lower temperature at altitude.",
    "Hi",
]
TOL = 1e-5


@pytest.fixture(params=["tiny", pytest.param("real", marks=pytest.mark.real)])
def backends(request):
    found = request.getfixturevalue(f"{request.param}_backends")
    if request.param == "tiny":
        found = {**found, "toy": request.getfixturevalue("toy_backend")}
    return found


def others(backends) -> list[str]:
    """Every adapter but the reference (hf)."""
    return [name for name in backends if name != "hf"]


def all_sites(n_layers: int) -> list[Site]:
    return [
        Site(layer, stream) for layer in range(n_layers) for stream in ("resid_pre", "resid_post")
    ]


def edits_for(backend) -> list[Edit]:
    gen = torch.Generator().manual_seed(0)
    d, last = backend.d_model, backend.n_layers - 1
    v = torch.randn(d, generator=gen)
    basis, _ = torch.linalg.qr(torch.randn(d, 3, generator=gen))
    return [
        Edit.steer(Site(1), v, 4.0),
        Edit.clamp(Site(last // 2, "resid_pre"), v, -3.0),
        Edit.ablate(Site(last), basis.T),
    ]


def test_captured_activations_identical(backends):
    ref = backends["hf"]
    batch = ref.tokenize(TEXTS)
    sites = all_sites(ref.n_layers)
    expected = ref.capture(batch, sites)
    for name in others(backends):
        got = backends[name].capture(batch, sites)
        assert set(got) == set(sites)
        for site in sites:
            diff = (got[site] - expected[site])[batch.mask].abs().max().item()
            assert diff <= TOL, f"{name} differs from hf at {site} by {diff}"


def test_edited_logits_identical_and_edits_bite(backends):
    ref = backends["hf"]
    batch = ref.tokenize(TEXTS)
    edits = edits_for(ref)
    expected = ref.run(batch, edits)
    assert (expected - ref.run(batch))[batch.mask].abs().max() > 1e-2, "the edits changed nothing"
    for name in others(backends):
        diff = (backends[name].run(batch, edits) - expected)[batch.mask].abs().max().item()
        assert diff <= TOL, f"{name} edited logits differ from hf by {diff}"


def test_position_mask_limits_the_edit(backends):
    ref = backends["hf"]
    batch = ref.tokenize(TEXTS)
    mask = torch.zeros_like(batch.mask)
    mask[:, 3] = True
    v = torch.randn(ref.d_model, generator=torch.Generator().manual_seed(1))
    edit = Edit.steer(Site(0), v, 8.0, positions=mask)
    base = ref.run(batch)
    for name in backends:
        logits = backends[name].run(batch, [edit])
        # causal: positions before the edited one are untouched, the edited one moves
        assert (
            torch.equal(logits[:, :3], base[:, :3])
            or (logits[:, :3] - base[:, :3]).abs().max() <= TOL
        )
        assert (logits[0, 3] - base[0, 3]).abs().max() > 1e-3


@pytest.mark.parametrize("positions", ["all", "prompt", "generated"])
def test_greedy_generation_identical_under_steering(backends, positions):
    ref = backends["hf"]
    v = torch.randn(ref.d_model, generator=torch.Generator().manual_seed(2))
    # Edit.steer moves along the unit direction: 6 x |v| is the step the test was sized for
    edit = Edit.steer(Site(ref.n_layers // 2), v, 6.0 * float(v.norm()), positions=positions)
    prompts = ["Tell me about the sea.", "Write one sentence about a train."]
    expected = ref.generate(prompts, max_new_tokens=12, edits=[edit], chat=True)
    plain = ref.generate(prompts, max_new_tokens=12, chat=True)
    assert expected.token_ids != plain.token_ids, "the steering edit did not change generation"
    for name in others(backends):
        got = backends[name].generate(prompts, max_new_tokens=12, edits=[edit], chat=True)
        assert got.token_ids == expected.token_ids, f"{name} generated other tokens than hf"


def test_unembed_identical_and_matches_the_last_position(backends):
    ref = backends["hf"]
    batch = ref.tokenize(TEXTS[:1])
    last = Site(ref.n_layers - 1)
    resid = ref.capture(batch, [last])[last]
    logits = ref.run(batch)
    torch.testing.assert_close(ref.unembed(resid), logits, atol=1e-4, rtol=1e-5)
    for name in others(backends):
        torch.testing.assert_close(
            backends[name].unembed(resid), ref.unembed(resid), atol=TOL, rtol=0
        )


def test_a_bare_nnsight_wrapper_works_like_the_others(tiny_backends, tokenizer):
    import copy

    from nnsight import NNsight

    import emovec

    hf = tiny_backends["hf"]
    bare = emovec.attach(NNsight(copy.deepcopy(hf.model)), tokenizer=tokenizer)
    batch = hf.tokenize(TEXTS)
    sites = [Site(1), Site(hf.n_layers - 1, "resid_pre")]
    want, got = hf.capture(batch, sites), bare.capture(batch, sites)
    for site in sites:
        torch.testing.assert_close(got[site], want[site], rtol=0, atol=TOL)
    edits = edits_for(hf)
    torch.testing.assert_close(
        bare.run(batch, edits=edits), hf.run(batch, edits=edits), atol=TOL, rtol=0
    )
