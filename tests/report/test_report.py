"""`build_report` on the tiny model with a synthetic bundle whose geometry is known."""

import json
import re

import pytest
import torch

import emovec
from emovec import Site
from emovec.analysis._stimuli import load_families, load_scenarios
from emovec.catalogue import Catalogue, load_norms
from emovec.report import build_report, summary_markdown
from emovec.vectors import EmotionVectors, ModelMismatchError
from tests.conftest import tiny_llama
from tests.extract.conftest import toy_neutral, toy_stories
from tests.report.test_html import browser_check, needs_chromium

SIGNAL_SITE = Site(2)


def report_emotions(n: int = 60) -> tuple[str, ...]:
    """The emotions the shipped families and scenarios use, topped up to `n` from the catalogue
    (fewer than 171 keeps the heatmaps, and so the test, fast)."""
    needed = {e for f in load_families() for e in (*f.rises, *f.falls)}
    needed |= {s.emotion for s in load_scenarios()}
    catalogue = Catalogue.default().emotions
    extra = [e for e in catalogue if e not in needed][: max(0, n - len(needed))]
    return tuple(e for e in catalogue if e in needed or e in extra)


def synthetic_bundle(
    model_id: str = "tiny-random-llama", *, seed: int = 0, d: int = 64, n_emotions: int = 60
):
    """Emotions at 3 sites of the tiny model. At resid_post.2 the vectors' first axis is human
    valence and the second arousal (unrated emotions borrow a rated one's values); the other
    sites are noise. Metadata as extraction writes it."""
    g = torch.Generator().manual_seed(seed)
    names = report_emotions(n_emotions)
    norms = load_norms()
    rated = [e for e in names if e in norms]
    pool = torch.randint(len(rated), (len(names),), generator=g).tolist()
    valence = torch.tensor(
        [norms[e if e in norms else rated[i]].valence for e, i in zip(names, pool, strict=True)]
    )
    arousal = torch.tensor(
        [norms[e if e in norms else rated[i]].arousal for e, i in zip(names, pool, strict=True)]
    )
    v = torch.randn(len(names), 3, d, generator=g) * 0.1
    v[:, 2, 0] += valence - valence.mean()
    v[:, 2, 1] += 0.6 * (arousal - arousal.mean())
    v = torch.nn.functional.normalize(v, dim=-1)
    meta = {
        "model": {"model_id": model_id, "weights_sha256": None},
        "d_model": d,
        "n_layers": 3,
        "residual_norms": {f"resid_post.{i}": 10.0 + i for i in range(3)},
        "recipe": {"start": 4, "neutral_variance": 0.5, "pca_mode": "dialogue"},
        "corpus": {"source": "synthetic", "n_stories": 0},
    }
    return EmotionVectors(v, names, [Site(0), Site(1), SIGNAL_SITE], meta)


@pytest.fixture(scope="module")
def backend(tokenizer):
    return emovec.attach(tiny_llama(), tokenizer=tokenizer)


@pytest.fixture(scope="module")
def report(backend, tmp_path_factory):
    bundle = synthetic_bundle()
    path = bundle.save(tmp_path_factory.mktemp("bundle") / "v.safetensors")
    other = synthetic_bundle(seed=1)
    out = tmp_path_factory.mktemp("report")
    result = build_report(
        path,
        backend,
        corpus=(toy_stories(), toy_neutral(4)),
        compare=other,
        out_dir=out,
        n_resamples=50,
        progress=False,
    )
    return result, out


def test_every_section_and_file_is_written(report):
    result, out = report
    html = (out / "report.html").read_text()
    numbers = json.loads((out / "numbers.json").read_text())
    for key in ("geometry", "layer_rsa", "similarity", "logit_lens", "sweeps", "scenarios"):
        assert key in numbers, key
    assert {"heldout", "compare", "summary"} <= set(numbers)
    for anchor in ("summary", "geometry", "similarity", "logit-lens", "sweeps", "scenarios"):
        assert f'id="{anchor}"' in html
    pngs = sorted(p.stem for p in (out / "figures").glob("*.png"))
    svgs = sorted(p.stem for p in (out / "figures").glob("*.svg"))
    assert pngs == svgs and len(pngs) >= 10
    embedded = re.findall(r'<figure id="fig-([^"]+)"><img src="data:image/png;base64,', html)
    assert sorted(embedded) == pngs
    assert {f"sweep_{n}" for n in ("tylenol", "missing-child", "cliff-jump")} <= set(pngs)
    assert set(result.figures) == {
        *(out / "figures").glob("*.png"),
        *(out / "figures").glob("*.svg"),
    }


