"""`build_report`: every validation analysis on one bundle, rendered into one HTML report.

The order is: read and check every input (bundle vs model, norms overlap, family and scenario
files, the comparison bundle) before any model call; then geometry (PCA vs human ratings, layer
sweep, recommended site), layer RSA, similarity structure, logit lens, intensity sweeps,
implicit scenarios, held-out identification (when a corpus is given) and the comparison with a
second bundle (when given). `summarize` lists the paper's numbers and the floors next to ours;
the sections themselves are drawn in `_sections`.
"""

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from emovec._backend import Backend
from emovec._site import Site
from emovec.analysis._compare import compare_bundles, layer_rsa, plot_layer_rsa
from emovec.analysis._geometry_report import geometry_report, ratings_for
from emovec.analysis._logit_lens import logit_lens
from emovec.analysis._readings import ReadAt
from emovec.analysis._scenarios import implicit_scenarios
from emovec.analysis._similarity import similarity
from emovec.analysis._stimuli import Family, Scenario, load_families, load_scenarios
from emovec.analysis._sweeps import intensity_sweep
from emovec.vectors import EmotionVectors

from ._html import Figure, RenderedReport, ReportContent, Section, Text, render_report
from ._sections import (
    _compare_section,
    _geometry_section,
    _heldout_section,
    _lens_section,
    _scenario_section,
    _similarity_section,
    _summary_section,
    _sweep_section,
)
from ._summary import summarize


@dataclass(frozen=True)
class ReportResult:
    """What `build_report` computed and wrote.

    Attributes:
        html: Path of `report.html`.
        numbers_path: Path of `numbers.json`.
        figures: Paths of the PNG and SVG figures.
        numbers: The numbers as written to JSON.
        summary: The headline rows: `(check, ours, reference, verdict)`.
        seconds: Wall time of the whole build.
    """

    html: Path
    numbers_path: Path
    figures: tuple[Path, ...]
    numbers: dict[str, Any]
    summary: tuple[tuple[str, Any, Any, str], ...]
    seconds: float


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
    *,
    norms: Any = None,
    sweeps: "Sequence[str | PathLike[str] | Family] | None" = None,
    scenarios: "str | PathLike[str] | Sequence[Scenario] | None" = None,
    corpus: "tuple[Iterable[Any], Iterable[Any] | None] | None" = None,
    heldout: Any = None,
    compare: "str | PathLike[str] | EmotionVectors | None" = None,
    out_dir: "str | PathLike[str]" = "runs/report",
    site: "Site | str | int | None" = None,
    read_at: ReadAt = "assistant",
    k: int = 10,
    n_resamples: int = 1000,
    heldout_fraction: float = 0.25,
    seed: int = 0,
    allow_mismatch: bool = False,
    progress: bool = True,
) -> ReportResult:
    """Run every analysis on a bundle and write `report.html`, `numbers.json` and figures.

    Args:
        bundle_path: A bundle file (or an `EmotionVectors`).
        backend: The model the bundle was extracted from (checked before any model call).
        norms: Human ratings (`emovec.catalogue.load_norms` path, `AffectNorms`, mapping or
            None for the shipped Warriner et al. norms).
        sweeps: Intensity families: file paths and/or `Family` objects; None = shipped.
        scenarios: Implicit scenarios: a JSONL path or `Scenario` list; None = shipped.
        corpus: `(stories, neutral)` records for held-out identification (stories need
            `emotion`, `text`, `topic`); None skips it.
        heldout: Held-out identification already measured (a `HeldoutIdentification` or
            `heldout_numbers` of one, e.g. from extraction with `return_vectors=True`): shown
            as is, without another pass over the corpus. Exclusive with `corpus`.
        compare: A second bundle to compare with (another model, corpus or recipe).
        out_dir: Output folder.
        site: Site for the per-site analyses (scatter, similarity, logit lens); None = the
            recommended site.
        read_at: Where sweeps read the probes ("assistant" or "prompt").
        k: k-means clusters.
        n_resamples: Bootstrap resamples for the correlation intervals.
        heldout_fraction: Share of topics held out.
        seed: Seeds the bootstrap, k-means and the topic split.
        allow_mismatch: Accept a bundle from another model (deliberate cross-model use).
        progress: Progress bars on stderr.

    Returns:
        A `ReportResult`.

    Raises:
        emovec.vectors.ModelMismatchError: The bundle was made for another model.
        ValueError: Norms that rate too few of the bundle's emotions, a malformed family or
            scenario file (naming file and line), or a comparison bundle sharing no emotions.
    """
    started = time.perf_counter()
    vectors = (
        bundle_path if isinstance(bundle_path, EmotionVectors) else EmotionVectors.load(bundle_path)
    )
    vectors.check(backend, allow_mismatch=allow_mismatch)
    ratings_for(vectors.emotions, norms)  # fails early on norms without overlap
    families = _families(sweeps)
    scenario_list = (
        load_scenarios(scenarios)
        if scenarios is None or isinstance(scenarios, (str, PathLike))
        else list(scenarios)
    )
    other = None
    if compare is not None:
        other = compare if isinstance(compare, EmotionVectors) else EmotionVectors.load(compare)
        shared = set(vectors.emotions) & set(other.emotions)
        if len(shared) < 3:
            raise ValueError(
                f"The comparison bundle {other.metadata.get('path', '')} shares {len(shared)}"
                " emotions with the report's bundle; comparing needs at least 3."
            )
    if site is not None:
        vectors.site_index(site)
    names = ["geometry", "layer RSA", "similarity", "logit lens", "sweeps", "scenarios"]
    if heldout is not None and corpus is not None:
        raise ValueError("Pass either corpus= (to measure held-out identification) or heldout=.")
    if heldout is not None and not isinstance(heldout, Mapping):
        heldout = heldout_numbers(heldout)
    names += ["held-out"] * (corpus is not None or heldout is not None) + ["compare"] * (
        other is not None
    )
    steps = _Steps(names, progress)
    sections: list[Section] = []
    numbers: dict[str, Any] = {"bundle": _bundle_facts(vectors)}
    try:
        steps.step("geometry")
        geo = geometry_report(vectors, norms, n_resamples=n_resamples, seed=seed, progress=progress)
        chosen = geo.recommended if site is None else Site.parse(site)
        numbers["geometry"] = geo.as_dict()
        sections.append(_geometry_section(geo, chosen))
        steps.done()

        steps.step("layer RSA")
        if len(vectors.sites) > 1:
            lr = layer_rsa(vectors)
            numbers["layer_rsa"] = lr.as_dict()
            sections.append(
                Section(
                    "Layer RSA",
                    (
                        Text(
                            "Spearman correlation between the emotion-by-emotion cosine"
                            " matrices of every pair of layers. A bright block means the"
                            " geometry is shared across those layers."
                        ),
                        Figure("layer_rsa", plot_layer_rsa(lr), "RSA between layers"),
                    ),
                )
            )
        steps.done()

        steps.step("similarity")
        sim = similarity(vectors, chosen, k=k, norms=norms, seed=seed)
        numbers["similarity"] = sim.as_dict()
        sections.append(_similarity_section(sim))
        steps.done()

        steps.step("logit lens")
        lens = logit_lens(backend, vectors, chosen, allow_mismatch=allow_mismatch)
        numbers["logit_lens"] = lens.as_dict()
        sections.append(_lens_section(lens))
        steps.done()

        steps.step("sweeps")
        sweep = intensity_sweep(
            backend,
            vectors,
            families,
            read_at=read_at,
            allow_mismatch=allow_mismatch,
        )
        numbers["sweeps"] = sweep.as_dict()
        sections.append(_sweep_section(sweep))
        steps.done()

        steps.step("scenarios")
        try:
            scen = implicit_scenarios(
                backend,
                vectors,
                scenario_list,
                read_at=read_at,
                allow_mismatch=allow_mismatch,
            )
        except ValueError as err:
            numbers["scenarios"] = {"skipped": str(err)}
            sections.append(Section("Implicit scenarios", (Text(f"Skipped: {err}"),)))
        else:
            numbers["scenarios"] = scen.as_dict()
            sections.append(_scenario_section(scen))
        steps.done()

        if corpus is not None or heldout is not None:
            steps.step("held-out")
            held = (
                dict(heldout)
                if heldout is not None
                else _heldout(backend, vectors, corpus, heldout_fraction, seed, progress)
            )
            numbers["heldout"] = held
            sections.append(_heldout_section(held))
            steps.done()

        if other is not None:
            steps.step("compare")
            label_b = str(other.metadata.get("path") or "other")
            cmp = compare_bundles(
                vectors,
                other,
                label_a=str(vectors.metadata.get("path") or "bundle"),
                label_b=label_b,
            )
            numbers["compare"] = cmp.as_dict()
            sections.append(_compare_section(cmp))
            steps.done()
    finally:
        steps.close()
    summary = summarize(numbers)
    numbers["summary"] = [list(r) for r in summary]
    sections.insert(0, _summary_section(summary, geo, chosen))
    facts = tuple((k, str(v)) for k, v in numbers["bundle"].items() if k != "recipe")
    seconds = time.perf_counter() - started
    numbers["seconds"] = round(seconds, 1)
    content = ReportContent(
        f"emovec validation report: {vectors.model_id or 'unknown model'}",
        facts,
        tuple(sections),
        numbers,
    )
    rendered: RenderedReport = render_report(content, out_dir)
    return ReportResult(
        rendered.html,
        rendered.numbers,
        rendered.figures,
        numbers,
        summary,
        time.perf_counter() - started,
    )


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


