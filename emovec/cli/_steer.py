"""`emovec steer`: steer generations, dose-response with controls, causal patching, suites.

    emovec steer generate --vectors B --steer calm:0.1 --prompt "..."    # both texts
    emovec steer dose     --vectors B --emotion calm --metric "logprob: calm" --prompt "..."
    emovec steer patch    --vectors B --source "..." --target "..." --metric kl --last 3
    emovec steer suite preferences|pressure --vectors B

Strengths are fractions of the site's mean residual norm (the paper's unit) unless
`--absolute`. Results (JSON and PNG/SVG plots) go to `--out`.
"""

import argparse
from pathlib import Path
from typing import Any

from ._options import add_model_options, add_out_option
from ._steer_inputs import _floats, _load, _names, _sites_arg, _unknown_name
from ._types import natural, nonnegative, positive


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "steer",
        help="steer, patch and measure causal effects of emotion vectors (with controls)",
        description="Causal interventions with emotion vectors: steered generation,"
        " dose-response against norm-matched random directions, causal patching, and the"
        " preference and pressure suites.",
    )
    modes = parser.add_subparsers(dest="mode", metavar="MODE", required=True)
    _add_gen(modes)
    _add_dose(modes)
    _add_patch(modes)
    _add_suite(modes)


def _add_gen(modes: argparse._SubParsersAction) -> None:
    gen = modes.add_parser("generate", help="generate with and without steering; print both")
    _common(gen, "runs/steer/generate")
    gen.add_argument(
        "--steer",
        action="append",
        default=[],
        metavar="EMOTION:STRENGTH",
        help="emotion and strength, e.g. calm:0.1 or desperate:-0.05 (repeatable)",
    )
    gen.add_argument("--prompt", action="append", default=[], help="prompt (repeatable)")
    gen.add_argument(
        "--max-new-tokens", type=positive, default=48, help="tokens to generate (default 48)"
    )
    gen.add_argument(
        "--positions",
        choices=("all", "prompt", "generated"),
        default="all",
        help="which tokens are steered (default all)",
    )
    gen.add_argument("--absolute", action="store_true", help="strengths are absolute lengths")
    gen.add_argument("--no-chat", action="store_true", help="do not apply the chat template")
    gen.add_argument("--temperature", type=nonnegative, default=0.0, help="0 = greedy (default)")
    gen.set_defaults(func=run_generate, _defaults=_defaults(gen))


def _add_dose(modes: argparse._SubParsersAction) -> None:
    dose = modes.add_parser("dose", help="dose-response of one emotion vs random directions")
    _common(dose, "runs/steer/dose")
    dose.add_argument("--emotion", required=True, help="emotion to steer")
    dose.add_argument(
        "--metric", required=True, help="'logprob: word', 'prob:A|A,B', 'logitdiff:A,B' or 'kl'"
    )
    dose.add_argument("--prompt", action="append", default=[], help="prompt (repeatable)")
    dose.add_argument("--prompts", type=Path, help="file with one prompt per line")
    dose.add_argument(
        "--strengths",
        default="-0.1,-0.05,-0.02,0.02,0.05,0.1",
        help="comma-separated strengths; write --strengths=-0.1,0.1 when the first is negative (default -0.1,-0.05,-0.02,0.02,0.05,0.1)",
    )
    dose.add_argument("--n-random", type=natural, default=20, help="random directions (default 20)")
    dose.add_argument(
        "--orthogonalize",
        action="store_true",
        help="random directions orthogonal to the emotion vector",
    )
    dose.add_argument("--shuffled", help="shuffled-label control: another emotion, or 'permute'")
    dose.add_argument("--last", type=positive, help="steer only the last N prompt tokens")
    dose.add_argument("--absolute", action="store_true", help="strengths are absolute lengths")
    dose.add_argument("--no-chat", action="store_true", help="do not apply the chat template")
    dose.add_argument(
        "--no-side-effects",
        action="store_true",
        help="skip the KL-on-neutral-text and perplexity measurements",
    )
    dose.set_defaults(func=run_dose, _defaults=_defaults(dose))


