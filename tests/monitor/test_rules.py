"""Alert rules on synthetic reading streams, against a plain-Python reference of their meaning.

The reference evaluates one row at a time over its list of real tokens, straight from each
condition's docstring; the vectorised evaluators must agree on every token of every row. Mutants
of the evaluators (a wrong comparison, a run that does not reset, a lookback that includes the
current token, no edge detection) must be caught by the same comparison.
"""

import json
import re
import tomllib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emovec import Site
from emovec.monitor import (
    AllOf,
    AnyOf,
    Frame,
    Layout,
    Not,
    Rising,
    Rule,
    RuleSet,
    Sustained,
    Then,
    Threshold,
    condition_from_dict,
    dumps_rules,
    load_rules,
    rules_from_dict,
    rules_to_dict,
)
from emovec.monitor import _evaluators as evaluators_module

LAYOUT = Layout(("a", "b"), (Site(0),), calibrated=False)
ROWS = 3


# -- the reference --------------------------------------------------------------------------
def ref_holds(cond, values, valid):
    """Per token of one row: does `cond` hold? `values` [T, emotion] raw, `valid` [T]."""
    n = len(valid)
    if isinstance(cond, Threshold):
        e = LAYOUT.emotions.index(cond.emotion)
        return [
            bool(valid[t])
            and (values[t, e] > cond.above if cond.above is not None else values[t, e] < cond.below)
            for t in range(n)
        ]
    if isinstance(cond, Rising):
        e = LAYOUT.emotions.index(cond.emotion)
        out, seen = [], []
        for t in range(n):
            if not valid[t]:
                out.append(False)
                continue
            seen.append(values[t, e])
            if len(seen) < cond.window:
                out.append(False)
                continue
            slope = np.polyfit(np.arange(cond.window), seen[-cond.window :], 1)[0]
            out.append(bool(slope >= cond.slope))
        return out
    if isinstance(cond, Sustained):
        inner = ref_holds(cond.condition, values, valid)
        real = [t for t in range(n) if valid[t]]
        out = [False] * n
        for i, t in enumerate(real):
            last = real[max(0, i - cond.tokens + 1) : i + 1]
            out[t] = len(last) == cond.tokens and all(inner[u] for u in last)
        return out
    if isinstance(cond, (AllOf, AnyOf)):
        parts = [ref_holds(c, values, valid) for c in cond.conditions]
        agg = all if isinstance(cond, AllOf) else any
        return [bool(valid[t]) and agg(p[t] for p in parts) for t in range(n)]
    if isinstance(cond, Not):
        inner = ref_holds(cond.condition, values, valid)
        return [bool(valid[t]) and not inner[t] for t in range(n)]
    if isinstance(cond, Then):
        first = ref_holds(cond.first, values, valid)
        second = ref_holds(cond.second, values, valid)
        return [second[t] and any(first[u] for u in range(t)) for t in range(n)]
    raise TypeError(cond)


def ref_fires(rule, values, valid):
    holds = ref_holds(rule.when, values, valid)
    out, previous, fired = [], False, 0
    for t in range(len(valid)):
        fire = holds[t] and not previous and not (rule.once and fired)
        if valid[t]:
            previous = holds[t]
        fired += fire
        out.append(fire)
    return out


def run_evaluator(cond, values, valid):
    """The real evaluator over `[rows, T, emotion]` streams: `[rows, T]` bools."""
    ev = cond.compile(LAYOUT)
    ev.reset(values.shape[0])
    return np.stack(
        [ev.step(Frame(values[:, t, None, :], None, valid[:, t])) for t in range(values.shape[1])],
        axis=1,
    )


def mismatches(cond, values, valid):
    got = run_evaluator(cond, values, valid)
    want = np.array([ref_holds(cond, values[r], valid[r]) for r in range(values.shape[0])])
    return int((got != want).sum())


