"""The stages of `emovec replicate`, each a function of its inputs writing under the run folder."""

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from emovec._backend import Backend
from emovec._files import write_json
from emovec.pipeline import Stage, bundle_digest

from ._context import RECIPE, Context, identity
from ._job_monitor import monitor_stage
from ._job_report import report_stage
from ._job_steer import steer_stage


def vectors_stage(ctx: Context, done: Mapping[str, Any]) -> Stage:
    """Vectors over the whole corpus and held-out identification, from one pass over it.

    Topics are split (25% held out); the training stories give the vectors that name unseen
    stories' emotions, and folding the held-out stories in afterwards gives the bundle over
    every story (what `emovec extract` writes, to float rounding), so the corpus is read once.
    """
    corpus = ctx["corpus"]
    inputs = {**identity(ctx), "corpus": corpus.manifest.get("content_hash"), "recipe": RECIPE}

    def run(out: Path) -> dict[str, Any]:
        from emovec.analysis import heldout_identification
        from emovec.report import heldout_numbers

        start = time.perf_counter()
        held = heldout_identification(
            ctx["backend"],
            corpus.stories,
            corpus.neutral,
            sites=ctx["sites"],
            return_vectors=True,
            corpus_info={
                "content_hash": corpus.manifest.get("content_hash"),
                "source": corpus.source,
            },
            **RECIPE,
        )
        assert held.vectors is not None
        path = Path("vectors") / "emotion_vectors.safetensors"
        held.vectors.save(out / path)
        numbers = Path("vectors") / "heldout.json"
        write_json(out / numbers, heldout_numbers(held))
        (out / "vectors" / "heldout.txt").write_text(held.table() + "\n")
        if held.reliability is not None:  # each topic half's vectors: the noise yardstick
            for name, half in zip(("a", "b"), held.reliability.bundles, strict=True):
                half.save(out / "vectors" / f"half_{name}.safetensors")
        best = held.best
        seconds = time.perf_counter() - start
        tokens = _tokens_read(ctx["backend"], corpus, RECIPE.get("max_tokens"))
        return {
            "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1),
            "bundle_file": str(path),
            "heldout_file": str(numbers),
            "digest": bundle_digest(held.vectors),
            "headline": {
                "held-out top-1 (story vectors)": f"{best.story_top1:.3f} at {best.site}"
                f" (chance {held.chance:.4f}, {best.story_top1 / held.chance:.1f}x; floor 10x)",
                "held-out top-1 (template control)": "-"
                if best.template_top1 is None
                else f"{best.template_top1:.3f} at {best.site}",
                "held-out top-1 (words alone, no model)": "-"
                if held.lexical is None
                else f"{held.lexical.top1:.3f} ({held.lexical.top1 / held.chance:.1f}x chance)",
            },
        }

    return Stage("vectors", inputs, run)


def _tokens_read(backend: Backend, corpus: Any, max_tokens: int | None) -> int:
    """Tokens the vectors stage reads (stories, and dialogues cut at `max_tokens`); counted for
    its throughput on the results page, a second of tokenising against minutes of forwards."""
    cap = max_tokens or 10**9
    texts = [r.text for r in corpus.stories] + [r.text for r in corpus.neutral]
    return sum(min(len(ids), cap) for ids in backend.tokenizer(texts)["input_ids"])


def validation_stage(ctx: Context, done: Mapping[str, Any]) -> Stage:
    from emovec.analysis import valence_alignment
    from emovec.vectors import EmotionVectors

    inputs = {**identity(ctx), "bundle": done["vectors"]["digest"]}

    def run(out: Path) -> dict[str, Any]:
        bundle = EmotionVectors.load(out / done["vectors"]["bundle_file"])
        align = valence_alignment(bundle)
        (out / "validation.txt").write_text(align.table() + "\n")
        best = align.best
        site, pc, r = align.strongest_valence
        return {
            "validation_file": "validation.txt",
            "headline": {
                "valence r (PC1, best site)": f"{best.r_pc1_valence:+.3f} at {best.site}",
                "valence r (PC1 or PC2, best)": f"{r:+.3f} (PC{pc} at {site}; floor |r| >= 0.6)",
                "arousal r (PC1 at that site)": f"{best.r_pc1_arousal:+.3f}",
            },
        }

    return Stage("validation", inputs, run)


def stages() -> list[tuple[str, Callable[[Context, Mapping[str, Any]], Stage]]]:
    """The main job's stages, in order: each maps (context, earlier outputs) to a `Stage`."""
    return [
        ("vectors", vectors_stage),
        ("validation", validation_stage),
        ("report", report_stage),
        ("monitor", monitor_stage),
        ("steer", steer_stage),
    ]
