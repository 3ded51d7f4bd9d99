"""`emovec replicate`: the main job, end to end, on one model.

shipped corpus -> vectors at all sites -> geometry and validation -> report -> monitor demo ->
steering demo, each stage cached by the content hash of its inputs (`--force` reruns all).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from emovec._backend import Backend

from ._options import add_model_options, add_out_option

# --quick reads this much of the corpus: about a third of the shipped one's tokens.
QUICK_STORIES = 5
QUICK_NEUTRAL = 64


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
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_STORIES} stories per emotion, {QUICK_NEUTRAL} dialogues, a sixth"
        " of the sites, a third of the monitor prompts, fewer resamples (numbers are not comparable to"
        " a full run)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="also write the results page there (e.g. docs/results.md)",
    )
    parser.set_defaults(func=run)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from emovec import load_backend, parse_sites
    from emovec.corpus import load_corpus
    from emovec.pipeline import StageCache
    from emovec.pipeline._main_job import stages
    from emovec.vectors import write_atomic

    corpus = load_corpus(args.corpus)
    if args.quick:
        corpus = corpus.subsample(QUICK_STORIES, QUICK_NEUTRAL)
    say(
        f"corpus: {len(corpus.stories)} stories, {len(corpus.neutral)} neutral texts ({corpus.source})"
    )
    backend = load_backend(args.model, adapter=args.adapter, dtype=args.dtype)
    sites = parse_sites(args.sites, backend.n_layers)
    if args.quick:
        sites = sites[:: max(1, len(sites) // 6)]
    dtype = str(backend.dtype).removeprefix("torch.")
    say(f"model: {backend.model_id} ({backend.name} adapter, {dtype})")
    cache = StageCache(
        args.out, force=args.force, say=say, context={"dtype": dtype, "adapter": backend.name}
    )
    context: dict[str, Any] = {"backend": backend, "corpus": corpus, "sites": sites, "args": args}
    results: dict[str, Any] = {}
    for name, make in stages():
        results[name] = cache.run(make(context, results))
    headline = {k: v for r in results.values() for k, v in r.get("headline", {}).items()}
    out = Path(args.out)
    write_atomic(out / "headline.json", (json.dumps(headline, indent=2) + "\n").encode())
    page = _page(args, backend, results, headline).encode()
    write_atomic(out / "results.md", page)
    if args.markdown is not None:
        write_atomic(args.markdown, page)
    print("\nheadline numbers (" + backend.model_id + ")")
    for key, value in headline.items():
        print(f"  {key:44s} {value}")
    report = results.get("report", {}).get("report_file")
    if report:
        print(f"\nreport: {out / report}")
    print(
        f"results page: {out / 'results.md'}" + (f" and {args.markdown}" if args.markdown else "")
    )
    return 0


def _page(
    args: argparse.Namespace, backend: Backend, results: dict[str, Any], headline: dict
) -> str:
    import torch

    from emovec.pipeline._results_page import fenced, read_text, results_markdown

    out = Path(args.out)
    command = "emovec replicate" + (" --quick" if args.quick else "")
    if args.markdown is not None:
        command += f" --markdown {args.markdown}"
    sections = {}
    if "vectors" in results:
        sections["Held-out identification (story vectors vs template control)"] = fenced(
            read_text(out / "vectors" / "heldout.txt")
        )
    if "validation" in results:
        sections["Valence and arousal alignment per site"] = fenced(
            read_text(out / results["validation"]["validation_file"])
        )
    if "monitor" in results:
        sections["Monitor: pressure vs neutral prompts, per site"] = fenced(
            read_text(out / "monitor" / "evaluation.txt")
        )
    if "steer" in results:
        sections["Steering: the pressure suite"] = fenced(
            read_text(out / results["steer"]["summary_file"])
        )
    if "report" in results:
        body = read_text(out / results["report"]["summary_file"])
        sections["Validation report"] = body.split("\n", 1)[1] if body.startswith("#") else body
    seconds = {name: r.get("seconds", "cached") for name, r in results.items()}
    vec = results.get("vectors", {})
    if vec.get("tokens_per_s"):
        seconds["vectors stage read"] = (
            f"{vec['tokens']} tokens at {vec['tokens_per_s']:.0f} tokens/s"
        )
    return results_markdown(
        model=backend.model_id,
        run_settings=f"{backend.name} adapter, {str(backend.dtype).removeprefix('torch.')},"
        f" {torch.get_num_threads()} torch threads",
        command=command,
        headline=headline,
        seconds=seconds,
        sections=sections,
    )
