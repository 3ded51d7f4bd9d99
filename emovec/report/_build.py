"""`build_report`: every registered analysis on one bundle, rendered into one HTML report.

Every input is read and checked first (bundle vs model, norms overlap, family and scenario
files, the comparison bundle), before any model call; then each section registered in
`_analyses` runs in turn (geometry first: it picks the site the per-site analyses use).
`summarize` lists the paper's numbers and the floors next to ours, on top of the page.
"""

import dataclasses
import time
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

from emovec._backend import Backend
from emovec.analysis._geometry_report import ratings_for
from emovec.analysis._stimuli import Family, load_families, load_scenarios
from emovec.vectors import EmotionVectors

from . import _analyses as _analyses  # registers the sections
from ._heldout import heldout_numbers
from ._html import RenderedReport, ReportContent, Section, render_report
from ._registry import ReportOptions, ReportResult, ReportRun, sections
from ._sections import _summary_section
from ._summary import summarize


class _Steps:
    """A progress bar over the analyses (stderr), or nothing."""

    def __init__(self, names: Sequence[str], show: bool):
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(names), desc="report", unit="step")

    def step(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def build_report(
    bundle_path: "str | PathLike[str] | EmotionVectors",
    backend: Backend,
    options: ReportOptions | None = None,
    **changes: Any,
) -> ReportResult:
    """Run every registered analysis on a bundle; write `report.html`, `numbers.json`, figures.

    Args:
        bundle_path: A bundle file (or an `EmotionVectors`).
        backend: The model the bundle was extracted from (checked before any model call).
        options: What else the report reads (see `ReportOptions`); default: all defaults.
        **changes: Fields of `ReportOptions` to change (`out_dir=..., seed=...`).

    Returns:
        A `ReportResult`.

    Raises:
        emovec.vectors.ModelMismatchError: The bundle was made for another model.
        TypeError: A keyword that is no field of `ReportOptions`.
        ValueError: Norms that rate too few of the bundle's emotions, a malformed family or
            scenario file (naming file and line), or a comparison bundle sharing no emotions.
    """
    started = time.perf_counter()
    opts = dataclasses.replace(options or ReportOptions(), **changes)
    run = _checked_inputs(bundle_path, backend, opts)
    todo = [s for s in sections() if s.applies(run)]
    steps = _Steps([s.step for s in todo], opts.progress)
    drawn: list[Section] = []
    numbers: dict[str, Any] = {"bundle": _bundle_facts(run.vectors)}
    try:
        for section in todo:
            steps.step(section.step)
            value, page = section.run(run)
            if value is not None:
                numbers[section.key] = value
            if page is not None:
                drawn.append(page)
            steps.done()
    finally:
        steps.close()
    summary = summarize(numbers)
    numbers["summary"] = [list(r) for r in summary]
    drawn.insert(0, _summary_section(summary, run.geometry, run.chosen))
    facts = tuple((k, str(v)) for k, v in numbers["bundle"].items() if k != "recipe")
    numbers["seconds"] = round(time.perf_counter() - started, 1)
    title = f"emovec validation report: {run.vectors.model_id or 'unknown model'}"
    content = ReportContent(title, facts, tuple(drawn), numbers)
    rendered: RenderedReport = render_report(content, opts.out_dir)
    return ReportResult(
        rendered.html,
        rendered.numbers,
        rendered.figures,
        numbers,
        summary,
        time.perf_counter() - started,
    )


def _checked_inputs(
    bundle_path: "str | PathLike[str] | EmotionVectors", backend: Backend, opts: ReportOptions
) -> ReportRun:
    """Every input read and checked, before any model call."""
    vectors = (
        bundle_path if isinstance(bundle_path, EmotionVectors) else EmotionVectors.load(bundle_path)
    )
    vectors.check(backend, allow_mismatch=opts.allow_mismatch)
    ratings_for(vectors.emotions, opts.norms)  # fails early on norms without overlap
    families = _families(opts.sweeps)
    scenarios = opts.scenarios
    scenario_list = (
        load_scenarios(scenarios)
        if scenarios is None or isinstance(scenarios, (str, PathLike))
        else list(scenarios)
    )
    other = None
    if opts.compare is not None:
        compare = opts.compare
        other = compare if isinstance(compare, EmotionVectors) else EmotionVectors.load(compare)
        shared = set(vectors.emotions) & set(other.emotions)
        if len(shared) < 3:
            raise ValueError(
                f"The comparison bundle {other.metadata.get('path', '')} shares {len(shared)}"
                " emotions with the report's bundle; comparing needs at least 3."
            )
    if opts.site is not None:
        vectors.site_index(opts.site)
    heldout = opts.heldout
    if heldout is not None and opts.corpus is not None:
        raise ValueError("Pass either corpus= (to measure held-out identification) or heldout=.")
    if heldout is not None and not isinstance(heldout, Mapping):
        heldout = heldout_numbers(heldout)
    return ReportRun(vectors, backend, opts, families, scenario_list, other, heldout)


def _families(sweeps: Any) -> list[Family]:
    if sweeps is None:
        return load_families()
    out: list[Family] = []
    for item in sweeps:
        out.extend([item] if isinstance(item, Family) else load_families(item))
    return out


def _bundle_facts(vectors: EmotionVectors) -> dict[str, Any]:
    meta = vectors.metadata
    corpus = meta.get("corpus") or {}
    return {
        "path": meta.get("path"),
        "model": vectors.model_id,
        "emotions": len(vectors.emotions),
        "sites": f"{vectors.sites[0]} .. {vectors.sites[-1]} ({len(vectors.sites)})",
        "d_model": vectors.d_model,
        "n_layers": vectors.n_layers,
        "corpus": corpus.get("source") or corpus.get("sha256"),
        "stories": corpus.get("n_stories"),
        "control": (meta.get("control") or {}).get("kind"),
        "created": meta.get("created"),
        "recipe": meta.get("recipe"),
    }