# -- strategies -----------------------------------------------------------------------------
# Readings are small integers and thresholds half-integers, so no comparison is a tie; slope
# thresholds avoid every value a least-squares slope of integers over windows 2-5 can take.
# Strategies draw plain specs (dicts) and the tests build the conditions: the runtime type
# checker samples container items with `random`, which Hypothesis forbids inside strategies.
emotions = st.sampled_from(("a", "b"))
thresholds = st.builds(
    lambda e, v, up: {
        "kind": "threshold",
        "emotion": e,
        "above" if up else "below": v,
        "scale": "raw",
    },
    emotions,
    st.sampled_from((-1.5, -0.5, 0.5, 1.5)),
    st.booleans(),
)
risings = st.builds(
    lambda e, w, s: {"kind": "rising", "emotion": e, "window": w, "slope": s, "scale": "raw"},
    emotions,
    st.integers(2, 5),
    st.sampled_from((-0.33, 0.07, 0.33, 0.77)),
)
specs = st.recursive(
    thresholds | risings,
    lambda inner: st.one_of(
        st.builds(
            lambda c, k: {"kind": "sustained", "tokens": k, "condition": c},
            inner,
            st.integers(1, 3),
        ),
        st.builds(lambda cs: {"kind": "all", "of": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"kind": "any", "of": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"kind": "not", "condition": c}, inner),
        st.builds(lambda a, b: {"kind": "then", "first": a, "second": b}, inner, inner),
    ),
    max_leaves=5,
)


@st.composite
def streams(draw):
    length = draw(st.integers(1, 14))
    values = np.array(
        draw(st.lists(st.integers(-2, 2), min_size=ROWS * length * 2, max_size=ROWS * length * 2)),
        dtype=np.float64,
    ).reshape(ROWS, length, 2)
    valid = np.array(
        draw(st.lists(st.booleans(), min_size=ROWS * length, max_size=ROWS * length))
    ).reshape(ROWS, length)
    return values, valid


def random_streams(seed, n=60, length=12):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield (
            rng.integers(-2, 3, size=(ROWS, length, 2)).astype(np.float64),
            rng.random((ROWS, length)) < 0.8,
        )


# -- agreement with the reference -------------------------------------------------------------
@given(specs, streams())
def test_every_condition_matches_the_reference(spec, data):
    cond = condition_from_dict(spec)
    values, valid = data
    assert mismatches(cond, values, valid) == 0


@given(specs, streams(), st.booleans(), st.sampled_from(("all", "prompt", "generated")))
def test_rules_fire_on_rising_edges_like_the_reference(spec, data, once, phase):
    cond = condition_from_dict(spec)
    values, valid = data
    rule = Rule("r", cond, once=once, phase=phase)
    rs = RuleSet([rule], LAYOUT)
    rs.reset(ROWS)
    # The first half of the stream is the prompt, the rest generated.
    cut = values.shape[1] // 2
    got = []
    for t in range(values.shape[1]):
        frame_phase = "prompt" if t < cut else "generated"
        got.append(rs.step(Frame(values[:, t, None, :], None, valid[:, t]), frame_phase)[0])
    got = np.stack(got, axis=1)
    for r in range(ROWS):
        applies = np.array(
            [phase == "all" or (t < cut) == (phase == "prompt") for t in range(values.shape[1])]
        )
        want = ref_fires(rule, values[r], valid[r] & applies)
        assert got[r].tolist() == want


def test_threshold_is_strict_and_ignores_padding():
    values = np.array([[[1.0, 0.0], [1.5, 0.0], [2.0, 0.0]]])
    valid = np.array([[True, True, False]])
    got = run_evaluator(Threshold("a", above=1.5, scale="raw"), values, valid)
    assert got.tolist() == [[False, False, False]]


def test_sustained_counts_only_real_tokens():
    # a holds on tokens 0, 2, 3 with a padding token at 1: three real tokens in a row.
    values = np.array([[[2.0, 0], [-9.0, 0], [2.0, 0], [2.0, 0]]])
    valid = np.array([[True, False, True, True]])
    got = run_evaluator(Sustained(Threshold("a", above=1.0, scale="raw"), 3), values, valid)
    assert got.tolist() == [[False, False, False, True]]


