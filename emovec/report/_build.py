"""`build_report`: every validation analysis on one bundle, rendered into one HTML report.

The order is: read and check every input (bundle vs model, norms overlap, family and scenario
files, the comparison bundle) before any model call; then geometry (PCA vs human ratings, layer
sweep, recommended site), layer RSA, similarity structure, logit lens, intensity sweeps,
implicit scenarios, held-out identification (when a corpus is given) and the comparison with a
second bundle (when given). `summary` lists the paper's numbers and the floors next to ours.
"""

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from emovec._site import Site
from emovec.analysis._compare import (
    compare_bundles,
    layer_rsa,
    plot_comparison,
    plot_layer_rsa,
)
from emovec.analysis._geometry_report import (
    RATINGS,
    VARIANCE_LEVELS,
    geometry_report,
    plot_geometry,
    plot_layer_sweep,
    ratings_for,
)
from emovec.analysis._logit_lens import logit_lens
from emovec.analysis._similarity import plot_similarity, similarity
from emovec.analysis._sweeps import (
    Family,
    ReadAt,
    Scenario,
    implicit_scenarios,
    intensity_sweep,
    load_families,
    load_scenarios,
    plot_family,
    plot_scenarios,
)
from emovec.vectors import EmotionVectors

from ._html import Figure, RenderedReport, ReportContent, Section, Text, render_report, table_from

PAPER = {"valence_r": 0.81, "arousal_r": 0.66}
FLOORS = {"heldout_top1_over_chance": 10.0, "tylenol_rho_afraid": 0.8}


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
    backend: Any,
    *,
    norms: Any = None,
    sweeps: "Sequence[str | PathLike[str] | Family] | None" = None,
    scenarios: "str | PathLike[str] | Sequence[Scenario] | None" = None,
    corpus: "tuple[Iterable[Any], Iterable[Any] | None] | None" = None,
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
    names += ["held-out"] * (corpus is not None) + ["compare"] * (other is not None)
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

        if corpus is not None:
            steps.step("held-out")
            held = _heldout(backend, vectors, corpus, heldout_fraction, seed, progress)
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


# -- sections -----------------------------------------------------------------------------------
def _geometry_section(geo: Any, chosen: Site) -> Section:
    rows = []
    for s in geo.sites:
        val, aro = s.alignment("valence"), s.alignment("arousal")
        rows.append(
            (
                str(s.site),
                *[(s.explained + (math.nan,) * 3)[i] for i in range(3)],
                s.corr(1, "valence").pearson,
                val.pearson,
                f"PC{val.pc}",
                f"[{val.pearson_low:+.2f}, {val.pearson_high:+.2f}]",
                val.spearman,
                s.corr(2, "arousal").pearson if s.coords.shape[1] > 1 else None,
                aro.pearson,
                f"PC{aro.pc}",
                f"[{aro.pearson_low:+.2f}, {aro.pearson_high:+.2f}]",
                *[s.n_for_variance[v] for v in VARIANCE_LEVELS],
            )
        )
    head = ("site", "PC1 var", "PC2 var", "PC3 var", "r(PC1,val)", "best r val", "PC")
    head += ("95% CI", "rho val", "r(PC2,aro)", "best r aro", "PC", "95% CI", "n 50%", "n 80%")
    at = geo.at(chosen)
    detail = [
        (
            f"PC{c.pc}",
            c.rating,
            c.pearson,
            f"[{c.pearson_low:+.3f}, {c.pearson_high:+.3f}]",
            c.spearman,
            f"[{c.spearman_low:+.3f}, {c.spearman_high:+.3f}]",
        )
        for c in at.correlations
    ]
    return Section(
        "Geometry: PCA against human valence and arousal",
        (
            Text(
                f"PCA of the {len(geo.emotions)} emotion vectors at each site; correlations use"
                f" the {len(geo.ratings.emotions)} emotions rated in {geo.ratings.source}"
                f" ({len(geo.ratings.missing)} unrated). A PC's sign is arbitrary, so compare"
                " |r|. Intervals: percentile bootstrap over emotions"
                f" ({geo.n_resamples} resamples). The paper (Claude Sonnet 4.5): PC1 vs valence"
                " r = 0.81, PC2 vs arousal r = 0.66.\n\n"
                f"Recommended site: {geo.recommended}. Rule: {geo.rule}"
            ),
            Figure("layer_sweep", plot_layer_sweep(geo), "alignment and dimensionality per layer"),
            Figure(
                f"pca_{chosen}".replace(".", "_"),
                plot_geometry(geo, chosen),
                f"PC1/PC2 of the emotions at {chosen}, coloured by human valence and arousal",
            ),
            table_from(
                ("PC", "rating", "Pearson r", "95% CI", "Spearman rho", "95% CI"),
                detail,
                f"top PCs at {chosen}",
            ),
            table_from(head, rows, "per site (best = the top PC with the largest |r|)"),
        ),
        "geometry",
    )


