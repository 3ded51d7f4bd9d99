"""Merge the raw shards of a corpus into its final files and manifest (`emovec corpus filter`)."""

import json
from os import PathLike
from pathlib import Path
from typing import Any

from ._filters import DUPLICATE, FilterSettings, Screen, fingerprint
from ._generate import RAW_DIR, RUN_FILE, load_attempts
from ._records import Record, build_manifest, summarize, write_json, write_jsonl

STORIES, NEUTRAL, MANIFEST = "stories.jsonl", "neutral.jsonl", "manifest.json"


def raw_attempts(source: "str | PathLike[str]") -> tuple[list[Record], dict[str, Any]]:
    """Every attempt in `source/raw/*.jsonl`, sorted by id, and the run's settings."""
    source = Path(source)
    run_path = source / RUN_FILE
    if not run_path.exists():
        raise FileNotFoundError(
            f"{source} has no {RUN_FILE}: point at a folder made by `emovec corpus generate`."
        )
    run = json.loads(run_path.read_text(encoding="utf-8"))
    shards = sorted((source / RAW_DIR).glob("shard-*.jsonl"))
    if not shards:
        raise FileNotFoundError(f"{source}/{RAW_DIR} holds no shard files: run generation first.")
    attempts: dict[str, Record] = {}
    for path in shards:
        for record in load_attempts(path):
            if record.id in attempts:
                raise ValueError(
                    f"{path}: job {record.id} also appears in another shard; the shards come"
                    " from different --shard splits. Keep one split and delete the others."
                )
            attempts[record.id] = record
    return sorted(attempts.values(), key=lambda r: r.id), run


def finalize(
    source: "str | PathLike[str]",
    out: "str | PathLike[str] | None" = None,
    *,
    filters: FilterSettings | None = None,
) -> dict[str, Any]:
    """Write `stories.jsonl`, `neutral.jsonl` and `manifest.json` from a generation folder.

    Args:
        source: A folder made by `generate_corpus` (its `run.json` and `raw/` shards).
        out: Where to write the corpus (default: `source` itself).
        filters: New thresholds to re-judge every attempt with (rejected ones included, a
            leaked emotion word always stays rejected). None keeps each attempt's verdict and
            only removes duplicates across shards.

    Returns:
        The manifest (also written to `out/manifest.json`).
    """
    attempts, run = raw_attempts(source)
    out = Path(out) if out is not None else Path(source)
    if filters is not None:
        screen = Screen(filters)
        attempts = [r.with_reason(screen(r.text, kind=r.kind, emotion=r.emotion)) for r in attempts]
        filter_settings = filters.as_dict()
    else:
        seen: set[str] = set()
        judged = []
        for record in attempts:
            if record.accepted:
                key = fingerprint(record.text)
                record = record.with_reason(DUPLICATE) if key in seen else record
                seen.add(key)
            judged.append(record)
        attempts = judged
        filter_settings = run["filters"]
    stories = [r for r in attempts if r.accepted and r.kind == "story"]
    neutral = [r for r in attempts if r.accepted and r.kind == "neutral"]
    write_jsonl(out / STORIES, (_clean(r) for r in stories))
    write_jsonl(out / NEUTRAL, (_clean(r) for r in neutral))
    generation = {
        "model_id": run["model_id"],
        "adapter": run["adapter"],
        "chat_template": run["chat_template"],
        **run["settings"],
        "base_seed": run["plan"]["base_seed"],
        "order": "jobs group after group in attempt order, cut into fixed batches of"
        " batch_size; each batch sampled with seed sha256(base_seed/first job id)[:8]",
        "shards": len(sorted((Path(source) / "raw").glob("shard-*.jsonl"))),
        "plan": {
            k: v
            for k, v in run["plan"].items()
            if k not in ("emotions", "topics", "neutral_topics")
        }
        | {
            "emotions": len(run["plan"]["emotions"]),
            "topics": len(run["plan"]["topics"]),
            "neutral_topics": len(run["plan"]["neutral_topics"]),
        },
    }
    manifest = build_manifest(
        [_clean(r) if r.accepted else r for r in attempts],
        generation=generation,
        filters=filter_settings,
        prompt_version=run["prompt_version"],
        files={"stories": STORIES, "neutral": NEUTRAL},
    )
    counts = manifest["counts"]
    counts["per_emotion"] = {e: counts["per_emotion"].get(e, 0) for e in run["plan"]["emotions"]}
    write_json(out / MANIFEST, manifest)
    return manifest


def _clean(record: Record) -> Record:
    """The record as shipped: generation bookkeeping (round, attempt) dropped from meta."""
    keep = {k: v for k, v in (record.meta or {}).items() if k in ("person", "turns", "stopped")}
    return Record(record.id, record.kind, record.emotion, record.topic, record.text,
                  record.generator, record.seed, record.reason, keep or None)  # fmt: skip


__all__ = ["finalize", "raw_attempts", "summarize"]