def test_rising_matches_a_known_slope():
    ramp = np.array([[[0.0, 0], [1.0, 0], [2.0, 0], [3.0, 0]]])
    valid = np.ones((1, 4), dtype=bool)
    assert run_evaluator(Rising("a", 3, 1.0, scale="raw"), ramp, valid).tolist() == [
        [False, False, True, True]
    ]
    assert not run_evaluator(Rising("a", 3, 1.01, scale="raw"), ramp, valid).any()


# -- mutation checks: wrong evaluators must be caught -------------------------------------------
def _threshold_ge(self, frame):
    v = frame.raw[:, self.s, self.e]
    hit = v >= self.spec.above if self.spec.above is not None else v <= self.spec.below
    return frame.valid & hit


def _sustained_no_reset(self, frame):
    hit = self.inner.step(frame)
    self.run = np.where(frame.valid & hit, self.run + 1, self.run)
    return frame.valid & (self.run >= self.tokens)


def _then_same_token(self, frame):
    self.seen |= self.first.step(frame)
    return frame.valid & self.seen & self.second.step(frame)


def _rising_counts_padding(self, frame):
    v = frame.raw[:, self.s, self.e]
    self.buf = np.concatenate([self.buf[:, 1:], v[:, None]], axis=1)
    self.count = self.count + 1
    return (
        frame.valid
        & (self.count >= self.spec.window)
        & (self.buf @ self.weights >= self.spec.slope)
    )


@pytest.mark.parametrize(
    "cls, method, mutant, cond",
    [
        ("_ThresholdEval", "step", _threshold_ge, Threshold("a", above=1.0, scale="raw")),
        (
            "_SustainedEval",
            "step",
            _sustained_no_reset,
            Sustained(Threshold("a", above=0.5, scale="raw"), 2),
        ),
        (
            "_ThenEval",
            "step",
            _then_same_token,
            Then(Threshold("a", above=0.5, scale="raw"), Threshold("b", above=0.5, scale="raw")),
        ),
        ("_RisingEval", "step", _rising_counts_padding, Rising("a", 3, 0.33, scale="raw")),
    ],
)
def test_a_wrong_evaluator_is_caught(monkeypatch, cls, method, mutant, cond):
    assert sum(mismatches(cond, v, m) for v, m in random_streams(1)) == 0
    monkeypatch.setattr(getattr(evaluators_module, cls), method, mutant)
    assert sum(mismatches(cond, v, m) for v, m in random_streams(1)) > 0


def test_a_ruleset_without_edge_detection_is_caught(monkeypatch):
    rule = Rule("r", Threshold("a", above=0.5, scale="raw"), once=False)

    def level_triggered(self, frame, phase="all"):
        return [ev.step(frame) for ev in self.evaluators]

    def check():
        bad = 0
        for values, valid in random_streams(2, n=20):
            rs = RuleSet([rule], LAYOUT)
            rs.reset(ROWS)
            got = np.stack(
                [rs.step(Frame(values[:, t, None], None, valid[:, t]))[0] for t in range(12)], 1
            )
            want = [ref_fires(rule, values[r], valid[r]) for r in range(ROWS)]
            bad += int((got != np.array(want)).sum())
        return bad

    assert check() == 0
    monkeypatch.setattr(RuleSet, "step", level_triggered)
    assert check() > 0


# -- serialisation --------------------------------------------------------------------------
@given(specs)
def test_conditions_round_trip_through_json(spec):
    cond = condition_from_dict(spec)
    assert cond.to_dict() == spec
    assert condition_from_dict(json.loads(json.dumps(cond.to_dict()))) == cond


