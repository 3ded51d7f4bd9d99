"""`emovec score CORPUS --vectors BUNDLE --out DIR [--rules R] [--filter R]`: corpus scoring.

Per-document emotion profiles (mean, max, percentiles of each probe from token k on) in
`DIR/profiles.jsonl`, rule flags, and with `--filter` a new corpus `DIR/filtered.jsonl` of the
documents a filter rule flagged. Interrupted runs resume from `DIR/checkpoint.json` (rerun the
same command); `--force` starts over. Bad lines are reported with their numbers and skipped.
"""

import argparse
from pathlib import Path
from typing import Any

from ._options import add_model_options, add_out_option, check_names
from ._types import natural, percent, positive


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "score",
        help="score a corpus by emotion profile; flag and filter documents by rules",
        description="Stream a JSONL (or plain-text, one document per line) corpus through the"
        " model and write per-document emotion profiles; resumable, bounded memory.",
    )
    parser.add_argument(
        "corpus", type=Path, help="a .jsonl file (records with --text-field) or text"
    )
    add_model_options(parser, sites=None)
    add_out_option(parser, "runs/score")
    parser.add_argument(
        "--vectors", type=Path, help="EmotionVectors bundle (.safetensors or its folder)"
    )
    parser.add_argument(
        "--sites", help="sites to score, e.g. '20' (default: the bundle's site nearest 2/3 depth)"
    )
    parser.add_argument("--emotions", help="comma-separated emotions (default: all)")
    parser.add_argument("--calibration", type=Path, help="calibration JSON (z-score rules)")
    parser.add_argument("--rules", type=Path, help="rules (.json/.toml) that flag documents")
    parser.add_argument(
        "--filter", type=Path, help="rules that flag AND select documents into filtered.jsonl"
    )
    parser.add_argument(
        "--start-token", type=natural, default=1, help="profile from this token on (default 1)"
    )
    parser.add_argument(
        "--percentile",
        type=percent,
        action="append",
        help="percentile(s) to report besides mean and max (default 90; repeat for more)",
    )
    parser.add_argument(
        "--scale", choices=("raw", "z"), default="raw", help="profile units (z needs calibration)"
    )
    parser.add_argument("--text-field", default="text", help="JSON field with the text")
    parser.add_argument(
        "--batch-tokens",
        type=positive,
        default=4096,
        help="padded tokens per forward (default 4096)",
    )
    parser.add_argument(
        "--window", type=positive, default=256, help="lines per window/checkpoint (default 256)"
    )
    parser.add_argument(
        "--max-tokens", type=positive, default=1024, help="truncate longer documents (default 1024)"
    )
    parser.add_argument("--force", action="store_true", help="start over, overwriting outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_score, _defaults=_defaults(parser))


def _defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


def run_score(args: argparse.Namespace) -> int:
    import emovec
    from emovec.monitor import Calibration, calibration_path, load_rules
    from emovec.scoring import score_corpus
    from emovec.vectors import EmotionVectors

    from ._monitor import _split, _vectors_path

    if not args.corpus.is_file():
        raise ValueError(
            f"Corpus {args.corpus} does not exist or is not a file: pass a JSONL or text file."
        )
    path = _vectors_path(args.vectors)
    vectors = EmotionVectors.load(path)
    rules = load_rules(args.rules) if args.rules is not None else []
    filters = load_rules(args.filter) if args.filter is not None else []
    check_names(vectors, emotions=_split(args.emotions), sites=args.sites)
    cal_path = args.calibration or calibration_path(path)
    calibration = None
    if args.calibration is not None or cal_path.exists():
        calibration = Calibration.load(cal_path).check(vectors)
    if args.scale == "z" and calibration is None:
        raise ValueError(
            f"--scale z needs a calibration and there is none at {cal_path}: run `emovec monitor"
            f" calibrate --vectors {path}` or pass --calibration FILE."
        )
    backend = emovec.load_backend(args.model, adapter=args.adapter, dtype=args.dtype)
    vectors.check(backend)
    sites = None if args.sites is None else emovec.parse_sites(args.sites, backend.n_layers)
    summary = score_corpus(
        backend,
        vectors,
        args.corpus,
        args.out,
        emotions=_split(args.emotions),
        sites=sites,
        start=args.start_token,
        percentiles=args.percentile or [90.0],
        rules=rules,
        filter_rules=filters,
        calibration=calibration,
        scale=args.scale,
        text_field=args.text_field,
        batch_tokens=args.batch_tokens,
        window=args.window,
        max_tokens=args.max_tokens,
        resume=not args.force,
        overwrite=args.force,
        progress=not args.quiet,
    )
    resumed = (
        f" (resumed after line {summary.resumed_from_line})" if summary.resumed_from_line else ""
    )
    print(
        f"scored {summary.documents} documents, {summary.tokens} tokens{resumed};"
        f" {len(summary.bad_lines)} bad lines skipped, {summary.blank_lines} blank"
    )
    for name, count in sorted(summary.flagged.items()):
        print(f"  rule {name!r}: {count} documents")
    if summary.kept is not None:
        print(f"  kept by --filter: {summary.kept}")
    for what, where in summary.outputs.items():
        print(f"wrote {what}: {where}")
    return 0
