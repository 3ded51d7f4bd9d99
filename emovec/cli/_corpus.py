"""`emovec corpus generate|filter|stats`: make, re-filter and inspect story corpora.

emovec corpus generate --out corpus/ --stories-per-topic 12            # paper scale
emovec corpus generate --out corpus/ --shard 0/8                       # one of 8 workers
emovec corpus filter corpus/                                           # merge shards
emovec corpus stats                                                    # the shipped corpus
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from ._options import add_model_options, add_out_option
from ._types import natural, nonnegative, open_fraction, positive


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("corpus", help="generate, filter and inspect emotion story corpora")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _add_gen(actions)
    _add_flt(actions)
    _add_stats(actions)


def _add_gen(actions: argparse._SubParsersAction) -> None:
    gen = actions.add_parser(
        "generate",
        help="write stories (and neutral dialogues) with a model; sharded and resumable",
        description="Generate a corpus: for each emotion and topic, stories in which a character"
        " feels the emotion without naming it, plus neutral Human/Assistant dialogues. Rerun the"
        " same command to resume after an interruption.",
    )
    add_model_options(gen, sites=None)
    add_out_option(gen, "corpus")
    gen.add_argument(
        "--emotions", default="default", help="file with one emotion per line, or 'default' (171)"
    )
    gen.add_argument(
        "--topics", type=Path, help="file with one story topic per line (default: 100 shipped)"
    )
    gen.add_argument(
        "--neutral-topics",
        type=Path,
        help="file with neutral dialogue subjects (default: 60 shipped)",
    )
    gen.add_argument(
        "--limit-emotions", type=positive, help="use only the first N emotions (for trial runs)"
    )
    gen.add_argument(
        "--topics-per-emotion",
        type=positive,
        help="topics per emotion, drawn by a seeded shuffle (default all)",
    )
    gen.add_argument(
        "--stories-per-topic",
        type=positive,
        default=12,
        help="stories per emotion and topic (default 12)",
    )
    gen.add_argument(
        "--neutral", type=natural, default=0, help="neutral dialogues in the plan (default 0)"
    )
    gen.add_argument(
        "--min-accepted",
        type=natural,
        default=0,
        help="top up each emotion to this many accepted stories",
    )
    gen.add_argument(
        "--min-neutral",
        type=natural,
        default=0,
        help="top up neutral dialogues to this many accepted",
    )
    gen.add_argument(
        "--max-attempts",
        type=positive,
        help="most attempts per emotion, top-ups included (default 3x plan)",
    )
    gen.add_argument(
        "--batch-size", type=positive, default=32, help="prompts per generate call (default 32)"
    )
    gen.add_argument(
        "--crossed-topics",
        action="store_true",
        help="write every emotion on the same topics (the paper's emotions x topics design;"
        " topic content then cancels between emotions)",
    )
    gen.add_argument(
        "--ban-word",
        action="store_true",
        help="keep every spelling of a story's emotion word out of the sampled text (fewer"
        " stories rejected for naming it; the leak filter still runs)",
    )
    _add_sampling_options(gen)
    gen.add_argument(
        "--shard", default="0/1", help="run shard i of n: i/n (default 0/1, everything)"
    )
    _add_filter_options(gen)
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen.set_defaults(func=run_generate, _parser=gen)


def _add_sampling_options(gen: argparse.ArgumentParser) -> None:
    """How `corpus generate` samples: attention kernel, lengths, temperature, nucleus."""
    gen.add_argument(
        "--attention",
        choices=("emovec_grouped", "eager"),
        default="emovec_grouped",
        help="attention kernel for --adapter hf: emovec_grouped (default; eager's numbers to"
        " rounding, without copying the KV cache each step) or eager",
    )
    gen.add_argument(
        "--max-new-tokens", type=positive, default=180, help="tokens per text (default 180)"
    )
    gen.add_argument(
        "--answer-max-new-tokens",
        type=positive,
        default=80,
        help="tokens per Assistant line of a neutral dialogue (default 80)",
    )
    gen.add_argument(
        "--temperature", type=nonnegative, default=0.8, help="sampling temperature (default 0.8)"
    )
    gen.add_argument(
        "--top-p", type=open_fraction, default=0.95, help="nucleus sampling mass (default 0.95)"
    )


def _add_flt(actions: argparse._SubParsersAction) -> None:
    flt = actions.add_parser(
        "filter",
        help="merge the shards of a generation folder into the corpus files and manifest",
        description="Merge raw shards into stories.jsonl, neutral.jsonl and manifest.json. With"
        " any filter option, every attempt is judged again with the new thresholds.",
    )
    flt.add_argument("source", type=Path, help="folder made by `emovec corpus generate`")
    flt.add_argument("--out", type=Path, help="where to write the corpus (default: SOURCE)")
    _add_filter_options(flt, defaults=False)
    flt.set_defaults(func=run_filter)


def _add_stats(actions: argparse._SubParsersAction) -> None:
    stats = actions.add_parser("stats", help="counts, rejection rates and settings of a corpus")
    stats.add_argument(
        "path", type=Path, nargs="?", help="corpus folder (default: the shipped corpus)"
    )
    stats.add_argument("--per-emotion", action="store_true", help="list the count of every emotion")
    stats.set_defaults(func=run_stats)


def _add_filter_options(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    from emovec.corpus import FilterSettings

    base = FilterSettings()

    def default(value: object) -> object:
        return value if defaults else None

    parser.add_argument("--min-words", type=int, default=default(base.min_words),
                        help=f"reject texts shorter than this (default {base.min_words})")  # fmt: skip
    parser.add_argument("--max-repeated", type=float, default=default(base.max_repeated),
                        help=f"reject when more 4-grams repeat (default {base.max_repeated})")  # fmt: skip
    parser.add_argument("--min-english", type=float, default=default(base.min_english),
                        help=f"least share of English function words (default {base.min_english})")  # fmt: skip
    parser.add_argument("--min-ascii", type=float, default=default(base.min_ascii),
                        help=f"least share of ASCII among letters (default {base.min_ascii})")  # fmt: skip


def _filters(args: argparse.Namespace):
    from emovec.corpus import FilterSettings

    names = ("min_words", "max_repeated", "min_english", "min_ascii")
    given = {k: getattr(args, k) for k in names}
    if all(v is None for v in given.values()):
        return None
    return FilterSettings(**{k: v for k, v in given.items() if v is not None})


def run_generate(args: argparse.Namespace) -> int:
    import emovec
    from emovec.catalogue import Catalogue, load_topics
    from emovec.corpus import GenerationSettings, Plan, Shard, generate_corpus

    emotions = Catalogue.load(args.emotions)
    names = emotions.emotions[: args.limit_emotions] if args.limit_emotions else emotions.emotions
    plan = Plan(
        emotions=tuple(names),
        topics=load_topics(args.topics),
        neutral_topics=load_topics(args.neutral_topics, neutral=True),
        stories_per_topic=args.stories_per_topic,
        topics_per_emotion=args.topics_per_emotion,
        neutral=args.neutral,
        min_accepted=args.min_accepted,
        min_neutral=args.min_neutral,
        max_attempts=args.max_attempts,
        base_seed=args.seed,
        crossed_topics=args.crossed_topics,
    )
    settings = GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        answer_max_new_tokens=args.answer_max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        batch_size=args.batch_size,
        ban_emotion_word=args.ban_word,
    )
    shard = Shard.parse(args.shard)
    kernel = {"attn_implementation": args.attention} if args.adapter == "hf" else {}
    backend = emovec.load_backend(args.model, adapter=args.adapter, dtype=args.dtype, **kernel)
    start = time.perf_counter()
    report = generate_corpus(
        backend, plan, args.out, settings=settings, filters=_filters(args), shard=shard,
        progress=not args.no_progress,
    )  # fmt: skip
    took = time.perf_counter() - start
    print(f"shard {shard.index}/{shard.count}: {report.generated} texts generated,"
          f" {report.skipped} already done, {took:.0f} s -> {report.path}")  # fmt: skip
    if shard.count == 1:
        return _finish(args.out, None)
    print(f"When every shard is done: emovec corpus filter {args.out}")
    return 0


def run_filter(args: argparse.Namespace) -> int:
    return _finish(args.source, _filters(args), args.out)


def _finish(source: Path, filters, out: Path | None = None) -> int:
    from emovec.corpus import finalize

    manifest = finalize(source, out, filters=filters)
    _print_summary(manifest, out or source)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from emovec.corpus import load_corpus

    corpus = load_corpus(args.path)
    _print_summary(corpus.manifest, corpus.source, per_emotion=args.per_emotion)
    return 0


def _print_summary(manifest: dict, where: object, *, per_emotion: bool = False) -> None:
    counts, gen = manifest["counts"], manifest["generation"]
    per = counts["per_emotion"]
    values = list(per.values()) or [0]
    print(f"corpus {where}")
    if gen.get("authorship") == "hand-written":
        design = gen.get("design", {})
        print(f"  hand-written ({gen.get('written_by', 'by hand')}), brief {gen.get('brief')};"
              f" {design.get('emotions')} emotions x {len(design.get('topics', []))} topics")  # fmt: skip
    else:
        print(f"  made by {gen['model_id']} ({gen['adapter']}), prompt {manifest['prompt_version']},"
              f" max_new_tokens {gen['max_new_tokens']}, temperature {gen['temperature']},"
              f" top_p {gen['top_p']}, batch {gen['batch_size']}, seed {gen['base_seed']}")  # fmt: skip
    print(f"  stories {counts['stories']} over {sum(v > 0 for v in values)} emotions (per emotion"
          f" min {min(values)}, median {statistics.median(values):g}, max {max(values)});"
          f" neutral dialogues {counts['neutral']}")  # fmt: skip
    for kind, rej in counts["rejections"].items():
        reasons = ", ".join(
            f"{r} {v['count']} ({v['rate']:.1%})" for r, v in rej["by_reason"].items()
        )
        print(f"  {kind}: {rej['attempts']} attempts, {rej['rejected']} rejected"
              + (f": {reasons}" if reasons else ""))  # fmt: skip
    short = [e for e, n in per.items() if n == 0]
    if short:
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        print(f"  no stories for {len(short)} emotion(s): {', '.join(short[:10])}{more}",
              file=sys.stderr)  # fmt: skip
    if per_emotion:
        for emotion, n in per.items():
            print(f"    {emotion:16s} {n}")
    print(f"  content hash {manifest['content_hash']}")
