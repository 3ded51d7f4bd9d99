"""A remote run through the strict stand-in gives what a local run gives (to 1e-5).

Extraction (capture with MeanFrom and the recipe's reducers, and the whole recipe), steering,
patching and monitoring (per-step probe readings during a steered generation), each against
the local nnsight adapter over the same weights; and one deliberately wrong compilation, to
show the comparison can fail.
"""

import pytest
import torch
from emovec_nnsight.remote import _compile

from emovec import Edit, MeanFrom, Site, TokenBatch, keep, last_token
from emovec.extract import RowMoments, TokenMoments, extract_vectors
from emovec.interventions import Steer
from emovec.monitor import Monitor
from tests.extract.conftest import toy_neutral, toy_stories
from tests.monitor import random_bundle

TOL = 1e-5
TEXTS = [
    "The tenant read the letter twice, then folded it and set it on the kitchen table.",
    "She laughed so hard that the whole room turned to look at her.",
    "Hi",
]
SITES = [Site(0), Site(1, "resid_pre"), Site(2)]


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.float(), b.float(), atol=TOL, rtol=0))


@pytest.mark.parametrize(
    "reducer",
    [MeanFrom(2, min_tokens=3), last_token, RowMoments(2), TokenMoments(2), keep],
    ids=["MeanFrom", "last_token", "RowMoments", "TokenMoments", "keep"],
)
def test_capture_matches_local(remote, local, reducer):
    got = remote.capture(TEXTS, SITES, reducer)
    want = local.capture(TEXTS, SITES, reducer)
    assert set(got) == set(want) == set(SITES)
    for site in SITES:
        assert close(got[site], want[site]), site


class SpanMeans:
    """A reducer outside emovec's list that declares itself a weighted mean over tokens."""

    def token_weights(self, mask):
        first = mask.clone()
        first[:, 2:] = False
        return torch.stack([first, mask], dim=1).float()  # [batch, slot, pos]

    def __call__(self, acts, mask):
        w = self.token_weights(mask).to(acts.dtype)
        return torch.einsum("bpd,bsp->bsd", acts, w) / w.sum(-1, keepdim=True).clamp(min=1)


def test_token_weights_protocol(remote, local):
    got = remote.capture(TEXTS, SITES, SpanMeans())
    want = local.capture(TEXTS, SITES, SpanMeans())
    assert all(close(got[s], want[s]) for s in SITES) and got[SITES[0]].shape == (3, 2, 64)


def test_unknown_reducer_refused_before_sending(remote, sandbox):
    runs = sandbox.counts.get("run", 0)
    with pytest.raises(ValueError, match="cannot run in a remote block.*token_weights"):
        remote.capture(TEXTS, SITES, lambda acts, mask: acts.max(1).values)
    assert sandbox.counts.get("run", 0) == runs


def test_capture_many_is_one_request(remote, local):
    batches = [TEXTS[:2], TEXTS[1:]]
    before = remote.requests
    got = remote.capture_many(batches, SITES, MeanFrom(1))
    assert remote.requests == before + 1
    for batch, captured in zip(batches, got, strict=True):
        want = local.capture(batch, SITES, MeanFrom(1))
        assert all(close(captured[s], want[s]) for s in SITES)


def test_steering_matches_local(remote, local):
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(64, generator=gen)
    batch = local.tokenize(TEXTS)
    mask = batch.mask.clone()
    mask[:, :3] = False  # steer only from the fourth token on
    edits = [
        Edit.steer(Site(1), v, 6.0),
        Edit.steer(Site(0, "resid_pre"), v, -2.0, positions=mask),
        Edit.clamp(Site(2), v, 1.5),
    ]
    got = remote.run(batch, edits)
    want = local.run(batch, edits)
    assert close(got, want)
    assert not close(got, local.run(batch)), "the edits must change the logits"
    last = remote._forward(batch.input_ids, batch.attention_mask, last_logits_only=True).logits
    assert close(last, local.run(batch)[:, -1:])


def test_patching_matches_local(remote, local):
    gen = torch.Generator().manual_seed(2)
    basis, _ = torch.linalg.qr(torch.randn(64, 2, generator=gen))
    target = local.tokenize(["I walked to the station in the rain.", "We waited for the bus."])
    other = torch.where(target.mask, (target.input_ids * 7 + 3) % 49000, target.input_ids)
    source = TokenBatch(other, target.attention_mask)  # another text of the same shape
    acts = local.capture(source, [Site(1)])[Site(1)]
    edits = [Edit.patch(Site(1), basis.T, acts), Edit.ablate(Site(2, "resid_pre"), basis.T[:1])]
    got = remote.run(target, edits)
    want = local.run(target, edits)
    assert close(got, want)
    # and the patched subspace now carries the source's coefficients downstream of the edit
    patched = remote.capture(target, [Site(1)], keep, edits=edits[:1])[Site(1)]
    assert close(patched @ basis, acts @ basis)


