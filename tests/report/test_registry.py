"""Report sections come from a registry: a new analysis is one registration."""

import json

import pytest

import emovec
from emovec.analysis._geometry_report import geometry_report
from emovec.report import (
    GeometryNumbers,
    ReportOptions,
    ReportSection,
    Section,
    Text,
    _registry,
    build_report,
    register,
    sections,
    summary_markdown,
)
from tests.conftest import tiny_llama
from tests.report.test_report import synthetic_bundle


@pytest.fixture(scope="module")
def backend(tokenizer):
    return emovec.attach(tiny_llama(), tokenizer=tokenizer)


def test_every_analysis_is_registered_once_in_page_order():
    keys = [s.key for s in sections()]
    assert keys == [
        "geometry",
        "layer_rsa",
        "similarity",
        "logit_lens",
        "sweeps",
        "scenarios",
        "heldout",
        "compare",
    ]
    with pytest.raises(ValueError, match="'geometry' is registered already"):
        register(ReportSection("geometry", "again", lambda run: (None, None)))
    assert [s.key for s in sections()] == keys


def test_a_new_section_is_one_registration(backend, tmp_path, monkeypatch):
    geometry = next(s for s in sections() if s.key == "geometry")
    monkeypatch.setattr(_registry, "_SECTIONS", [geometry])
    seen = []

    def run(report_run):
        seen.append(report_run.chosen)  # the geometry section chose the site first
        return {"count": len(report_run.vectors.emotions)}, Section("Counting", (Text("many"),))

    register(
        ReportSection(
            "count",
            "counting",
            run,
            markdown=lambda numbers: ["", f"counted {numbers['count']}"],
            markdown_rank=99,
        )
    )
    register(ReportSection("never", "never", run, applies=lambda report_run: False))
    bundle = synthetic_bundle()
    result = build_report(bundle, backend, out_dir=tmp_path, n_resamples=20, progress=False)
    numbers = json.loads((tmp_path / "numbers.json").read_text())
    assert numbers["count"] == {"count": len(bundle.emotions)}
    assert "never" not in numbers
    assert seen == [bundle.sites[2]]  # the site whose geometry carries valence
    assert "Counting" in (tmp_path / "report.html").read_text()
    assert summary_markdown(result).rstrip().endswith(f"counted {len(bundle.emotions)}")


def test_options_and_keywords_are_the_same_settings(backend, tmp_path, monkeypatch):
    geometry = next(s for s in sections() if s.key == "geometry")
    monkeypatch.setattr(_registry, "_SECTIONS", [geometry])
    bundle = synthetic_bundle()
    by_options = build_report(
        bundle, backend, ReportOptions(out_dir=tmp_path / "a", n_resamples=20, progress=False)
    )
    by_keywords = build_report(
        bundle, backend, out_dir=tmp_path / "b", n_resamples=20, progress=False
    )
    assert by_options.numbers["geometry"] == by_keywords.numbers["geometry"]
    with pytest.raises(TypeError, match="colour"):
        build_report(bundle, backend, out_dir=tmp_path / "c", colour="red")


def test_typed_geometry_numbers_agree_with_the_report():
    bundle = synthetic_bundle()
    geo = geometry_report(bundle, n_resamples=20, progress=False)
    typed = GeometryNumbers.from_dict(json.loads(json.dumps(geo.as_dict())))
    assert typed.recommended_site == str(geo.recommended)
    for site, s in zip(geo.sites, typed.sites, strict=True):
        assert s.site == str(site.site)
        assert s.pearson(1, "valence") == pytest.approx(site.corr(1, "valence").pearson)
        assert s.best("valence").pearson == pytest.approx(site.alignment("valence").pearson)
    r, pc, where = typed.strongest("valence")
    assert where == str(bundle.sites[2]) and pc in (1, 2) and r > 0.9
    best = max(
        (abs(c.pearson), c.pc, str(s.site))
        for s in geo.sites
        for c in s.correlations
        if c.rating == "arousal"
    )
    assert typed.strongest("arousal") == pytest.approx(best)
    readout, at = typed.best_readout("valence")
    assert readout == max(s.readout["valence"] for s in geo.sites)
    assert at == str(max(geo.sites, key=lambda s: s.readout["valence"]).site)