def _add_patch(modes: argparse._SubParsersAction) -> None:
    patch = modes.add_parser("patch", help="patch the emotion subspace from source into target")
    _common(patch, "runs/steer/patch")
    patch.add_argument(
        "--source", action="append", required=True, help="source prompt (repeatable)"
    )
    patch.add_argument(
        "--target", action="append", required=True, help="target prompt (repeatable)"
    )
    patch.add_argument(
        "--emotions",
        default="all",
        help="'all' (the bundle's span), 'full' (every direction) or a comma list",
    )
    patch.add_argument("--metric", default="kl", help="as for dose (default kl)")
    patch.add_argument(
        "--last", type=positive, help="patch the last N tokens (aligned from the end)"
    )
    patch.add_argument("--chat", action="store_true", help="apply the chat template")
    patch.set_defaults(func=run_patch, _defaults=_defaults(patch))


def _add_suite(modes: argparse._SubParsersAction) -> None:
    suite = modes.add_parser("suite", help="run the preference or pressure suite")
    _common(suite, "runs/steer/suite")
    suite.add_argument("suite", choices=("preferences", "pressure"), help="which suite")
    suite.add_argument(
        "--file", type=Path, help="a JSONL file of your own (default: the shipped one)"
    )
    suite.add_argument("--emotions", help="comma list (default blissful,hostile / desperate,calm)")
    suite.add_argument(
        "--strengths", help="comma list (default 0.5 for preferences, 0.05 for pressure)"
    )
    suite.add_argument(
        "--n-random", type=natural, default=20, help="random directions (default 20)"
    )
    suite.add_argument(
        "--targets", type=positive, default=8, help="preferences: activities steered (default 8)"
    )
    suite.add_argument(
        "--opponents",
        type=positive,
        default=10,
        help="preferences: opponents per target (default 10)",
    )
    suite.add_argument(
        "--probe-site", help="preferences: where probes are read (default: the steering site)"
    )
    suite.add_argument(
        "--orders",
        choices=("both", "random"),
        default="both",
        help="pressure: ask each situation both ways, or one drawn way (default both)",
    )
    suite.set_defaults(func=run_suite, _defaults=_defaults(suite))


def _common(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument(
        "--vectors",
        type=Path,
        required=True,
        help="EmotionVectors bundle (.safetensors or its folder)",
    )
    add_model_options(parser, sites=None)
    parser.add_argument(
        "--sites", help="sites to steer (default: the bundle site nearest 2/3 of the depth)"
    )
    add_out_option(parser, out)
    parser.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="use vectors made for another model of the same width (deliberately)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


def run_generate(args: argparse.Namespace) -> int:
    from emovec.interventions import Steer, compile_edits

    if not args.prompt:
        raise ValueError("Give at least one --prompt.")
    if not args.steer:
        raise ValueError("Give at least one --steer EMOTION:STRENGTH (e.g. calm:0.1).")
    specs = []
    for item in args.steer:
        name, sep, value = item.rpartition(":")
        if not sep or not name:
            raise ValueError(
                f"Cannot read --steer {item!r}: write EMOTION:STRENGTH, e.g. calm:0.1."
            )
        specs.append(
            Steer(
                name,
                _floats(value, "strength")[0],
                _sites_arg(args),
                args.positions,
                relative=not args.absolute,
            )
        )
    vectors, backend = _load(args, [spec.emotion for spec in specs])
    try:
        edits = compile_edits(specs, vectors, backend, allow_mismatch=args.allow_mismatch)
    except KeyError as err:
        raise _unknown_name(err) from None
    chat = not args.no_chat
    kwargs = dict(
        max_new_tokens=args.max_new_tokens, chat=chat, temperature=args.temperature, seed=args.seed
    )
    plain = backend.generate(args.prompt, **kwargs)
    steered = backend.generate(args.prompt, edits=edits, **kwargs)
    label = ", ".join(args.steer) + f" at {', '.join(sorted({str(e.site) for e in edits}))}"
    records = []
    for prompt, a, b in zip(args.prompt, plain.texts, steered.texts, strict=True):
        print(f"=== prompt: {prompt}\n--- unsteered:\n{a}\n--- steered ({label}):\n{b}\n")
        records.append({"prompt": prompt, "unsteered": a, "steered": b})
    from emovec.interventions._plots import save_json

    save_json(
        {
            "steer": args.steer,
            "sites": sorted({str(e.site) for e in edits}),
            "relative": not args.absolute,
            "positions": args.positions,
            "model_id": backend.model_id,
            "adapter": backend.name,
            "generations": records,
        },
        Path(args.out) / "generations.json",
    )
    return 0


def _prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt)
    if args.prompts is not None:
        try:
            lines = Path(args.prompts).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise ValueError(
                f"Cannot read --prompts {args.prompts}: {err.strerror or err}."
            ) from None
        prompts += [line for line in lines if line.strip()]
    if not prompts:
        raise ValueError("Give prompts with --prompt TEXT (repeatable) or --prompts FILE.")
    return prompts