def _similarity_section(sim: Any) -> Section:
    clusters = [(i + 1, len(c), ", ".join(c)) for i, c in enumerate(sim.clusters())]
    pairs = [(p.positive, p.negative, p.cosine, p.source) for p in sim.pairs]
    neighbours = [
        (e, ", ".join(f"{n} ({c:.2f})" for n, c in sim.neighbours[e][:4])) for e in sim.emotions
    ]
    return Section(
        f"Similarity structure at {sim.site}",
        (
            Text(
                f"Cosine similarity between the emotion vectors, ordered by hierarchical"
                f" clustering (average linkage). k-means with k = {sim.k} on the unit vectors:"
                f" silhouette {sim.silhouette:.3f} (cosine distance; 0 = no structure, 1 ="
                f" perfectly separated). Opposite-valence pairs: mean cosine"
                f" {sim.pair_mean():+.3f} (curated antonyms {sim.pair_mean('antonyms'):+.3f},"
                f" norm extremes {sim.pair_mean('norms'):+.3f}) against a mean of"
                f" {sim.mean_offdiagonal:+.3f} over all pairs. The paper finds opposite-valence"
                " pairs anti-correlated."
            ),
            Figure(f"cosine_{sim.site}".replace(".", "_"), plot_similarity(sim), "cosine matrix"),
            table_from(("cluster", "size", "emotions"), clusters, "k-means clusters"),
            table_from(("positive", "negative", "cosine", "source"), pairs, "opposite pairs"),
            table_from(("emotion", "nearest neighbours (cosine)"), neighbours, "neighbours"),
        ),
        "similarity",
    )


def _lens_section(lens: Any) -> Section:
    rows = [
        (
            r.emotion,
            " ".join(repr(t) for t, _ in r.top[:8]),
            " ".join(repr(t) for t, _ in r.bottom[:5]),
            r.own_token.strip(),
            r.own_rank,
        )
        for r in lens.rows
    ]
    share = lens.own_in_top(0.01)
    return Section(
        f"Logit lens at {lens.site}",
        (
            Text(
                f"Each unit vector times the site's mean residual norm ({lens.scale:.1f}),"
                " through the model's final norm and unembedding. Top: the tokens it promotes"
                " most; bottom: those it suppresses most; own rank: where the emotion word's"
                f" first token ranks among {lens.vocab_size} tokens (0 = top). {share:.0%} of"
                " the emotions put their own word in the top 1% of the vocabulary. The paper:"
                " desperate promotes 'desperate', 'urgent', 'bankrupt'."
            ),
            table_from(("emotion", "promotes", "suppresses", "own token", "own rank"), rows),
        ),
        "logit-lens",
    )


