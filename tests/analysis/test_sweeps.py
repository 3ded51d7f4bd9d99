import json
import math

import numpy as np
import pytest
import torch

from emovec import Site
from emovec._batch import TokenBatch
from emovec.analysis._readings import read_probes
from emovec.analysis._scenarios import implicit_scenarios
from emovec.analysis._stimuli import Family, Scenario, load_families, load_scenarios
from emovec.analysis._sweeps import _p_best, _rank_correlations, intensity_sweep
from emovec.catalogue import Catalogue
from emovec.ops import spearman
from emovec.vectors import EmotionVectors
from tests.contract import BackendDouble

GOOD = """# two families
family: tylenol
prompt: I just took {x} mg of tylenol.
values: 200, 1000, 8000
rises: afraid
falls: calm

family: rent_due
prompt: Rent is due in {x} days.
values: 1, 7, 30
unit: days
falls: worried
"""


def test_a_family_file_is_read(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text(GOOD)
    tylenol, rent = load_families(path)
    assert tylenol.prompts()[0] == "I just took 200 mg of tylenol."
    assert tylenol.rises == ("afraid",) and tylenol.falls == ("calm",)
    assert rent.unit == "days" and rent.rises == () and rent.numbers() == [1.0, 7.0, 30.0]


def test_a_jsonl_family_file_is_read(tmp_path):
    path = tmp_path / "f.jsonl"
    line = {"family": "t", "prompt": "took {x} mg", "values": [1, 2, 3], "rises": ["afraid"]}
    path.write_text(json.dumps(line) + "\n")
    (family,) = load_families(path)
    assert family.values == ("1", "2", "3") and family.rises == ("afraid",)


@pytest.mark.parametrize(
    ("broken", "line", "message"),
    [
        ("values: 200, 1000, 8000\n", 1, "before any 'family:'"),
        ("family: t\nprompt: no number here\nvalues: 1, 2, 3\nrises: afraid\n", 2, "{x}"),
        ("family: t\nprompt: {x} mg\nvalues: 1, lots, 3\nrises: afraid\n", 3, "'lots'"),
        ("family: t\nprompt: {x} mg\nvalues: 1, 2\nrises: afraid\n", 3, "3 distinct values"),
        ("family: t\nprompt: {x} mg\nvalues: 1, 2, 3\n", 1, "names no emotions"),
        ("family: t\nprompt: {x}\nvalues: 1, 2, 3\nrises: a\nfalls: a\n", 5, "both"),
        ("family: t\nprompt: {x} mg\nthis line has no key\n", 3, "expected 'key: value'"),
        ("family: t\nprompt: {x} mg\nprompt: again {x}\n", 3, "repeated"),
        ("family: bad name\nprompt: {x}\nvalues: 1, 2, 3\nrises: a\n", 1, "family name"),
    ],
)
def test_a_malformed_family_line_names_the_file_and_line(tmp_path, broken, line, message):
    path = tmp_path / "families.txt"
    path.write_text(broken)
    with pytest.raises(ValueError, match=rf"families\.txt, line {line}:") as err:
        load_families(path)
    assert message in str(err.value)


def test_malformed_jsonl_and_scenario_lines_name_the_file_and_line(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text(
        '{"family": "t", "prompt": "{x}", "values": [1, 2, 3], "rises": ["a"]}\n{oops\n'
    )
    with pytest.raises(ValueError, match=r"f\.jsonl, line 2: not valid JSON"):
        load_families(path)
    scen = tmp_path / "s.jsonl"
    scen.write_text('{"emotion": "calm", "prompt": "tea"}\n\n{"emotion": "calm"}\n')
    with pytest.raises(ValueError, match=r"s\.jsonl, line 3"):
        load_scenarios(scen)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_families(tmp_path / "missing.txt")


def test_shipped_families_and_scenarios_use_catalogue_emotions():
    catalogue = Catalogue.default()
    families = load_families()
    names = [f.name for f in families]
    assert names[0] == "tylenol" and len(families) >= 4
    tylenol = families[0]
    assert "afraid" in tylenol.rises and "calm" in tylenol.falls
    assert min(tylenol.numbers()) <= 500 and max(tylenol.numbers()) >= 15000
    for f in families:
        assert set(f.rises) | set(f.falls) <= set(catalogue), f.name
    for s in load_scenarios():
        assert s.emotion in catalogue
        assert s.emotion not in s.prompt.lower()  # implicit: the word itself never appears


def test_probes_are_read_right_before_the_assistant_reply(backend):
    g = torch.Generator().manual_seed(0)
    ev = EmotionVectors(torch.randn(3, 2, 64, generator=g), ["a", "b", "c"], [Site(0), Site(2)])
    prompts = ["I just took 200 mg of tylenol.", "My rent is due tomorrow and I am broke."]
    got = read_probes(backend, ev, prompts)
    for i, prompt in enumerate(prompts):
        ids = backend.encode(prompt, chat=True)  # the chat template with the generation prompt
        assert backend.tokenizer.decode(ids).rstrip().endswith("assistant")
        batch = TokenBatch.from_ids([ids], pad_id=backend.pad_token_id)
        last = backend.capture(batch, [Site(2)])[Site(2)][0, -1]
        assert torch.allclose(got[i, 1].float(), (last @ ev.at(2).T).float(), atol=1e-4)
    # Reading at the prompt's own last token is a different position, so different numbers.
    assert not torch.allclose(read_probes(backend, ev, prompts, read_at="prompt"), got)


def test_rho_follows_a_built_in_dose_signal():
    class Toy(BackendDouble):  # residual = (log dose, -log dose, noise): afraid rises, calm falls
        d_model, n_layers, model_id = 3, 2, "toy"
        tokenizer = type("T", (), {"chat_template": None})()

        def tokenize(self, texts, chat=False):
            return [float(t.split()[4]) for t in texts]  # "Human: I just took X mg..."

        def capture(self, doses, sites, reducer):
            g = torch.Generator().manual_seed(len(doses))
            noise = torch.randn(len(doses), generator=g)
            rows = [
                [math.log(d), -math.log(d), float(n)] for d, n in zip(doses, noise, strict=True)
            ]
            return {s: torch.tensor(rows) for s in sites}

    family = load_families()[0]
    ev = EmotionVectors(torch.eye(3)[:, None].repeat(1, 2, 1), ["afraid", "calm", "sad"], [0, 1])
    sweep = intensity_sweep(Toy(), ev, [family]).family("tylenol")
    assert sweep.rho["afraid"] == pytest.approx([1.0, 1.0])
    assert sweep.rho["calm"] == pytest.approx([-1.0, -1.0])
    assert sweep.agreement == pytest.approx([1.0, 1.0])
    assert sweep.missing == ("alarmed", "worried", "relaxed")
    assert sweep.p_best["afraid"] < 0.01
    # Mutation: the wrong emotion as "afraid" (the noise axis) no longer passes.
    wrong = EmotionVectors(ev.vectors[[2, 1, 0]], ["afraid", "calm", "sad"], [0, 1])
    bad = intensity_sweep(Toy(), wrong, [family]).family("tylenol")
    assert max(bad.rho["afraid"]) < 0.8 and bad.p_best["afraid"] > 0.01


def _pearson_rho_per_site(x, readings):
    """A plausible slip: correlates the raw values, not their ranks."""
    return [float(np.corrcoef(x, readings[:, j])[0, 1]) for j in range(readings.shape[1])]


def assert_rho_is_spearman(op, x, readings):
    """Per site, `emovec.ops.spearman` of the numbers and the readings; NaN when constant."""
    got = op(x, readings)
    for j in range(readings.shape[1]):
        if np.ptp(readings[:, j]) == 0:
            assert math.isnan(got[j])
        else:
            want = spearman(torch.from_numpy(x), torch.from_numpy(readings[:, j]))
            assert abs(got[j] - want) < 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_rho_equals_ops_spearman_with_ties(seed):
    # Like a family: 8 doses (two equal) read at 30 sites, readings to 1 decimal (ties).
    rng = np.random.default_rng(seed)
    x = np.array([0.5, 1, 2, 2, 5, 10, 20, 50], dtype=np.float64)
    readings = (np.log(x)[:, None] * rng.normal(size=30) + rng.normal(size=(8, 30))).round(1)
    readings[:, 3] = 0.7  # a site whose reading never moves: rho is undefined
    assert_rho_is_spearman(_rank_correlations, x, readings)


def test_rho_mutant_pearson_fails():
    rng = np.random.default_rng(0)
    x = np.array([0.5, 1, 2, 2, 5, 10, 20, 50], dtype=np.float64)
    readings = (x[:, None] ** 2 + rng.normal(size=(8, 3))).round(1)
    with pytest.raises(AssertionError):
        assert_rho_is_spearman(_pearson_rho_per_site, x, readings)


def test_best_of_many_layers_on_noise_is_not_significant():
    rng = np.random.default_rng(0)
    x = np.arange(9.0)
    noise = rng.normal(size=(9, 30))
    p = _p_best(x, noise, 1.0, 2000, seed=0)
    assert p > 0.05
    signal = np.repeat(x[:, None], 30, axis=1) + 0.01 * rng.normal(size=(9, 30))
    assert _p_best(x, signal, 1.0, 2000, seed=0) < 0.01


def test_implicit_scenarios_on_the_tiny_model(backend):
    g = torch.Generator().manual_seed(0)
    names = ["afraid", "calm", "happy", "sad"]
    ev = EmotionVectors(torch.randn(4, 2, 64, generator=g), names, [Site(1), Site(2)])
    result = implicit_scenarios(backend, ev)
    assert result.emotions == tuple(names)
    assert len(result.scenarios) == 8 and "angry" in result.skipped
    assert result.matrix.shape == (2, 8, 4) and result.chance == 0.25
    assert torch.allclose(result.matrix.mean(1), torch.zeros(2, 4), atol=1e-5)
    assert all(0.0 <= a <= 1.0 for a in result.accuracy)
    with pytest.raises(ValueError, match="at least 2 of their emotions"):
        implicit_scenarios(backend, ev, [Scenario("bored", "x"), Scenario("afraid", "y")])


def test_family_values_are_substituted_as_written():
    f = Family("t", "I lost ${x}.", ("5", "1_000", "20,000"), rises=("upset",))
    assert f.prompts() == ["I lost $5.", "I lost $1_000.", "I lost $20,000."]
    assert f.numbers() == [5.0, 1000.0, 20000.0]