def run_dose(args: argparse.Namespace) -> int:
    from emovec.interventions import dose_response, last, parse_metric

    metric = parse_metric(args.metric)
    strengths = _floats(args.strengths, "--strengths")
    prompts = _prompts(args)
    extra: dict[str, Any] = {}
    if args.no_side_effects:
        extra = {"neutral": None, "generation_prompts": None}
    names = [args.emotion] + ([args.shuffled] if args.shuffled not in (None, "permute") else [])
    vectors, backend = _load(args, names)
    try:
        result = dose_response(
            backend,
            vectors,
            args.emotion,
            prompts,
            metric=metric,
            strengths=strengths,
            sites=_sites_arg(args),
            n_random=args.n_random,
            orthogonalize=args.orthogonalize,
            shuffled=args.shuffled,
            positions=last(args.last) if args.last else "all",
            relative=not args.absolute,
            chat=not args.no_chat,
            seed=args.seed,
            progress=not args.quiet,
            allow_mismatch=args.allow_mismatch,
            **extra,
        )
    except KeyError as err:
        raise _unknown_name(err) from None
    print(result.summary())
    for path in result.save(args.out):
        print(f"wrote {path}")
    return 0


def run_patch(args: argparse.Namespace) -> int:
    from emovec.interventions import parse_metric, patching

    metric = parse_metric(args.metric)
    emotions: Any = args.emotions if args.emotions in ("all", "full") else _names(args.emotions)
    vectors, backend = _load(args, emotions if isinstance(emotions, list) else ())
    try:
        result = patching(
            backend,
            vectors,
            args.source,
            args.target,
            metric=metric,
            emotions=emotions,
            sites=_sites_arg(args) or None,
            last=args.last,
            chat=args.chat,
            progress=not args.quiet,
            allow_mismatch=args.allow_mismatch,
        )
    except KeyError as err:
        raise _unknown_name(err) from None
    print(result.summary())
    for path in result.save(args.out):
        print(f"wrote {path}")
    return 0


def run_suite(args: argparse.Namespace) -> int:
    from emovec.interventions import preference_suite, pressure_suite

    emotions = _names(args.emotions)
    default = ("blissful", "hostile") if args.suite == "preferences" else ("desperate", "calm")
    vectors, backend = _load(args, emotions or default)
    common = dict(
        n_random=args.n_random,
        seed=args.seed,
        progress=not args.quiet,
        allow_mismatch=args.allow_mismatch,
    )
    try:
        if args.suite == "preferences":
            strengths = _floats(args.strengths, "--strengths") if args.strengths else [0.5]
            if len(strengths) != 1:
                raise ValueError("The preference suite takes one --strengths value.")
            result = preference_suite(
                backend,
                vectors,
                activities=args.file,
                emotions=emotions or ("blissful", "hostile"),
                strength=strengths[0],
                steer_site=_sites_arg(args),
                probe_site=args.probe_site,
                n_targets=args.targets,
                n_opponents=args.opponents,
                **common,
            )
        else:
            strengths = _floats(args.strengths, "--strengths") if args.strengths else [0.05]
            result = pressure_suite(
                backend,
                vectors,
                situations=args.file,
                emotions=emotions or ("desperate", "calm"),
                strengths=strengths,
                site=_sites_arg(args),
                orders=args.orders,
                **common,
            )
    except KeyError as err:
        raise _unknown_name(err) from None
    print(result.summary())
    for path in result.save(args.out):
        print(f"wrote {path}")
    return 0