def test_monitoring_readings_match_local(remote, local):
    vectors = random_bundle()
    sites = [Site(2), Site(0)]
    steer = Edit.steer(Site(1), vectors.vector("calm", Site(1)), 4.0, positions="generated")
    prompts = ["The quick brown fox jumps over", "hello"]
    runs = {}
    for name, backend in (("remote", remote), ("local", local)):
        monitor = Monitor(vectors, sites=sites)
        gen = backend.generate(prompts, max_new_tokens=6, edits=[steer], observers=[monitor])
        runs[name] = (gen, monitor)
    (g_remote, m_remote), (g_local, m_local) = runs["remote"], runs["local"]
    assert g_remote.token_ids == g_local.token_ids
    assert g_remote.stopped == g_local.stopped
    for row in range(len(prompts)):
        got, want = m_remote.readings(row), m_local.readings(row)
        assert got.shape == want.shape and got.shape[0] > len(g_local.prompt_ids[row])
        assert close(got, want), row


class StopRow:
    """Stops row 0 after it has seen `after` decode steps; records what it saw."""

    def __init__(self, site: Site, after: int):
        self.sites = [site]
        self.after = after
        self.seen: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def observe(self, view):
        x = view.activations[self.sites[0]]
        self.seen.append(
            (view.step, view.input_ids.clone(), view.mask.clone(), x[view.mask].clone())
        )
        from emovec import Control

        return Control(stop=[0]) if view.step == self.after else None


def test_observer_stops_and_eos_like_local(remote, local, monkeypatch):
    prompts = ["Once upon a time", "A letter arrived"]
    free = local.generate(prompts, max_new_tokens=6, stop_at_eos=False)
    # Make row 1's third generated token the end-of-sequence token for both backends.
    eos = free.token_ids[1][2]
    from emovec import BackendBase

    monkeypatch.setattr(BackendBase, "eos_token_id", property(lambda self: eos))
    edits = [Edit.steer(Site(0), torch.ones(64), 0.5, positions="prompt")]
    got_obs, want_obs = StopRow(Site(1, "resid_pre"), 2), StopRow(Site(1, "resid_pre"), 2)
    got = remote.generate(prompts, max_new_tokens=6, edits=edits, observers=[got_obs])
    want = local.generate(prompts, max_new_tokens=6, edits=edits, observers=[want_obs])
    assert got.token_ids == want.token_ids and got.stopped == want.stopped
    assert len(got_obs.seen) == len(want_obs.seen)
    for (s1, ids1, m1, x1), (s2, ids2, m2, x2) in zip(got_obs.seen, want_obs.seen, strict=True):
        assert s1 == s2 and torch.equal(ids1, ids2) and torch.equal(m1, m2)
        assert close(x1, x2)


def test_whole_recipe_matches_local(remote, local):
    stories, neutral = toy_stories(per_cell=1), toy_neutral(4)
    kwargs = dict(sites="0:3", start=2, batch_tokens=256, progress=False)
    got = extract_vectors(remote, stories, neutral, **kwargs)
    want = extract_vectors(local, stories, neutral, **kwargs)
    assert got.emotions == want.emotions and got.sites == want.sites
    assert close(got.vectors, want.vectors)
    assert got.metadata["model"]["model_id"] == want.metadata["model"]["model_id"]
    # the tutorial's next step: a norm-relative steer compiled from each bundle
    steer = Steer(got.emotions[0], 0.5, sites=[Site(1)])
    prompt = ["How do you feel about tomorrow?"]
    assert close(
        remote.run(prompt, steer.edits(got, remote)), local.run(prompt, steer.edits(want, local))
    )


def test_wrong_compilation_is_caught(remote, local, monkeypatch):
    """A mutant that averages over every real token (ignoring MeanFrom's start) must differ."""

    def wrong(reducer, mask):
        return (_compile.MEAN, mask.bool().cpu(), None)

    monkeypatch.setattr(_compile, "compile_reducer", wrong)
    batch = TokenBatch.from_ids([[5, 6, 7, 8, 9, 10, 11, 12]], pad_id=2)
    got = remote.capture(batch, [Site(1)], MeanFrom(4, min_tokens=2))[Site(1)]
    want = local.capture(batch, [Site(1)], MeanFrom(4, min_tokens=2))[Site(1)]
    assert not close(got, want)


def test_ban_matches_local(remote, local):
    prompts = ["Once upon a time", "A letter arrived"]
    free = local.generate(prompts, max_new_tokens=6)
    # One single token and one two-token sequence that the free run produced.
    ban = [[[free.token_ids[0][1]], free.token_ids[1][2:4]]] * 2
    want = local.generate(prompts, max_new_tokens=6, ban=ban)
    assert want.token_ids != free.token_ids, "the ban changed nothing"
    got = remote.generate(prompts, max_new_tokens=6, ban=ban)
    assert got.token_ids == want.token_ids


def test_rows_with_different_bans_refused_before_sending(remote, sandbox):
    before = sandbox.requests
    with pytest.raises(ValueError, match="bans the same token sequences in every row"):
        remote.generate(["a", "b"], max_new_tokens=2, ban=[[[5]], [[6]]])
    assert sandbox.requests == before