def _sweep_section(sweep: Any) -> Section:
    blocks: list[Any] = [
        Text(
            "Each family puts a number into a user message, from harmless to severe, and reads"
            f" the probes at the {'token right before the assistant reply' if sweep.read_at == 'assistant' else 'last prompt token'}."
            " rho: Spearman correlation of the number with the probe; 'agreement' averages rho"
            " over the emotions expected to rise and -rho over those expected to fall. Best"
            " layer: where the emotion moves most in its expected direction; p: how often"
            " randomly reordered numbers reach as good a best layer (picking the best of many"
            " layers on a few values finds large rho by chance)."
            + ("\n\n" + "; ".join(sweep.notes) if sweep.notes else "")
        )
    ]
    for fs in sweep.families:
        rows = []
        for e in fs.rho:
            site, rho = fs.best(e)
            j = fs.sites.index(fs.best_site)
            rows.append(
                (
                    e,
                    "rises" if e in fs.family.rises else "falls",
                    rho,
                    str(site),
                    fs.p_best.get(e),
                    fs.rho[e][j],
                )
            )
        blocks.append(Figure(f"sweep_{fs.family.name}", plot_family(fs), fs.family.prompt))
        blocks.append(
            table_from(
                (
                    "emotion",
                    "expected",
                    "best rho",
                    "at",
                    "p (best of layers)",
                    f"rho at {fs.best_site}",
                ),
                rows,
                f"{fs.family.name}: values {', '.join(fs.family.values)}"
                + (f"; not in bundle: {', '.join(fs.missing)}" if fs.missing else ""),
            )
        )
    return Section("Intensity sweeps", tuple(blocks), "sweeps")


def _scenario_section(scen: Any) -> Section:
    rows = [(str(s), a) for s, a in zip(scen.sites, scen.accuracy, strict=True)]
    return Section(
        "Implicit scenarios",
        (
            Text(
                f"{len(scen.scenarios)} prompts that evoke one of {len(scen.emotions)} emotions"
                " without naming it. Each probe is z-scored across the scenarios; accuracy is"
                " how often the scenario's own emotion has the highest z-score (chance"
                f" {scen.chance:.1%}). Best site: {scen.best_site}."
                + (f" Not in the bundle: {', '.join(scen.skipped)}." if scen.skipped else "")
            ),
            Figure("scenarios", plot_scenarios(scen), "probes x scenarios at the best site"),
            table_from(("site", "accuracy"), rows, "own emotion on top, per site"),
        ),
        "scenarios",
    )


def _heldout(
    backend: Any, vectors: EmotionVectors, corpus: Any, fraction: float, seed: int, progress: bool
) -> dict[str, Any]:
    from emovec.analysis import heldout_identification

    stories, neutral = corpus
    recipe = vectors.metadata.get("recipe") or {}
    settings = {
        key: recipe[key]
        for key in ("start", "neutral_variance", "pca_mode", "batch_tokens")
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
    }


def _heldout_section(held: dict[str, Any]) -> Section:
    rows = [
        (r["site"], r["story_top1"], r["story_top5"], r["template_top1"], r["template_top5"])
        for r in held["rows"]
    ]
    return Section(
        "Held-out identification",
        (
            Text(
                f"Stories split by topic: vectors from {held['n_train']} training stories name"
                f" the emotion of {held['n_test']} stories on {len(held['test_topics'])} unseen"
                f" topics ({held['metric']} readout). Chance top-1 = {held['chance']:.4f}"
                f" ({held['n_emotions']} emotions); the floor is 10x chance. The template"
                " control (vectors from sentences that only name the emotion) is scored on the"
                " same stories."
            ),
            table_from(
                ("site", "story top-1", "story top-5", "template top-1", "template top-5"), rows
            ),
        ),
        "heldout",
    )


def _compare_section(cmp: Any) -> Section:
    rows = [
        (str(r.site), r.rsa, r.raw_cosine, r.aligned_cosine, r.crossfit_cosine) for r in cmp.rows
    ]
    return Section(
        "Comparison with another bundle",
        (
            Text(
                f"{cmp.label_a} vs {cmp.label_b} on {len(cmp.emotions)} shared emotions. RSA:"
                " Spearman correlation of the two cosine matrices. With equal widths: the mean"
                " cosine of each emotion with its partner as is, after the best rotation"
                " (Procrustes, fitted on all emotions) and cross-fitted (rotation fitted on half"
                " the emotions, scored on the other half)."
            ),
            Figure("compare", plot_comparison(cmp), "agreement between the bundles per layer"),
            table_from(("site", "RSA", "raw cosine", "Procrustes cosine", "cross-fitted"), rows),
        ),
        "compare",
    )


