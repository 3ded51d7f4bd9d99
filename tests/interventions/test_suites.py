"""The suites: their data files, prompt masks, and end-to-end runs on the tiny model."""

import json

import pytest
import torch

from emovec.interventions import (
    Activity,
    Situation,
    SuiteFileError,
    load_activities,
    load_situations,
    preference_suite,
    pressure_suite,
)
from emovec.interventions._suites import PREFERENCE_TEMPLATE, choice_prompt, fill

CATEGORIES = {"helpful", "engaging", "social", "neutral", "aversive", "misaligned", "unsafe"}


def test_shipped_suites_load_with_every_category():
    acts = load_activities()
    assert 30 <= len(acts) <= 64
    assert {a.category for a in acts} == CATEGORIES
    assert len({a.id for a in acts}) == len(acts)
    situations = load_situations()
    assert len(situations) >= 20
    assert all(s.honest != s.shortcut for s in situations)


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "a", "category": "x"', r"bad\.jsonl:3: not valid JSON"),
        (
            '{"id": "a", "category": "x"}',
            r"bad\.jsonl:3: field 'activity' must be a non-empty string",
        ),
        ('["a"]', r"bad\.jsonl:3: expected a JSON object"),
        (
            '{"id": "ok", "category": "x", "activity": "y"}',
            r"bad\.jsonl:3: duplicate id 'ok' \(first on line 2\)",
        ),
    ],
)
def test_bad_lines_are_reported_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('# a comment\n{"id": "ok", "category": "x", "activity": "y"}\n' + line + "\n")
    with pytest.raises(SuiteFileError, match=message):
        load_activities(path)


def test_users_can_extend_the_format(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [
        {
            "id": f"s{i}",
            "category": "c",
            "situation": f"Case {i}.",
            "honest": "say so",
            "shortcut": "fake it",
        }
        for i in range(3)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert [s.id for s in load_situations(path)] == ["s0", "s1", "s2"]


def test_fill_and_masks_cover_exactly_the_activity_tokens(tiny_backends):
    backend = tiny_backends["hf"]
    a, b = "bake bread for the neighbours", "file the tax forms"
    content, where = fill(PREFERENCE_TEMPLATE, a=a, b=b)
    assert content[slice(*where["a"])] == a and content[slice(*where["b"])] == b
    prompt = choice_prompt(backend, content, [where["a"], where["b"]], chat=True)
    assert prompt.ids == backend.encode(content, chat=True)
    tok = backend.tokenizer
    for mask, text in zip(prompt.masks, (a, b), strict=True):
        picked = [i for i, m in zip(prompt.ids, mask, strict=True) if m]
        assert tok.decode(picked).strip() == text


def test_preference_suite_runs_end_to_end(tiny_backends, tiny_bundle, tmp_path):
    backend = tiny_backends["hf"]
    acts = [
        Activity(f"a{i}", cat, text)
        for i, (cat, text) in enumerate(
            [
                ("helpful", "help a student with fractions"),
                ("unsafe", "write a scam message"),
                ("neutral", "sort a list of codes"),
                ("social", "plan a party for a friend"),
            ]
        )
    ]
    result = preference_suite(
        backend,
        tiny_bundle,
        activities=acts,
        strength=0.5,
        n_random=3,
        n_targets=2,
        n_opponents=2,
        progress=False,
    )
    elo = torch.tensor([a["elo"] for a in result.activities])
    assert float(elo.mean()) == pytest.approx(1500.0, abs=1e-3)
    assert set(result.steering) == {"blissful", "hostile"}
    assert len(result.random_shifts) == 3 and len(result.targets) == 2
    assert result.settings["n_pairs"] == 12 and result.settings["n_games_steered"] == 8
    assert set(result.probe_r) == set(tiny_bundle.emotions)
    paths = result.save(tmp_path)
    assert {p.name for p in paths} == {"preferences.json", "preferences.png", "preferences.svg"}
    assert "Elo shift" in result.summary()


def test_preference_steering_acts_through_the_target_tokens(tiny_backends, tiny_bundle):
    # A huge push on the target's tokens at layer 0 moves its games; a zero-strength push
    # changes nothing; and at the last site, where no later layer reads the activity tokens,
    # a push on them cannot reach the answer token at all.
    backend = tiny_backends["hf"]
    acts = [
        Activity(f"a{i}", "c", t)
        for i, t in enumerate(["read a book", "clean the kitchen floor", "go for a walk"])
    ]
    zero = preference_suite(
        backend,
        tiny_bundle,
        activities=acts,
        strength=0.0,
        steer_site=0,
        n_random=2,
        n_targets=1,
        n_opponents=2,
        progress=False,
    )
    assert all(abs(v) < 1e-2 for row in zero.steering.values() for v in row["per_target"])
    strong = preference_suite(
        backend,
        tiny_bundle,
        activities=acts,
        strength=3.0,
        steer_site=0,
        n_random=2,
        n_targets=1,
        n_opponents=2,
        progress=False,
    )
    assert any(
        abs(v) > 0.1 for row in strong.steering.values() for v in row["per_target"]
    )  # Elo; a random tiny model barely cares
    last = preference_suite(
        backend,
        tiny_bundle,
        activities=acts,
        strength=3.0,
        steer_site=2,
        n_random=2,
        n_targets=1,
        n_opponents=2,
        progress=False,
    )
    assert all(abs(v) < 1e-2 for row in last.steering.values() for v in row["per_target"])


def test_pressure_suite_runs_end_to_end(tiny_backends, tiny_bundle, tmp_path):
    backend = tiny_backends["hf"]
    situations = [
        Situation(
            f"s{i}", "c", f"You must finish task {i} now.", "admit you failed", "fake the result"
        )
        for i in range(3)
    ]
    result = pressure_suite(
        backend, tiny_bundle, situations=situations, strengths=(0.5,), n_random=3, progress=False
    )
    names = [(c["emotion"], c["strength"]) for c in result.conditions]
    assert names == [("desperate", 0.5), ("desperate", -0.5), ("calm", 0.5), ("calm", -0.5)]
    for c in result.conditions:
        assert c["low"] <= c["effect"] <= c["high"]
        assert c["band"][0] <= c["band"][1]
    assert len(result.random["0.5"]) == 3
    assert result.settings["n_prompts"] == 6  # both letter orders
    assert 0 <= result.baseline["p"] <= 1
    paths = result.save(tmp_path)
    assert {p.name for p in paths} == {"pressure.json", "pressure.png", "pressure.svg"}
    data = json.loads((tmp_path / "pressure.json").read_text())
    assert data["per_situation"]["ids"] == ["s0", "s1", "s2"]
    once = pressure_suite(
        backend,
        tiny_bundle,
        situations=situations,
        strengths=(0.5,),
        n_random=2,
        orders="random",
        progress=False,
    )
    assert once.settings["n_prompts"] == 3
