"""`emovec report BUNDLE`: the validation report of a vector bundle (HTML + JSON + figures).

Every input is read and checked (bundle, norms overlap, family and scenario files, comparison
bundle, corpus) before the model is loaded; the bundle is then checked against the model.
"""

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from ._options import add_model_options, add_out_option
from ._types import natural, positive


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="validate a vector bundle: geometry, clusters, logit lens, sweeps -> HTML report",
        description="Run every validation analysis on an EmotionVectors bundle and write a"
        " self-contained report.html (no network needed), numbers.json and figures/*.png|svg.",
    )
    parser.add_argument("bundle", type=Path, help="a .safetensors bundle (or its folder)")
    add_model_options(parser, sites=None)
    add_out_option(parser, "runs/report")
    parser.add_argument("--norms", type=Path, help="affect norms CSV (default: shipped Warriner)")
    parser.add_argument(
        "--families",
        type=Path,
        nargs="+",
        default=[],
        metavar="FILE",
        help="extra intensity-sweep family files (.txt or .jsonl), run with the shipped ones",
    )
    parser.add_argument(
        "--no-shipped-families",
        action="store_true",
        help="run only the --families files, not the shipped families",
    )
    parser.add_argument("--scenarios", type=Path, help="implicit-scenario JSONL (default: shipped)")
    parser.add_argument(
        "--corpus",
        help="stories for held-out identification: a corpus folder, JSONL file or folder, or"
        " 'default' for the shipped corpus (default: skip held-out identification)",
    )
    parser.add_argument(
        "--per-emotion", type=positive, help="held-out: use only the first N stories per emotion"
    )
    parser.add_argument("--max-neutral", type=natural, help="held-out: use only N neutral texts")
    parser.add_argument("--compare", type=Path, metavar="OTHER_BUNDLE", help="a bundle to compare")
    parser.add_argument("--site", help="site for per-site analyses (default: recommended)")
    parser.add_argument(
        "--read-at",
        choices=("assistant", "prompt"),
        default="assistant",
        help="where sweeps read probes: before the assistant reply, or the prompt's last token",
    )
    parser.add_argument("--k", type=positive, default=10, help="k-means clusters (default 10)")
    parser.add_argument(
        "--resamples", type=positive, default=1000, help="bootstrap resamples (default 1000)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the headline tables as Markdown")
    parser.add_argument(
        "--allow-mismatch", action="store_true", help="accept a bundle from another model"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_report, _defaults=_defaults(parser))


def _defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


def run_report(args: argparse.Namespace) -> int:
    import emovec
    from emovec.analysis._geometry_report import ratings_for
    from emovec.analysis._stimuli import load_families, load_scenarios
    from emovec.catalogue import load_norms
    from emovec.report import build_report, summary_markdown
    from emovec.vectors import EmotionVectors, ModelMismatchError, write_atomic

    from ._extract_corpus import open_corpus
    from ._options import bundle_path, existing_bundle

    vectors = EmotionVectors.load(bundle_path(existing_bundle(args.bundle, "BUNDLE")))
    if args.site is not None:
        vectors.site_index(args.site)  # an unknown site fails before the model loads
    norms = load_norms(args.norms)
    ratings_for(vectors.emotions, norms)
    families = [] if args.no_shipped_families else load_families()
    for path in args.families:
        families.extend(load_families(path))
    if not families:
        raise ValueError(
            "No intensity families: pass --families FILE or drop --no-shipped-families."
        )
    names = [f.name for f in families]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"Family name(s) {twice} defined more than once: rename them.")
    scenarios = load_scenarios(args.scenarios)
    other = (
        EmotionVectors.load(bundle_path(existing_bundle(args.compare, "--compare")))
        if args.compare
        else None
    )
    corpus = None
    if args.corpus is not None:
        where = None if args.corpus == "default" else Path(args.corpus)
        stories, neutral, _ = open_corpus(
            where, per_emotion=args.per_emotion, max_neutral=args.max_neutral
        )
        corpus = (list(stories), list(neutral) or None)
    backend = emovec.load_backend(args.model, adapter=args.adapter, dtype=args.dtype)
    try:
        vectors.check(backend, allow_mismatch=args.allow_mismatch)
    except ModelMismatchError as err:
        raise ModelMismatchError(
            f"{err} (this report loaded --model {args.model}: pass the bundle's model,"
            f" {vectors.model_id!r}, with --model)"
        ) from None
    result = build_report(
        vectors,
        backend,
        norms=norms,
        sweeps=families,
        scenarios=scenarios,
        corpus=corpus,
        compare=other,
        out_dir=args.out,
        site=args.site,
        read_at=args.read_at,
        k=args.k,
        n_resamples=args.resamples,
        seed=args.seed,
        allow_mismatch=args.allow_mismatch,
        progress=not args.quiet,
    )
    width = max(len(r[0]) for r in result.summary)
    for check, ours, ref, verdict in result.summary:
        shown = "n/a" if ours is None else f"{ours:.3f}"
        ref_shown = "" if ref is None else f"(ref {ref})"
        print(f"{check:{width}s}  {shown:>8s} {ref_shown:10s} {verdict}")
    if args.markdown is not None:
        command = "emovec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        write_atomic(args.markdown, summary_markdown(result, command=command).encode())
        print(f"wrote {args.markdown}")
    print(f"wrote {result.html} ({result.seconds:.0f} s)")
    return 0
