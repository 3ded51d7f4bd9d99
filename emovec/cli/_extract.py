"""`emovec extract` (corpus -> EmotionVectors bundle) and `emovec vectors info BUNDLE`.

`--corpus` is a corpus folder made by `emovec corpus` (with `manifest.json`; read with
`emovec.corpus.load_corpus`, hash-checked), or any JSONL file or folder of `*.jsonl` files
with one record per line: `kind` ("story" or "neutral"), `text`, and for stories `emotion`
(plus optional `id`, `topic`); those are streamed, never held in memory. The default is the
corpus shipped in `emovec/data/corpus/default`. The run is checkpointed next to the bundle; a
killed run continues with `--resume`.
"""

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from ._extract_corpus import open_corpus
from ._options import add_model_options, add_out_option, bundle_path
from ._types import fraction, natural, nonnegative, positive

BUNDLE_NAME = "emotion_vectors.safetensors"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "extract",
        help="extract emotion vectors from a story corpus (the paper's recipe)",
        description="Stream stories and neutral dialogues through the model and write an"
        " EmotionVectors bundle (emotion mean minus the mean over emotions, neutral PCs"
        " projected out, unit length).",
    )
    add_model_options(parser)
    add_out_option(parser, "runs/vectors")
    parser.add_argument(
        "--corpus",
        type=Path,
        help="corpus folder (emovec corpus), JSONL file or folder of *.jsonl (default: shipped)",
    )
    parser.add_argument(
        "--start-token",
        type=natural,
        default=None,
        help="average from this token on (default 50 for stories, 4 for --kind speaker and"
        " deflection, whose turns are short)",
    )
    parser.add_argument(
        "--neutral-variance",
        type=fraction,
        default=0.5,
        help="neutral variance fraction whose PCs are projected out; 0 = none (default 0.5)",
    )
    parser.add_argument(
        "--pca-mode",
        choices=("dialogue", "token"),
        default="dialogue",
        help="neutral PCA over per-dialogue means or over tokens (default dialogue)",
    )
    parser.add_argument(
        "--batch-tokens", type=positive, default=4096, help="tokens per forward (default 4096)"
    )
    parser.add_argument("--max-tokens", type=positive, help="truncate longer texts (default: none)")
    parser.add_argument(
        "--per-emotion", type=positive, help="use only the first N stories of each emotion"
    )
    parser.add_argument("--max-neutral", type=natural, help="use only the first N neutral texts")
    parser.add_argument(
        "--templates",
        action="store_true",
        help="write the template control instead: vectors from sentences that only name each"
        ' of the corpus\'s emotions ("She felt {emotion}." ...), same recipe and neutral texts',
    )
    parser.add_argument(
        "--kind",
        choices=("emotion", "speaker", "deflection"),
        default="emotion",
        help="emotion: story vectors (default); speaker: present- and other-speaker vectors from"
        " dialogues with an emotion per speaker; deflection: felt-but-hidden emotions, orthogonal"
        " to the story vectors (needs --story-vectors)",
    )
    parser.add_argument(
        "--dialogues",
        type=Path,
        help="JSONL of dialogues for --kind speaker/deflection (default: the shipped set)",
    )
    parser.add_argument(
        "--story-vectors",
        type=Path,
        help="story bundle whose subspace --kind deflection removes",
    )
    parser.add_argument(
        "--story-variance",
        type=fraction,
        default=0.99,
        help="variance of the story vectors whose PCs are removed from deflection vectors"
        " (default 0.99)",
    )
    parser.add_argument(
        "--denial-strength",
        type=nonnegative,
        default=0.1,
        help="after --kind deflection, run the denial check (steering toward deflection vs story"
        " vs random directions) at this fraction of the residual norm; 0 skips it (default 0.1)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=positive,
        default=20,
        help="batches between checkpoints (default 20)",
    )
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue an interrupted run")
    again.add_argument("--force", action="store_true", help="start over, overwriting the output")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_extract, _defaults=_defaults(parser))

    vectors = sub.add_parser("vectors", help="inspect an EmotionVectors bundle")
    vsub = vectors.add_subparsers(dest="vectors_command", metavar="ACTION", required=True)
    info = vsub.add_parser("info", help="print a bundle's metadata")
    info.add_argument("bundle", type=Path, help="a .safetensors bundle (or its folder)")
    info.add_argument("--json", action="store_true", help="print the full metadata as JSON")
    info.set_defaults(func=run_info)
    importlib.import_module("emovec.cli._vectors").register(vsub)  # export-gguf, import-gguf


def _defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


