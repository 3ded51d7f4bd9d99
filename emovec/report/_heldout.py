"""Held-out identification in the report: measured here, or carried over from extraction."""

from typing import Any

from emovec._backend import Backend
from emovec.analysis._heldout import heldout_identification
from emovec.vectors import EmotionVectors


def measure_heldout(
    backend: Backend,
    vectors: EmotionVectors,
    corpus: Any,
    fraction: float,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """Held-out identification of `corpus` with the bundle's own recipe, as report numbers."""
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
