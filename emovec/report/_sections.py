"""The report's sections: each analysis result drawn as text, figures and tables.

One builder per analysis (geometry, similarity, logit lens, sweeps, scenarios, held-out
identification, comparison) and the summary at the top; `build_report` calls them in order.
"""

import math
from collections.abc import Mapping
from typing import Any

from emovec._site import Site
from emovec.analysis._compare import plot_comparison
from emovec.analysis._geometry_plots import plot_geometry, plot_layer_sweep
from emovec.analysis._geometry_report import VARIANCE_LEVELS
from emovec.analysis._scenarios import plot_scenarios
from emovec.analysis._similarity import plot_similarity
from emovec.analysis._sweeps import plot_family

from ._html import Figure, Section, Text, table_from
from ._numbers import HeldoutNumbers


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
                s.readout.get("valence"),
                s.readout.get("arousal"),
                *[s.n_for_variance[v] for v in VARIANCE_LEVELS],
            )
        )
    head = ("site", "PC1 var", "PC2 var", "PC3 var", "r(PC1,val)", "best r val", "PC")
    head += ("95% CI", "rho val", "r(PC2,aro)", "best r aro", "PC", "95% CI")
    head += ("readout r val", "readout r aro", "n 50%", "n 80%")
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
                " r = 0.81, PC2 vs arousal r = 0.66. Readout r: a ridge regression from the"
                " vectors to the rating, fitted without the emotion it predicts (leave one"
                " emotion out, penalty chosen inside each fold): is the rating linearly"
                " readable at all, whether or not it is one of the largest axes.\n\n"
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


def _heldout_section(numbers: Mapping[str, Any]) -> Section:
    held = HeldoutNumbers.from_dict(numbers)
    rows = [
        (r.site, r.story_top1, r.story_top5, r.template_top1, r.template_top5) for r in held.rows
    ]
    return Section(
        "Held-out identification",
        (
            Text(
                f"Stories split by topic: vectors from {held.n_train} training stories name"
                f" the emotion of {held.n_test} stories on {len(held.test_topics)} unseen"
                f" topics ({held.metric} readout). Chance top-1 = {held.chance:.4f}"
                f" ({held.n_emotions} emotions); the floor is 10x chance. The template"
                " control (vectors from sentences that only name the emotion) is scored on the"
                " same stories."
            ),
            table_from(
                ("site", "story top-1", "story top-5", "template top-1", "template top-5"), rows
            ),
            *(
                (
                    Text(
                        "Words alone (a bag-of-words classifier on the same split, no model):"
                        f" top-1 {lex['top1']:.3f} ({lex['top1'] / held.chance:.1f}x chance),"
                        f" top-5 {lex['top5']:.3f}. Near chance, the stories themselves do not"
                        " tell their emotions apart, and no probe can be expected to."
                    ),
                )
                if (lex := held.lexical)
                else ()
            ),
            *(
                (
                    Text(
                        "Split-half reliability: the recipe run on two disjoint halves of the"
                        f" topics ({len(rel.halves[0])} and {len(rel.halves[1])}), compared"
                        " per site. Structure r correlates the halves' emotion-by-emotion cosine"
                        " matrices; match cos is the mean cosine between an emotion's two"
                        " vectors; match@1 is how often an emotion's vector from one half is"
                        " nearest its own from the other (chance"
                        f" {1 / rel.n_emotions:.4f}). Low values mean any single r or AUROC"
                        " computed from these vectors is noisy."
                    ),
                    table_from(
                        ("site", "structure r", "match cos", "match@1"),
                        [
                            (r.site, r.structure_r, r.matching_cosine, r.matching_top1)
                            for r in rel.rows
                        ],
                    ),
                )
                if (rel := held.reliability)
                else ()
            ),
            *(
                (
                    Text(f"Most frequent mistakes at {held.best_site} (true -> predicted):"),
                    table_from(("true", "predicted", "stories"), held.confusions),
                )
                if held.confusions
                else ()
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