def run_extract(args: argparse.Namespace) -> int:
    import emovec
    from emovec.extract import extract_vectors, field_of, template_vectors

    if args.kind != "emotion":
        from ._dialogue_kinds import run_dialogue_kind

        return run_dialogue_kind(args)
    out = bundle_path(args.out)
    checkpoint = out.with_name(out.stem + ".checkpoint.safetensors")
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists: pass --force to overwrite it.")
    if checkpoint.exists() and not (args.resume or args.force):
        raise ValueError(
            f"An interrupted run left {checkpoint}: pass --resume to continue it or --force to"
            " start over."
        )
    stories, neutral, info = open_corpus(
        args.corpus, per_emotion=args.per_emotion, max_neutral=args.max_neutral
    )
    has_neutral = next(iter(neutral), None) is not None
    if not has_neutral and args.neutral_variance > 0:
        raise ValueError(
            f"Corpus {info['source']} has no neutral texts (kind 'neutral') for denoising: add some, or"
            " pass --neutral-variance 0 (residual norms are then measured on the stories)."
        )
    emovec.check_site_spec(args.sites)  # '4:2' or '20,20' fail before the model loads
    started = time.perf_counter()
    backend = emovec.load_backend(args.model, adapter=args.adapter, dtype=args.dtype)
    recipe: dict[str, Any] = dict(
        sites=args.sites,
        start=50 if args.start_token is None else args.start_token,
        neutral_variance=args.neutral_variance,
        pca_mode=args.pca_mode,
        batch_tokens=args.batch_tokens,
        max_tokens=args.max_tokens,
        checkpoint=checkpoint,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
        corpus_info=info,
    )
    denoise = neutral if has_neutral else None
    if args.templates:  # the same recipe on sentences that only name the corpus's emotions
        emotions = list(dict.fromkeys(str(field_of(r, "emotion")) for r in stories))
        bundle = template_vectors(backend, emotions, denoise, **recipe)
    else:
        bundle = extract_vectors(backend, stories, denoise, **recipe)
    bundle.save(out)
    checkpoint.unlink(missing_ok=True)
    corpus = bundle.metadata["corpus"]
    print(
        f"wrote {out}: {len(bundle.emotions)} emotions x {len(bundle.sites)} sites"
        f" (d_model {bundle.d_model}) from {corpus['n_stories']} stories and"
        f" {corpus['n_neutral']} neutral texts in {time.perf_counter() - started:.0f} s"
    )
    return 0


def run_info(args: argparse.Namespace) -> int:
    from emovec.vectors import EmotionVectors

    from ._options import existing_bundle

    bundle = EmotionVectors.load(bundle_path(existing_bundle(args.bundle, "BUNDLE")))
    meta = dict(bundle.metadata)
    if args.json:
        json.dump(meta | {"emotions": list(bundle.emotions)}, sys.stdout, indent=2)
        print()
        return 0
    model = meta.get("model") or {}
    recipe = meta.get("recipe") or {}
    corpus = meta.get("corpus") or {}
    sha = model.get("weights_sha256")
    lines = [
        f"file        {meta.get('path')}",
        f"model       {model.get('model_id')} (weights sha256 {sha[:16] + '...' if sha else '-'})",
        f"shape       {len(bundle.emotions)} emotions x {len(bundle.sites)} sites x d_model"
        f" {bundle.d_model} (model has {meta.get('n_layers')} layers)",
        f"emotions    {', '.join(bundle.emotions[:8])}{' ...' if len(bundle.emotions) > 8 else ''}",
        f"recipe      start token {recipe.get('start')}, neutral variance"
        f" {recipe.get('neutral_variance')} ({recipe.get('pca_mode')} PCA)",
        f"corpus      {corpus.get('n_stories')} stories, {corpus.get('n_neutral')} neutral texts,"
        f" sha256 {str(corpus.get('sha256'))[:16]}... ({corpus.get('source', '-')})",
        f"made        {meta.get('created')} by emovec {meta.get('emovec_version')}"
        f" ({meta.get('adapter')} adapter)",
        "",
        f"{'site':16s} {'resid norm':>10s} {'PCs removed':>11s}",
    ]
    norms = meta.get("residual_norms") or {}
    removed = meta.get("neutral_pcs_removed") or {}
    for site in bundle.sites:
        norm = norms.get(str(site))
        shown = "-" if norm is None else f"{norm:10.2f}"
        lines.append(f"{str(site):16s} {shown:>10s} {removed.get(str(site), '-'):>11}")
    print("\n".join(lines))
    return 0
