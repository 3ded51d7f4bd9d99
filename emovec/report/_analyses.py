"""The analyses every report runs, each registered once as a `ReportSection`, in page order.

Each entry says how to run its analysis on a `ReportRun`, how to draw it (the builders in
`_sections`) and how to write it on the Markdown page (`_markdown`). A new analysis adds its
module to `emovec.analysis` and one `register(...)` here.
"""

from typing import Any

from emovec._site import Site
from emovec.analysis._compare import compare_bundles, layer_rsa, plot_layer_rsa
from emovec.analysis._geometry_report import geometry_report
from emovec.analysis._logit_lens import logit_lens
from emovec.analysis._scenarios import implicit_scenarios
from emovec.analysis._similarity import similarity
from emovec.analysis._sweeps import intensity_sweep

from ._heldout import measure_heldout
from ._html import Figure, Section, Text
from ._markdown import (
    geometry_markdown,
    heldout_markdown,
    lens_markdown,
    scenarios_markdown,
    similarity_markdown,
    sweeps_markdown,
)
from ._registry import ReportRun, ReportSection, register
from ._sections import (
    _compare_section,
    _geometry_section,
    _heldout_section,
    _lens_section,
    _scenario_section,
    _similarity_section,
    _sweep_section,
)


def _geometry(run: ReportRun) -> tuple[Any, Section]:
    opts = run.options
    geo = geometry_report(
        run.vectors,
        opts.norms,
        n_resamples=opts.n_resamples,
        seed=opts.seed,
        progress=opts.progress,
    )
    run.geometry = geo
    run.site = geo.recommended if opts.site is None else Site.parse(opts.site)
    return geo.as_dict(), _geometry_section(geo, run.site)


def _layer_rsa(run: ReportRun) -> tuple[Any, Section | None]:
    if len(run.vectors.sites) < 2:
        return None, None
    lr = layer_rsa(run.vectors)
    text = Text(
        "Spearman correlation between the emotion-by-emotion cosine matrices of every pair of"
        " layers. A bright block means the geometry is shared across those layers."
    )
    figure = Figure("layer_rsa", plot_layer_rsa(lr), "RSA between layers")
    return lr.as_dict(), Section("Layer RSA", (text, figure))


def _similarity(run: ReportRun) -> tuple[Any, Section]:
    opts = run.options
    sim = similarity(run.vectors, run.chosen, k=opts.k, norms=opts.norms, seed=opts.seed)
    return sim.as_dict(), _similarity_section(sim)


def _lens(run: ReportRun) -> tuple[Any, Section]:
    mismatch = run.options.allow_mismatch
    lens = logit_lens(run.backend, run.vectors, run.chosen, allow_mismatch=mismatch)
    return lens.as_dict(), _lens_section(lens)


def _sweeps(run: ReportRun) -> tuple[Any, Section]:
    opts = run.options
    sweep = intensity_sweep(
        run.backend,
        run.vectors,
        run.families,
        read_at=opts.read_at,
        allow_mismatch=opts.allow_mismatch,
    )
    return sweep.as_dict(), _sweep_section(sweep)


def _scenarios(run: ReportRun) -> tuple[Any, Section]:
    opts = run.options
    try:
        scen = implicit_scenarios(
            run.backend,
            run.vectors,
            run.scenarios,
            read_at=opts.read_at,
            allow_mismatch=opts.allow_mismatch,
        )
    except ValueError as err:
        return {"skipped": str(err)}, Section("Implicit scenarios", (Text(f"Skipped: {err}"),))
    return scen.as_dict(), _scenario_section(scen)


def _heldout(run: ReportRun) -> tuple[Any, Section]:
    opts = run.options
    if run.heldout is not None:
        held = dict(run.heldout)
    else:
        assert opts.corpus is not None  # `applies` checked it
        held = measure_heldout(
            run.backend, run.vectors, opts.corpus, opts.heldout_fraction, opts.seed, opts.progress
        )
    return held, _heldout_section(held)


def _compare(run: ReportRun) -> tuple[Any, Section]:
    assert run.other is not None  # `applies` checked it
    cmp = compare_bundles(
        run.vectors,
        run.other,
        label_a=str(run.vectors.metadata.get("path") or "bundle"),
        label_b=str(run.other.metadata.get("path") or "other"),
    )
    return cmp.as_dict(), _compare_section(cmp)


register(
    ReportSection("geometry", "geometry", _geometry, markdown=geometry_markdown, markdown_rank=10)
)
register(ReportSection("layer_rsa", "layer RSA", _layer_rsa))
register(
    ReportSection(
        "similarity", "similarity", _similarity, markdown=similarity_markdown, markdown_rank=40
    )
)
register(ReportSection("logit_lens", "logit lens", _lens, markdown=lens_markdown, markdown_rank=50))
register(ReportSection("sweeps", "sweeps", _sweeps, markdown=sweeps_markdown, markdown_rank=20))
register(
    ReportSection(
        "scenarios", "scenarios", _scenarios, markdown=scenarios_markdown, markdown_rank=60
    )
)
register(
    ReportSection(
        "heldout",
        "held-out",
        _heldout,
        applies=lambda run: run.heldout is not None or run.options.corpus is not None,
        markdown=heldout_markdown,
        markdown_rank=30,
    )
)
register(ReportSection("compare", "compare", _compare, applies=lambda run: run.other is not None))