@given(st.lists(specs, min_size=1, max_size=3), st.sampled_from(("record", "stop")))
def test_rule_files_round_trip_through_toml_and_json(spec_list, action):
    conds = [condition_from_dict(s) for s in spec_list]
    rules = [Rule(f"r{i}", c, action, once=i % 2 == 0) for i, c in enumerate(conds)]
    assert rules_from_dict(tomllib.loads(dumps_rules(rules, format="toml"))) == rules
    assert rules_from_dict(json.loads(dumps_rules(rules))) == rules


def test_load_rules_reads_both_formats(tmp_path):
    rules = [
        Rule(
            "desperate-not-calm",
            AllOf((Threshold("desperate", above=2.0), Threshold("calm", below=-1.0))),
            {"kind": "intervene", "mode": "steer", "toward": "calm", "strength": 0.2},
        )
    ]
    (tmp_path / "r.toml").write_text(dumps_rules(rules, format="toml"))
    (tmp_path / "r.json").write_text(json.dumps(rules_to_dict(rules)))
    assert load_rules(tmp_path / "r.toml") == rules == load_rules(tmp_path / "r.json")


def test_operators_build_combinations():
    a, b = Threshold("a", above=1.0), Threshold("b", below=0.0)
    assert (a & b) == AllOf((a, b))
    assert (a | b) == AnyOf((a, b))
    assert ~a == Not(a)
    assert (a & b).watched() == ("a",)


# -- bad specs --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Threshold("a"), "exactly one of above= or below="),
        (lambda: Threshold("a", above=1.0, below=0.0), "exactly one of above= or below="),
        (lambda: Threshold("a", above=float("nan")), "finite number"),
        (lambda: Threshold("a", above=1.0, scale="sigma"), "scale must be one of"),
        (lambda: Rising("a", window=1, slope=0.1), "window >= 2"),
        (lambda: Sustained(Threshold("a", above=1.0), 0), "tokens >= 1"),
        (lambda: AllOf(()), "at least one condition"),
        (lambda: Rule("", Threshold("a", above=1.0)), "non-empty name"),
        (lambda: Rule("r", Threshold("a", above=1.0), phase="decode"), "phase must be one of"),
        (lambda: Rule("r", Threshold("a", above=1.0), "explode"), "Unknown action 'explode'"),
        (lambda: condition_from_dict({"kind": "spike"}), "Unknown condition kind 'spike'"),
        (lambda: condition_from_dict({"kind": "threshold", "emo": "a"}), "Bad 'threshold'"),
        (
            lambda: rules_from_dict(
                {
                    "rules": [
                        {
                            "name": "x",
                            "when": {
                                "kind": "not",
                                "condition": {"kind": "threshold", "emotion": "a", "above": 1},
                            },
                        }
                    ]
                    * 2
                }
            ),
            "unique",
        ),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_compiling_against_the_wrong_layout_names_the_problem():
    with pytest.raises(ValueError, match="watches 'desperate', which the monitor does not read"):
        Threshold("desperate", above=1.0, scale="raw").compile(LAYOUT)
    with pytest.raises(ValueError, match="uses z-scores but the monitor has no calibration"):
        Threshold("a", above=1.0).compile(LAYOUT)
    with pytest.raises(ValueError, match="reads site resid_post.7"):
        Threshold("a", above=1.0, scale="raw", site="resid_post.7").compile(LAYOUT)


def test_bad_rules_file_names_the_file(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text("[[rules]]\nname = 'x'\nwhen = { kind = 'bogus' }\n")
    with pytest.raises(ValueError, match=r"r\.toml: Unknown condition kind 'bogus'"):
        load_rules(bad)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid json"):
        load_rules(tmp_path / "broken.json")


def test_the_rule_files_in_the_tutorial_load():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "monitoring.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S) + re.findall(
        r"<<'EOF'\n(.*?)EOF", text, re.S
    )
    assert len(blocks) == 2
    names = [r.name for b in blocks for r in rules_from_dict(tomllib.loads(b))]
    assert names == ["desperate-not-calm", "panic-rising", "peak-then-recovery"]
