"""The monitor on the tiny random Llama: readings, stop, intervene, calls, events (every adapter
where the adapter matters)."""

import pytest
import torch

from emovec import Control, Edit, Site, TokenBatch
from emovec.monitor import (
    Calibration,
    Call,
    Intervene,
    Monitor,
    Rule,
    Sustained,
    Threshold,
    calibration_from_readings,
    read_events,
    validate_event,
    write_events,
)
from emovec.monitor import _probes as monitor_module
from emovec.ops import scores
from emovec.ops._readout import readout
from tests.conftest import ADAPTERS

from . import EMOTIONS, random_bundle, single_thread

PROMPTS = ["The quick brown fox jumps over", "hello"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from single_thread()


def always(emotion="calm", *, tokens=1):
    """A condition true on every real token (a raw threshold below anything): fires on cue."""
    cond = Threshold(emotion, above=-1e9, scale="raw")
    return Sustained(cond, tokens) if tokens > 1 else cond


def replay(backend, gen, row, sites, edits=()):
    """Activations of a separate forward over the tokens the monitor read for `row`."""
    tokens = gen.prompt_ids[row] + gen.token_ids[row]
    ids = torch.tensor([tokens])
    return backend.capture(TokenBatch(ids, torch.ones_like(ids)), sites, edits=edits)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_readings_equal_a_separate_forward(tiny_backends, adapter):
    backend = tiny_backends[adapter]
    vectors = random_bundle()
    sites = [Site(2), Site(0)]
    monitor = Monitor(vectors, sites=sites)
    gen = backend.generate(PROMPTS, max_new_tokens=5, observers=[monitor], stop_at_eos=False)
    for row in range(len(PROMPTS)):
        got = monitor.readings(row)
        n_read = got.shape[0]  # the last generated token is never fed back
        assert n_read == len(gen.prompt_ids[row]) + len(gen.token_ids[row]) - 1
        acts = replay(backend, gen, row, sites)
        for s, site in enumerate(sites):
            want = scores(acts[site][0, :n_read], vectors.at(site))
            torch.testing.assert_close(got[:, s], want, atol=1e-5, rtol=0)
        assert monitor.token_ids(row) == (gen.prompt_ids[row] + gen.token_ids[row])[:n_read]
        assert monitor.positions(row) == list(range(n_read))


def test_all_171_probes_cost_one_matmul_per_step(tiny_backends, monkeypatch):
    backend = tiny_backends["hf"]
    vectors = random_bundle(tuple(f"e{i}" for i in range(171)))
    calls = []

    def counting(x, v):
        calls.append((tuple(x.shape), tuple(v.shape)))
        return readout(x, v)

    monkeypatch.setattr(monitor_module, "readout", counting)
    monitor = Monitor(vectors, sites=[Site(1)])
    backend.generate(["hello there"], max_new_tokens=6, observers=[monitor], stop_at_eos=False)
    assert len(calls) == 6  # the prompt forward and five decode steps
    assert all(v == (171, 64) for _, v in calls)
    assert monitor.readings(0).shape[1:] == (1, 171)


def test_a_zero_vector_is_refused_once_when_the_monitor_is_built():
    vectors = random_bundle()
    vectors.vectors[1, 0] = 0.0  # an emotion lost in extraction, at the first site
    # The bundle's own check (select() builds a new one) names the emotion and site.
    with pytest.raises(ValueError, match="'afraid' at resid_post.0 is all zeros"):
        Monitor(vectors, sites=[vectors.sites[0]])


def test_stop_action_stops_only_the_alerted_row(tiny_backends):
    backend = tiny_backends["hf"]
    vectors = random_bundle()
    plain = Monitor(vectors, sites=[Site(1)])
    ref = backend.generate(PROMPTS, max_new_tokens=6, observers=[plain], stop_at_eos=False)
    # Find an emotion whose reading on one row's first generated token exceeds everything the
    # other row reads while generating: a threshold between them alerts on that row only.
    generated = [plain.readings(r)[len(ref.prompt_ids[r]) :, 0] for r in range(2)]
    hot, emotion, cut = next(
        (r, name, (generated[r][0, e] + generated[1 - r][:, e].max()).item() / 2)
        for e, name in enumerate(EMOTIONS)
        for r in range(2)
        if generated[r][0, e] > generated[1 - r][:, e].max()
    )
    rule = Rule("spike", Threshold(emotion, above=cut, scale="raw"), "stop", phase="generated")
    monitor = Monitor(vectors, sites=[Site(1)], rules=[rule], keep_events=True)
    gen = backend.generate(PROMPTS, max_new_tokens=6, observers=[monitor], stop_at_eos=False)
    assert gen.stopped[hot] == "observer" and len(gen.token_ids[hot]) == 1
    assert gen.stopped[1 - hot] == "max_new_tokens" and len(gen.token_ids[1 - hot]) == 6
    assert gen.token_ids[1 - hot] == ref.token_ids[1 - hot]
    alert = next(a for a in monitor.alerts if a.row == hot)
    assert (alert.rule, alert.step, alert.phase) == ("spike", 1, "generated")
    stops = [ev for ev in monitor.events if ev["type"] == "token" and ev["actions"]]
    assert stops[0]["row"] == hot and stops[0]["actions"][0]["kind"] == "stop"


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_intervene_adds_an_edit_from_the_next_step_on(tiny_backends, adapter):
    backend = tiny_backends[adapter]
    vectors = random_bundle()
    site = Site(1)
    action = Intervene("steer", "calm", strength=0.5)
    rule = Rule("r", always(tokens=3), action, phase="generated")
    monitor = Monitor(vectors, sites=[site, Site(2)], rules=[rule], keep_events=True)
    plain = backend.generate(["hello there"], max_new_tokens=8, stop_at_eos=False)
    gen = backend.generate(
        ["hello there"], max_new_tokens=8, observers=[monitor], stop_at_eos=False
    )
    # The rule holds from the first generated token, so it fires on the third: step 3.
    assert [step for step, _ in gen.edits_added] == [3]
    edit = gen.edits_added[0][1]
    amount = 0.5 * vectors.residual_norm(site)
    assert edit.site == site and float(edit.offset[0]) == pytest.approx(amount)
    # Tokens picked before the edit acts are the plain run's: t1..t4 (t4 comes from step 3).
    assert gen.token_ids[0][:4] == plain.token_ids[0][:4]
    # From the token after the alert on, the monitor saw exactly the edited activations.
    p = len(gen.prompt_ids[0])
    n_read = monitor.readings(0).shape[0]
    mask = torch.zeros(1, p + len(gen.token_ids[0]), dtype=torch.bool)
    mask[0, p + 3 :] = True
    unit = vectors.vector("calm", site)
    edited = replay(
        backend, gen, 0, [site, Site(2)], [Edit.steer(site, unit, amount, positions=mask)]
    )
    unedited = replay(backend, gen, 0, [site])
    for s, where in enumerate([site, Site(2)]):
        want = scores(edited[where][0, :n_read], vectors.at(where))
        torch.testing.assert_close(monitor.readings(0)[:, s], want, atol=1e-5, rtol=0)
    # At the edit site, calm moved by exactly the added amount, and only from step 4 on.
    calm = EMOTIONS.index("calm")
    shift = (
        monitor.readings(0)[:, 0, calm]
        - scores(unedited[site][0, :n_read], vectors.at(site))[:, calm]
    )
    torch.testing.assert_close(shift[: p + 3], torch.zeros(p + 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        shift[p + 3 :], torch.full((n_read - p - 3,), amount), atol=1e-4, rtol=0
    )
    marked = [a for ev in monitor.events if ev["type"] == "token" for a in ev["actions"]]
    assert marked == [
        {
            "kind": "intervene",
            "rule": "r",
            "row": 0,
            "mode": "steer",
            "toward": "calm",
            "strength": 0.5,
            "site": "resid_post.1",
            "from_step": 4,
            "added_norm": pytest.approx(amount),
        }
    ]


def test_ablate_removes_the_alerted_emotion_for_the_rest(tiny_backends):
    backend = tiny_backends["hf"]
    vectors = random_bundle()
    rule = Rule("r", always("afraid"), Intervene("ablate"), phase="generated")
    monitor = Monitor(vectors, sites=[Site(1)], rules=[rule])
    gen = backend.generate(
        ["hello there"], max_new_tokens=6, observers=[monitor], stop_at_eos=False
    )
    assert [step for step, _ in gen.edits_added] == [1]
    p = len(gen.prompt_ids[0])
    afraid = monitor.readings(0)[:, 0, EMOTIONS.index("afraid")]
    assert afraid[p : p + 1].abs().item() > 1e-3  # the alert token itself is unedited
    torch.testing.assert_close(afraid[p + 1 :], torch.zeros(len(afraid) - p - 1), atol=1e-5, rtol=0)


def test_an_intervention_is_added_once_per_generation(tiny_backends):
    backend = tiny_backends["hf"]
    rule = Rule("r", always(), Intervene(), once=False, phase="generated")
    # once=False on an always-true condition: a single rising edge, so a single edit
    monitor = Monitor(random_bundle(), sites=[Site(1)], rules=[rule])
    gen = backend.generate(PROMPTS, max_new_tokens=5, observers=[monitor], stop_at_eos=False)
    assert len(gen.edits_added) == 1
    assert [a["already_active"] for a in monitor.actions[1:]] == [True]


def test_call_action_gets_the_alert_and_may_stop(tiny_backends):
    backend = tiny_backends["hf"]
    seen = []

    def page(alert):
        seen.append(alert)
        return Control(stop=True)

    rule = Rule("r", always("happy", tokens=2), Call("page"), phase="generated")
    monitor = Monitor(random_bundle(), sites=[Site(0)], rules=[rule], handlers={"page": page})
    gen = backend.generate(["hello"], max_new_tokens=8, observers=[monitor], stop_at_eos=False)
    assert len(seen) == 1 and (seen[0].rule, seen[0].step, seen[0].row) == ("r", 2, 0)
    assert seen[0].emotions == ("happy",) and set(seen[0].values) == {"happy"}
    assert gen.stopped == ["observer"] and len(gen.token_ids[0]) == 2


def test_zscores_use_the_calibration(tiny_backends):
    backend = tiny_backends["hf"]
    vectors = random_bundle()
    sites = [Site(1), Site(2)]
    pile = torch.randn(50, 3, len(EMOTIONS), generator=torch.Generator().manual_seed(1))
    cal = calibration_from_readings(pile * 2 + 1, EMOTIONS, [Site(0), *sites])
    cal = Calibration(
        cal.emotions, cal.sites, cal.mean, cal.std, cal.levels, cal.percentiles, cal.count, {}
    )
    monitor = Monitor(vectors, emotions=["afraid", "calm"], sites=sites, calibration=cal)
    backend.generate(["hello there"], max_new_tokens=3, observers=[monitor], stop_at_eos=False)
    raw = monitor.readings(0).double()
    idx = [EMOTIONS.index("afraid"), EMOTIONS.index("calm")]
    mean, std = cal.mean[1:][:, idx], cal.std[1:][:, idx]
    torch.testing.assert_close(monitor.zscores(0).double(), (raw - mean) / std, atol=1e-5, rtol=0)


def test_events_follow_the_schema_and_round_trip(tiny_backends, tmp_path):
    backend = tiny_backends["nnsight"]
    rule = Rule("r", always(tokens=2), "record", phase="generated")
    monitor = Monitor(
        random_bundle(),
        sites=[Site(1)],
        rules=[rule],
        keep_events=True,
        tokenizer=backend.tokenizer,
    )
    gen = backend.generate(PROMPTS, max_new_tokens=4, observers=[monitor], stop_at_eos=False)
    monitor.finish(gen)
    events = monitor.events
    for ev in events:
        validate_event(ev)
    assert events[0]["type"] == "header" and events[-1]["type"] == "end"
    tokens = [ev for ev in events if ev["type"] == "token"]
    assert len(tokens) == sum(monitor.readings(r).shape[0] for r in range(2))
    row0 = [ev for ev in tokens if ev["row"] == 0]
    assert [ev["position"] for ev in row0] == list(range(len(row0)))
    assert "".join(
        ev["token"] for ev in row0 if ev["phase"] == "generated"
    ) == backend.tokenizer.decode(gen.token_ids[0][:-1])
    e = EMOTIONS.index("afraid")
    assert [ev["readings"]["resid_post.1"]["afraid"] for ev in row0] == pytest.approx(
        monitor.readings(0)[:, 0, e].tolist(), abs=1e-5
    )
    assert [ev["step"] for ev in tokens if ev["alerts"]] == [2, 2]
    write_events(tmp_path / "e.jsonl", events)
    assert read_events(tmp_path / "e.jsonl") == events


def test_a_monitor_resets_between_generations(tiny_backends):
    backend = tiny_backends["hf"]
    monitor = Monitor(random_bundle(), sites=[Site(1)], rules=[Rule("r", always(), "stop")])
    backend.generate(PROMPTS, max_new_tokens=3, observers=[monitor], stop_at_eos=False)
    gen = backend.generate(["again"], max_new_tokens=3, observers=[monitor], stop_at_eos=False)
    assert monitor.rows == 1 and monitor.generation == 1
    assert len(monitor.alerts) == 1 and gen.stopped == ["observer"]
    with pytest.raises(IndexError, match="outside the last generation's 1 rows"):
        monitor.readings(1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"emotions": ["desprate"]}, "Did you mean 'desperate'"),
        ({"sites": [Site(7)]}, "No site resid_post.7"),
        ({"rules": [Rule("r", Threshold("afraid", above=2.0))]}, "no calibration"),
        (
            {"rules": [Rule("r", Threshold("calm", below=0.0, scale="raw"), Intervene("ablate"))]},
            "reports no rising emotion",
        ),
        ({"rules": [Rule("r", always(), Intervene(toward="serene"))]}, "No emotion 'serene'"),
        ({"rules": [Rule("r", always(), Call("page"))]}, "handlers"),
    ],
)
def test_bad_monitor_setups_fail_before_any_model_call(kwargs, message):
    with pytest.raises((ValueError, KeyError), match=message):
        Monitor(random_bundle(), **kwargs)


def test_a_calibration_for_other_vectors_is_refused():
    vectors = random_bundle()
    pile = torch.randn(10, 3, len(EMOTIONS), generator=torch.Generator().manual_seed(0))
    from emovec.monitor import vectors_fingerprint

    meta = {"vectors_sha256": vectors_fingerprint(random_bundle(seed=1), EMOTIONS, vectors.sites)}
    cal = calibration_from_readings(pile, EMOTIONS, vectors.sites, metadata=meta)
    with pytest.raises(ValueError, match="measured with other vectors"):
        Monitor(vectors, calibration=cal)
    with pytest.raises(TypeError, match="EmotionVectors"):
        Monitor(vectors.vectors)
