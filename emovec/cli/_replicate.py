"""`emovec replicate`: the main job, end to end, on one model.

shipped corpus -> vectors at all sites -> geometry and validation -> report -> monitor demo ->
steering demo, each stage cached by the content hash of its inputs (`--force` reruns all).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._options import add_model_options, add_out_option

RECIPE = {"start": 50, "neutral_variance": 0.5, "pca_mode": "dialogue"}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "replicate", help="the main job: corpus -> vectors -> validation -> monitor -> steering"
    )
    add_model_options(parser)
    add_out_option(parser, "runs/replicate")
    parser.add_argument(
        "--corpus", type=Path, default=None, help="corpus folder (default: the shipped one)"
    )
    parser.add_argument(
        "--force", action="store_true", help="rerun every stage even if its inputs are unchanged"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer sites and prompts (a smoke run)"
    )
    parser.set_defaults(func=run)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from emovec import load_backend, parse_sites
    from emovec.corpus import load_corpus
    from emovec.pipeline import StageCache
    from emovec.pipeline._main_job import STAGES

    corpus = load_corpus(args.corpus)
    say(
        f"corpus: {len(corpus.stories)} stories, {len(corpus.neutral)} neutral texts ({corpus.source})"
    )
    backend = load_backend(args.model, adapter=args.adapter)
    sites = parse_sites(args.sites, backend.n_layers)
    if args.quick:
        sites = sites[:: max(1, len(sites) // 6)]
    cache = StageCache(args.out, force=args.force, say=say)
    context: dict[str, Any] = {"backend": backend, "corpus": corpus, "sites": sites, "args": args}
    results: dict[str, Any] = {}
    for name, make in STAGES:
        results[name] = cache.run(make(context, results))
    headline = {k: v for r in results.values() for k, v in r.get("headline", {}).items()}
    (Path(args.out) / "headline.json").write_text(json.dumps(headline, indent=2))
    print("\nheadline numbers (" + backend.model_id + ")")
    for key, value in headline.items():
        print(f"  {key:38s} {value}")
    report = results.get("report", {}).get("report_file")
    if report:
        print(f"\nreport: {Path(args.out) / report}")
    return 0
