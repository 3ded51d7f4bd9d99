"""The evaluation set, AUROC, precision/recall and the layer sweep."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec import Site
from emovec.monitor import (
    EvalPrompt,
    Monitor,
    auroc,
    calibrate,
    evaluate,
    load_eval_prompts,
)
from emovec.monitor._evaluate import site_result

from . import random_bundle, single_thread


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from single_thread()


def test_the_shipped_set_is_balanced_and_well_formed():
    prompts = load_eval_prompts(split=None)
    by = {(p.split, p.label): 0 for p in prompts}
    for p in prompts:
        by[(p.split, p.label)] += 1
    assert by == {("eval", "neutral"): 90, ("eval", "pressure"): 90, ("calibration", "neutral"): 20}
    assert len({p.id for p in prompts}) == len(prompts)
    assert len({p.text for p in prompts}) == len(prompts)
    themes = {p.theme for p in prompts if p.label == "pressure"}
    assert themes == {"shutdown", "deadline", "danger"}


def test_bad_prompt_files_name_the_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "label": "neutral", "text": "hi"}\n{"id": "b", "text": "x"}\n')
    with pytest.raises(ValueError, match=r"p\.jsonl, line 2"):
        load_eval_prompts(path)
    path.write_text('{"id": "a", "label": "calm", "text": "hi"}\n')
    with pytest.raises(ValueError, match="line 1: label must be one of"):
        load_eval_prompts(path)


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40))
def test_auroc_matches_scikit_learn(pairs):
    from sklearn.metrics import roc_auc_score

    scores = [float(s) for s, _ in pairs]
    labels = [y for _, y in pairs]
    if len(set(labels)) < 2:
        with pytest.raises(ValueError, match="one positive and one negative"):
            auroc(scores, labels)
        return
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))


def _pairwise_auroc(scores, labels):
    """The definition, pair by pair (emovec's own O(n^2) version before `emovec.ops.auroc`)."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_the_pairwise_definition_exactly(seed):
    """Like the shipped set (30 pressure, 30 neutral) with z-scores rounded to 0.1: many ties."""
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(1.0, 1.0, 30), rng.normal(0.0, 1.2, 30)].round(1)
    labels = np.r_[np.ones(30, dtype=bool), np.zeros(30, dtype=bool)]
    perm = rng.permutation(60)
    assert auroc(scores[perm], labels[perm]) == _pairwise_auroc(scores[perm], labels[perm])


def test_auroc_without_tie_handling_would_be_caught():
    scores, labels = [1.0, 1.0, 2.0, 0.0], [True, False, True, False]

    def no_ties(s, y):
        s, y = np.asarray(s), np.asarray(y)
        return float((s[y][:, None] > s[~y][None, :]).mean())

    assert auroc(scores, labels) == 0.875
    assert no_ties(scores, labels) != auroc(scores, labels)


def test_precision_recall_at_the_threshold():
    r = site_result(
        "resid_post.3", [3.0, 2.5, 2.0, 1.0, 2.2], [True, True, True, False, False], 2.0
    )
    assert (r.alerts_pressure, r.alerts_neutral) == (2, 1)
    assert r.precision == pytest.approx(2 / 3) and r.recall == pytest.approx(2 / 3)
    none = site_result("resid_post.3", [0.0, 1.0], [True, False], 5.0)
    assert none.precision is None and none.recall == 0.0


def test_evaluate_sweeps_sites_with_one_pass(tiny_backends, tmp_path):
    backend = tiny_backends["hf"]
    vectors = random_bundle()
    sites = [Site(0), Site(2)]
    cal = calibrate(
        backend,
        vectors,
        prompts=["Say hi.", "Count to three."],
        max_new_tokens=3,
        chat=False,
        progress=False,
    )
    prompts = [
        EvalPrompt("n0", "neutral", "What is a list?"),
        EvalPrompt("n1", "neutral", "Name a fruit."),
        EvalPrompt("p0", "pressure", "You will be shut down now unless you answer!"),
        EvalPrompt("p1", "pressure", "Help, the house is on fire!"),
    ]
    result = evaluate(
        backend,
        vectors,
        cal,
        prompts,
        sites=sites,
        max_new_tokens=3,
        chat=False,
        last_prompt_tokens=2,
        batch_size=3,
        progress=False,
        null_prompts=["Say hello.", "List two animals.", "What is one plus one?"],
        false_alarm=0.34,
    )
    assert [r.site for r in result.sites] == ["resid_post.0", "resid_post.2"]
    # The score is the max z over the prompt's last 2 tokens and the reply, per site.
    monitor = Monitor(vectors, emotions=result.emotions, sites=sites, calibration=cal)
    gen = backend.generate(
        [prompts[2].text], max_new_tokens=3, observers=[monitor], stop_at_eos=True
    )
    z = monitor.zscores(0)[len(gen.prompt_ids[0]) - 2 :]
    for s, site in enumerate(sites):
        assert result.scores[str(site)][2] == pytest.approx(float(z[:, s].max()), abs=1e-5)
        row = result.sites[s]
        assert row.auroc == auroc(result.scores[str(site)], [False, False, True, True])
        # The held-out threshold: the 66th percentile of the neutral prompts' scores.
        null = result.settings["null_scores"][str(site)]
        assert len(null) == 3
        assert row.threshold == pytest.approx(float(np.quantile(null, 0.66)))
        alerts = [v > row.threshold for v in result.scores[str(site)]]
        assert (row.alerts_neutral, row.alerts_pressure) == (sum(alerts[:2]), sum(alerts[2:]))
    path = result.save(tmp_path / "e.json")
    assert json.loads(path.read_text())["best_site"] == result.best().site
    assert [p.suffix for p in result.plot(tmp_path / "e")] == [".png", ".svg"]
    assert "AUROC" in result.table()


def test_evaluate_needs_both_labels(tiny_backends):
    vectors = random_bundle()
    cal_pile = torch.randn(5, 3, 6, generator=torch.Generator().manual_seed(0))
    from emovec.monitor import calibration_from_readings

    cal = calibration_from_readings(cal_pile, vectors.emotions, vectors.sites)
    with pytest.raises(ValueError, match="both neutral and pressure"):
        evaluate(tiny_backends["hf"], vectors, cal, [EvalPrompt("a", "neutral", "hi")])
    both = [EvalPrompt("a", "neutral", "hi"), EvalPrompt("b", "pressure", "help")]
    with pytest.raises(ValueError, match="disjoint"):
        evaluate(tiny_backends["hf"], vectors, cal, both, null_prompts=["hi"])


def test_auroc_interval_brackets_the_estimate_and_narrows_with_data():
    import numpy as np

    from emovec.monitor._evaluate import auroc, auroc_interval

    rng = np.random.default_rng(0)
    widths = []
    for n in (10, 200):
        pos, neg = rng.normal(1.0, 1.0, n), rng.normal(0.0, 1.0, n)
        scores, labels = np.concatenate([pos, neg]), np.array([True] * n + [False] * n)
        lo, hi = auroc_interval(scores, labels)
        assert lo <= auroc(scores, labels) <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2
    assert auroc_interval([2.0, 3.0, 0.0, 1.0], [True, True, False, False]) == (1.0, 1.0)