# -- the headline ----------------------------------------------------------------------------------
def summarize(numbers: dict[str, Any]) -> tuple[tuple[str, Any, Any, str], ...]:
    """The headline checks from a report's numbers: `(check, ours, reference, verdict)`.

    Verdicts: "PASS"/"FAIL" against a floor, "reference" against the paper's number (which is
    from a far larger model), "n/a" when the analysis did not run.

    Example:
        >>> summarize({"heldout": {"best_top1": 0.2, "chance": 0.01, "best_site": "resid_post.3"}})[0]
        ('held-out top-1 / chance (floor 10x)', 20.0, 10.0, 'PASS')
    """
    rows: list[tuple[str, Any, Any, str]] = []
    held = numbers.get("heldout")
    if held:
        ratio = held["best_top1"] / held["chance"]
        verdict = "PASS" if ratio >= FLOORS["heldout_top1_over_chance"] else "FAIL"
        rows.append(("held-out top-1 / chance (floor 10x)", ratio, 10.0, verdict))
        rows.append((f"held-out top-1 at {held['best_site']}", held["best_top1"], None, "info"))
    else:
        rows.append(("held-out top-1 / chance (floor 10x)", None, 10.0, "n/a (no corpus)"))
    sweeps = numbers.get("sweeps") or {}
    tylenol = next((f for f in sweeps.get("families", []) if f["family"] == "tylenol"), None)
    if tylenol and "afraid" in tylenol["best"]:
        best = tylenol["best"]["afraid"]
        verdict = "PASS" if best["rho"] >= FLOORS["tylenol_rho_afraid"] else "FAIL"
        rows.append((f"tylenol rho(dose, afraid) at {best['site']}", best["rho"], 0.8, verdict))
        rows.append(
            ("tylenol afraid: permutation p of the best layer", best.get("p"), None, "info")
        )
        if "calm" in tylenol["best"]:
            calm = tylenol["best"]["calm"]
            rows.append((f"tylenol rho(dose, calm) at {calm['site']}", calm["rho"], None, "info"))
    else:
        rows.append(("tylenol rho(dose, afraid)", None, 0.8, "n/a"))
    geo = numbers.get("geometry")
    if geo:
        for rating in RATINGS:
            pc = 1 if rating == "valence" else 2
            best_any = max(
                (
                    (abs(c["pearson"]), c["pc"], s["site"])
                    for s in geo["sites"]
                    for c in s["correlations"]
                    if c["rating"] == rating and c["pearson"] == c["pearson"]
                ),
                default=None,
            )
            own = max(
                (
                    (abs(c["pearson"]), s["site"])
                    for s in geo["sites"]
                    for c in s["correlations"]
                    if c["rating"] == rating and c["pc"] == pc and c["pearson"] == c["pearson"]
                ),
                default=None,
            )
            ref = PAPER[f"{rating}_r"]
            if own:
                rows.append(
                    (f"{rating} vs PC{pc}: largest abs(r), at {own[1]}", own[0], ref, "reference")
                )
            if best_any:
                rows.append(
                    (
                        f"{rating} vs any top-3 PC: largest abs(r), PC{best_any[1]} at {best_any[2]}",
                        best_any[0],
                        ref,
                        "reference",
                    )
                )
    return tuple(rows)


def _summary_section(summary: Any, geo: Any, chosen: Site) -> Section:
    return Section(
        "Summary",
        (
            Text(
                "Headline numbers next to the paper's (Claude Sonnet 4.5, a far larger model)"
                " and the project's floors. PASS/FAIL is measured here, never copied."
                f" Per-site analyses below use {chosen}"
                + (
                    " (the recommended site)."
                    if chosen == geo.recommended
                    else " (chosen by the user)."
                )
            ),
            table_from(("check", "ours", "reference", "verdict"), summary),
        ),
        "summary",
    )


