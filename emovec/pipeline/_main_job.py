"""The stages of `emovec replicate`, each a function of its inputs writing under the run folder."""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from emovec.pipeline import Stage, file_digest

Context = dict[str, Any]


def _identity(ctx: Context) -> dict[str, Any]:
    backend = ctx["backend"]
    return {
        "model": backend.model_id,
        "weights": (getattr(backend, "source", {}) or {}).get("weights_sha256"),
        "adapter": backend.name,
        "sites": [str(s) for s in ctx["sites"]],
    }


def vectors_stage(ctx: Context, done: Mapping[str, Any]) -> Stage:
    from emovec.cli._replicate import RECIPE
    from emovec.extract import extract_vectors

    corpus = ctx["corpus"]
    inputs = {**_identity(ctx), "corpus": corpus.manifest.get("content_hash"), "recipe": RECIPE}

    def run(out: Path) -> dict[str, Any]:
        bundle = extract_vectors(
            ctx["backend"],
            corpus.stories,
            corpus.neutral,
            sites=ctx["sites"],
            corpus_info={
                "content_hash": corpus.manifest.get("content_hash"),
                "source": corpus.source,
            },
            checkpoint=out / "vectors" / "checkpoint",
            **RECIPE,
        )
        path = Path("vectors") / "emotion_vectors.safetensors"
        bundle.save(out / path)
        return {"bundle_file": str(path), "digest": file_digest(out / path)}

    return Stage("vectors", inputs, run)


def validation_stage(ctx: Context, done: Mapping[str, Any]) -> Stage:
    from emovec.analysis import heldout_identification, valence_alignment
    from emovec.vectors import EmotionVectors

    inputs = {**_identity(ctx), "bundle": done["vectors"]["digest"]}

    def run(out: Path) -> dict[str, Any]:
        bundle = EmotionVectors.load(out / done["vectors"]["bundle_file"])
        align = valence_alignment(bundle)
        corpus = ctx["corpus"]
        held = heldout_identification(
            ctx["backend"], corpus.stories, corpus.neutral, sites=ctx["sites"]
        )
        text = align.table() + "\n\n" + held.table() + "\n"
        (out / "validation.txt").write_text(text)
        best, best_held = align.best, held.best
        site, pc, r = align.strongest_valence
        return {
            "validation_file": "validation.txt",
            "headline": {
                "valence r (PC1, best site)": f"{best.r_pc1_valence:+.3f} at {best.site}",
                "valence r (PC1 or PC2, best)": f"{r:+.3f} (PC{pc} at {site})",
                "arousal r (PC1 at that site)": f"{best.r_pc1_arousal:+.3f}",
                "held-out top-1 (story vectors)": f"{best_held.story_top1:.3f} at {best_held.site}"
                f" (chance {held.chance:.4f}, {best_held.story_top1 / held.chance:.1f}x)",
                "held-out top-1 (template control)": "-"
                if best_held.template_top1 is None
                else f"{best_held.template_top1:.3f}",
            },
        }

    return Stage("validation", inputs, run)


STAGES: list[tuple[str, Callable[[Context, Mapping[str, Any]], Stage]]] = [
    ("vectors", vectors_stage),
    ("validation", validation_stage),
]
