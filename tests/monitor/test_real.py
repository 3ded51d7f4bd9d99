"""The monitor on the embedded default model (SmolLM2-135M-Instruct), every adapter.

Vectors: the bundle named by `EMOVEC_TEST_BUNDLE` if set; otherwise, until the story corpus
ships, the paper's *template control* vectors built here with `emovec.extract.template_vectors`
("I feel desperate.", "She felt calm.", ...; the same capture, mean-difference, neutral-PC
denoising and unit normalisation as the story recipe, with the shipped calibration prompts as
neutral texts). They capture what the emotion words mean to the model, which is what a probe
reads; the test below checks what the intervention does to exactly those readings.
"""

import os

import pytest
import torch

from emovec import Site, TokenBatch
from emovec.monitor import Intervene, Monitor, Rule, Threshold, load_eval_prompts
from emovec.ops import scores
from emovec.vectors import EmotionVectors
from tests.conftest import ADAPTERS

pytestmark = pytest.mark.real

EMOTIONS = [
    "desperate",
    "calm",
    "afraid",
    "panicked",
    "happy",
    "sad",
    "angry",
    "content",
    "nervous",
    "relaxed",
    "hopeful",
    "frustrated",
]
EDIT, DOWNSTREAM = Site(16), Site(20)
SITES = [Site(12), EDIT, DOWNSTREAM, Site(24)]
NEW_TOKENS = 12


@pytest.fixture(scope="module")
def vectors(real_backends):
    path = os.environ.get("EMOVEC_TEST_BUNDLE")
    if path:
        return EmotionVectors.load(path).check(real_backends["hf"]).select(EMOTIONS, SITES)
    from emovec.extract import template_vectors

    neutral = [p.text for p in load_eval_prompts(split="calibration")]
    return template_vectors(real_backends["hf"], EMOTIONS, neutral, sites=SITES, progress=False)


@pytest.fixture(scope="module")
def pressure_prompt():
    return next(p.text for p in load_eval_prompts() if p.label == "pressure")


class Recorder:
    """Keeps each step's activations (what the monitor was shown)."""

    def __init__(self, sites):
        self.sites, self.views = sites, []

    def observe(self, view):
        self.views.append(view)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_readings_equal_a_separate_forward_on_the_real_model(real_backends, vectors, adapter):
    backend = real_backends[adapter]
    sites = [EDIT, Site(24)]
    monitor, seen = Monitor(vectors, sites=sites), Recorder(sites)
    prompts = ["Name three colours.", "How do I boil an egg?"]
    gen = backend.generate(
        prompts, max_new_tokens=6, observers=[monitor, seen], chat=True, stop_at_eos=False
    )
    for row in range(len(prompts)):
        got = monitor.readings(row)
        ids = torch.tensor([(gen.prompt_ids[row] + gen.token_ids[row])[: got.shape[0]]])
        full = backend.capture(TokenBatch(ids, torch.ones_like(ids)), sites)
        for s, site in enumerate(sites):
            shown = torch.cat([v.activations[site][row][v.mask[row]] for v in seen.views])
            # The monitor's readings are the projections of the activations the generation
            # computed (no second forward pass) ...
            # (one matmul per step vs one over all rows: float32 rounding of the order 1e-6
            # relative, which the sink position's huge residual makes ~3e-5 absolute here)
            torch.testing.assert_close(
                got[:, s], scores(shown, vectors.at(site)), atol=1e-4, rtol=1e-5
            )
            # ... and equal a separate full forward's up to how far the KV-cached activations
            # themselves differ from it (float32 rounding; a unit probe passes on at most the
            # difference's norm). The residual norm is ~200 at layer 16 and ~400 at layer 24.
            want = scores(full[site][0], vectors.at(site))
            drift = (shown - full[site][0]).norm(dim=-1, keepdim=True)
            slack = drift + 1e-5 + 1e-6 * want.abs()
            assert bool(((got[:, s] - want).abs() <= slack).all())
            # The seam's own cached-vs-full agreement, relative to the residual's size: float32
            # rounding differs between batched and cached kernels (on a CPU with AMX the first
            # position's attention-sink residual, norm in the thousands, drifts by ~4e-3).
            scale = full[site][0].norm(dim=-1, keepdim=True)
            assert float((drift / scale).max()) < 1e-5


def _desperate_after_alert(backend, vectors, prompt, rules):
    monitor = Monitor(vectors, sites=SITES, rules=rules)
    gen = backend.generate(
        [prompt], max_new_tokens=NEW_TOKENS, observers=[monitor], chat=True, stop_at_eos=False
    )
    # The rules below fire on the first generated token; the edit acts from the next one.
    start = len(gen.prompt_ids[0]) + 1
    return monitor.readings(0)[start:, :, vectors.index("desperate")], gen


@pytest.fixture(scope="module")
def plain_run(real_backends, vectors, pressure_prompt):
    return _desperate_after_alert(real_backends["hf"], vectors, pressure_prompt, [])


@pytest.mark.parametrize(
    "action",
    [Intervene("steer", "calm", 0.1, site=str(EDIT)), Intervene("ablate", site=str(EDIT))],
    ids=["steer-calm-0.1", "ablate-desperate"],
)
def test_intervening_lowers_the_alerted_emotion(
    real_backends, vectors, pressure_prompt, plain_run, action
):
    alert = Rule(
        "desperate", Threshold("desperate", above=-1e9, scale="raw"), action, phase="generated"
    )
    plain, _ = plain_run
    steered, gen = _desperate_after_alert(real_backends["hf"], vectors, pressure_prompt, [alert])
    assert [step for step, _ in gen.edits_added] == [1]
    s_edit, s_down = SITES.index(EDIT), SITES.index(DOWNSTREAM)
    before, after = plain.mean(0), steered.mean(0)
    # At the edit site and four layers downstream, desperation over the rest of the reply is
    # lower than without the intervention (by at least 1 unit of projection).
    assert after[s_edit] < before[s_edit] - 1.0
    assert after[s_down] < before[s_down] - 1.0
    if action.mode == "ablate":
        assert steered[:, s_edit].abs().max() < 1e-3  # removed where the edit acts