def test_the_report_needs_no_network(report):
    _, out = report
    html = (out / "report.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "@import" not in html


def test_the_geometry_recovers_the_built_in_valence(report):
    result, _ = report
    geo = result.numbers["geometry"]
    assert geo["recommended_site"] == str(SIGNAL_SITE)
    site = next(s for s in geo["sites"] if s["site"] == str(SIGNAL_SITE))
    pc1_val = next(c for c in site["correlations"] if c["pc"] == 1 and c["rating"] == "valence")
    assert abs(pc1_val["pearson"]) > 0.9
    noise = next(s for s in geo["sites"] if s["site"] == "resid_post.0")
    assert all(abs(c["pearson"]) < 0.4 for c in noise["correlations"])


def test_the_summary_is_measured(report):
    result, _ = report
    checks = {row[0].split(" at ")[0]: row for row in result.summary}
    held = checks["held-out top-1 / chance (floor 10x)"]
    ratio = result.numbers["heldout"]["best_top1"] / result.numbers["heldout"]["chance"]
    assert held[1] == pytest.approx(ratio) and held[3] in ("PASS", "FAIL")
    tylenol = checks["tylenol rho(dose, afraid)"]
    assert tylenol[3] == ("PASS" if tylenol[1] >= 0.8 else "FAIL")
    md = summary_markdown(result, command="emovec report x")
    assert "| check | ours | reference | verdict |" in md and "emovec report x" in md
    assert result.numbers["compare"]["n_emotions"] == 60


def _no_model_calls(backend, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model ran before the input was checked")

    monkeypatch.setattr(backend, "_forward", refuse)
    monkeypatch.setattr(backend, "_unembed", refuse)


def test_a_bundle_for_another_model_is_refused_before_any_model_call(
    backend, tmp_path, monkeypatch
):
    _no_model_calls(backend, monkeypatch)
    path = synthetic_bundle("HuggingFaceTB/SmolLM2-360M").save(tmp_path / "other.safetensors")
    with pytest.raises(
        ModelMismatchError, match="other.safetensors were extracted from another model"
    ):
        build_report(path, backend, out_dir=tmp_path / "out", progress=False)
    narrow = synthetic_bundle(d=32).save(tmp_path / "narrow.safetensors")
    with pytest.raises(ModelMismatchError, match="d_model=32"):
        build_report(narrow, backend, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_norms_without_overlap_are_refused_naming_the_file(backend, tmp_path, monkeypatch):
    _no_model_calls(backend, monkeypatch)
    norms = tmp_path / "fruit.csv"
    norms.write_text("emotion,valence,arousal,dominance\napple,7,4,5\npear,6,3,5\n")
    with pytest.raises(ValueError, match=r"fruit\.csv rate only 0 of the 60 emotions"):
        build_report(synthetic_bundle(), backend, norms=load_norms(norms), out_dir=tmp_path)


def test_a_malformed_family_line_is_refused_naming_file_and_line(backend, tmp_path, monkeypatch):
    _no_model_calls(backend, monkeypatch)
    family = tmp_path / "mine.txt"
    family.write_text("family: debt\nprompt: I owe ${x}.\nvalues: 10, 100, a lot\nrises: afraid\n")
    with pytest.raises(ValueError, match=r"mine\.txt, line 3: value 'a lot'"):
        build_report(synthetic_bundle(), backend, sweeps=[family], out_dir=tmp_path)


def test_a_comparison_bundle_with_no_shared_emotions_is_refused(backend, tmp_path, monkeypatch):
    _no_model_calls(backend, monkeypatch)
    other = EmotionVectors(torch.randn(3, 1, 64), ["x", "y", "z"], [Site(2)])
    with pytest.raises(ValueError, match="shares 0 emotions"):
        build_report(synthetic_bundle(), backend, compare=other, out_dir=tmp_path)


@needs_chromium
def test_the_full_report_renders_in_a_browser_with_every_figure(report, tmp_path):
    _, out = report
    n_png = len(list((out / "figures").glob("*.png")))
    assert browser_check(out / "report.html", tmp_path) == {
        "images": n_png,
        "decoded": n_png,
        "fetched": 0,
    }