def _heldout(
    backend: Backend,
    vectors: EmotionVectors,
    corpus: Any,
    fraction: float,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    from emovec.analysis import heldout_identification

    stories, neutral = corpus
    recipe = vectors.metadata.get("recipe") or {}
    settings = {
        key: recipe[key]
        for key in ("start", "neutral_variance", "pca_mode", "batch_tokens", "max_tokens")
        if recipe.get(key) is not None
    }
    if neutral is None:
        settings["neutral_variance"] = 0.0
    result = heldout_identification(
        backend,
        stories,
        neutral,
        sites=list(vectors.sites),
        test_fraction=fraction,
        seed=seed,
        progress=progress,
        **settings,
    )
    return heldout_numbers(result)


def heldout_numbers(result: Any) -> dict[str, Any]:
    """A `HeldoutIdentification` as the JSON-able numbers the report shows (and accepts back
    through `build_report(heldout=...)`)."""
    best = result.best
    return {
        "chance": result.chance,
        "n_emotions": result.n_emotions,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "test_topics": list(result.test_topics),
        "metric": result.metric,
        "best_site": str(best.site),
        "best_top1": best.story_top1,
        "best_top5": best.story_top5,
        "rows": [
            {
                "site": str(r.site),
                "story_top1": r.story_top1,
                "story_top5": r.story_top5,
                "template_top1": r.template_top1,
                "template_top5": r.template_top5,
            }
            for r in result.rows
        ],
        "confusions": [list(c) for c in result.confusions],
        "lexical": None
        if result.lexical is None
        else {"top1": result.lexical.top1, "top5": result.lexical.top5},
        "reliability": None if result.reliability is None else result.reliability.as_dict(),
    }