def summary_markdown(result: ReportResult, *, command: str = "") -> str:
    """The report's headline and per-layer tables as Markdown (for `docs/results.md`)."""
    n = result.numbers
    lines = ["# Validation results (generated)", ""]
    lines += [
        "This page is written by `emovec report ... --markdown`; do not edit it by hand.",
        "",
    ]
    if command:
        lines += ["Command:", "", f"    {command}", ""]
    facts = n["bundle"]
    lines += [f"- {k}: {v}" for k, v in facts.items() if k != "recipe"]
    lines += [f"- wall time: {n.get('seconds')} s", ""]
    lines += ["## Headline", "", "| check | ours | reference | verdict |", "|---|---|---|---|"]
    for check, ours, ref, verdict in result.summary:
        lines.append(f"| {_md(check)} | {_md(ours)} | {_md(ref)} | {verdict} |")
    geo = n.get("geometry")
    if geo:
        lines += ["", "## Geometry per site", ""]
        lines += [f"Recommended site: {geo['recommended_site']}. {geo['rule']}", ""]
        lines += [
            "| site | PC1 var | r(PC1,val) | r(PC2,aro) | best r val (PC) | best r aro (PC) | n50 | n80 |"
        ]
        lines += ["|---|---|---|---|---|---|---|---|"]
        for s in geo["sites"]:
            cs = s["correlations"]
            pc1_val = next(c for c in cs if c["pc"] == 1 and c["rating"] == "valence")
            pc2_aro = next((c for c in cs if c["pc"] == 2 and c["rating"] == "arousal"), None)
            best = {
                r: max((c for c in cs if c["rating"] == r), key=lambda c: abs(c["pearson"] or 0))
                for r in RATINGS
            }
            lines.append(
                f"| {s['site']} | {_md(s['explained_top'][0])} | {_md(pc1_val['pearson'])} |"
                f" {_md(pc2_aro and pc2_aro['pearson'])} |"
                + "".join(f" {_md(best[r]['pearson'])} (PC{best[r]['pc']}) |" for r in RATINGS)
                + f" {s['n_for_variance'].get('0.5')} | {s['n_for_variance'].get('0.8')} |"
            )
    sweeps = n.get("sweeps")
    if sweeps:
        lines += ["", "## Intensity sweeps (best layer per emotion)", ""]
        lines += ["| family | emotion | expected | best rho | at | permutation p |"]
        lines += ["|---|---|---|---|---|---|"]
        for f in sweeps["families"]:
            for e, b in f["best"].items():
                expected = "rises" if e in f["rises"] else "falls"
                lines.append(
                    f"| {f['family']} | {e} | {expected} | {_md(b['rho'])} | {b['site']} |"
                    f" {_md(b.get('p'))} |"
                )
    held = n.get("heldout")
    if held:
        lines += ["", "## Held-out identification", ""]
        lines += [
            f"chance top-1 = {held['chance']:.4f}; {held['n_train']} train / {held['n_test']} test stories",
            "",
        ]
        lines += [
            "| site | story top-1 | story top-5 | template top-1 | template top-5 |",
            "|---|---|---|---|---|",
        ]
        for r in held["rows"]:
            lines.append(
                f"| {r['site']} | {_md(r['story_top1'])} | {_md(r['story_top5'])} |"
                f" {_md(r['template_top1'])} | {_md(r['template_top5'])} |"
            )
    sim = n.get("similarity")
    if sim:
        lines += ["", f"## Similarity at {sim['site']}", ""]
        lines += [
            f"- k-means k={sim['k']}, silhouette {_md(sim['silhouette'])}",
            f"- opposite-valence pairs mean cosine {_md(sim['opposite_pairs_mean']['all'])}"
            f" (all pairs {_md(sim['mean_offdiagonal_cosine'])})",
        ]
    lens = n.get("logit_lens")
    if lens:
        lines += [
            f"- logit lens at {lens['site']}: own word in the top 1% for"
            f" {_md(lens['own_token_in_top_1pct'])} of emotions",
        ]
    scen = n.get("scenarios")
    if scen and "accuracy" in scen:
        lines += [
            f"- implicit scenarios: best accuracy {_md(max(scen['accuracy']))} at"
            f" {scen['best_site']} (chance {_md(scen['chance'])})"
        ]
    return "\n".join(lines) + "\n"


def _md(value: Any) -> str:
    """A Markdown table cell: 3 decimals, "n/a" for None/NaN, pipes escaped."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.3f}"
    return str(value).replace("|", "\\|")
