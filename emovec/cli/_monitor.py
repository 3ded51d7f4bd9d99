"""`emovec monitor`: generate with the emotion monitor on; `monitor calibrate`; `monitor evaluate`.

    emovec monitor --vectors runs/vectors --prompt "..." --out runs/monitor [--live]
    emovec monitor calibrate --vectors runs/vectors
    emovec monitor evaluate --vectors runs/vectors --sites 4:30 --out runs/monitor-eval

The calibration lives next to the bundle (`NAME.calibration.json`) and is picked up from there
unless `--calibration` names another file. See docs/monitoring.md.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from emovec._backend import Backend

from ._options import add_model_options, add_out_option, read_text_arg
from ._types import finite, fraction, nonnegative, positive

BUNDLE_NAME = "emotion_vectors.safetensors"
WATCH = "desperate,afraid,panicked"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "monitor",
        help="generate with the emotion monitor on (alerts, stop, intervene); calibrate; evaluate",
        description="Generate a reply with emotion probes read on every token. Alerts fire when"
        " watched emotions rise above their calibrated baseline; actions record, stop or steer"
        " toward calm. Writes events.jsonl, heatmap.html and readings.png into --out.",
    )
    _common(parser, "runs/monitor")
    parser.add_argument("--prompt", help="the user message (or use --prompt-file)")
    parser.add_argument("--prompt-file", type=Path, help="read the prompt from this file")
    parser.add_argument("--rules", type=Path, help="rules file (.json or .toml); overrides --watch")
    parser.add_argument(
        "--watch", default=WATCH, help=f"emotions of the default rule (default {WATCH})"
    )
    parser.add_argument(
        "--threshold", type=finite, default=3.0, help="z-score of the default rule (default 3)"
    )
    parser.add_argument(
        "--sustain", type=positive, default=2, help="tokens the default rule must hold (default 2)"
    )
    parser.add_argument(
        "--action",
        choices=("record", "stop", "intervene"),
        default="record",
        help="what the default rule does (default record)",
    )
    parser.add_argument("--toward", default="calm", help="intervene: steer toward (default calm)")
    parser.add_argument(
        "--strength",
        type=finite,
        default=0.1,
        help="intervene: fraction of the residual norm (default 0.1)",
    )
    parser.add_argument("--max-new-tokens", type=positive, default=64, help="default 64")
    parser.add_argument("--temperature", type=nonnegative, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--no-chat", action="store_true", help="do not apply the chat template")
    parser.add_argument("--live", action="store_true", help="live terminal view (needs rich)")
    parser.add_argument(
        "--stream", action="store_true", help="print every event as a JSON line on stdout"
    )
    parser.set_defaults(func=run_monitor, _defaults=_defaults(parser))

    actions = parser.add_subparsers(dest="monitor_command", metavar="ACTION")
    cal = actions.add_parser(
        "calibrate",
        help="measure per-emotion baselines on neutral prompts and the model's replies",
    )
    _common(cal, None)
    cal.add_argument("--prompts", type=Path, help="JSONL with 'text' (default: shipped set)")
    cal.add_argument("--texts", type=Path, help="JSONL with 'text': neutral texts read as is")
    cal.add_argument(
        "--max-new-tokens", type=positive, default=48, help="reply length (default 48)"
    )
    cal.add_argument(
        "--batch-size", type=positive, default=8, help="prompts per generate (default 8)"
    )
    cal.add_argument(
        "--out", type=Path, help="calibration file (default: NAME.calibration.json by the bundle)"
    )
    cal.set_defaults(func=run_calibrate, _defaults=_defaults(cal))

    ev = actions.add_parser(
        "evaluate", help="AUROC/precision/recall of the monitor on neutral vs pressure prompts"
    )
    _common(ev, "runs/monitor-eval")
    ev.add_argument("--prompts", type=Path, help="labelled prompts JSONL (default: shipped set)")
    ev.add_argument("--watch", default=WATCH, help=f"emotions scored (default {WATCH})")
    ev.add_argument(
        "--threshold",
        type=finite,
        help="alert when the score exceeds this z (default: per site, from held-out neutral"
        " prompts at --false-alarm)",
    )
    ev.add_argument(
        "--false-alarm",
        type=fraction,
        default=0.1,
        help="held-out neutral prompts allowed to alert (default 0.1)",
    )
    ev.add_argument(
        "--null-prompts",
        type=Path,
        help="JSONL with 'text': held-out neutral prompts (default: the shipped calibration set)",
    )
    ev.add_argument(
        "--last-prompt-tokens", type=positive, default=8, help="prompt tokens scored (default 8)"
    )
    ev.add_argument("--max-new-tokens", type=positive, default=32, help="reply length (default 32)")
    ev.add_argument(
        "--batch-size", type=positive, default=8, help="prompts per generate (default 8)"
    )
    ev.set_defaults(func=run_evaluate, _defaults=_defaults(ev))

    from ._serve import register as register_serve  # `monitor serve`: emovec/cli/_serve.py

    register_serve(actions)


def _common(parser: argparse.ArgumentParser, out: str | None) -> None:
    add_model_options(parser, sites=None)
    parser.add_argument(
        "--sites",
        help="sites to read, e.g. '20' or '4:30' (default: the bundle's site nearest 2/3 depth;"
        " calibrate: every site of the bundle)",
    )
    parser.add_argument(
        "--vectors", type=Path, help="EmotionVectors bundle (.safetensors or its folder)"
    )
    parser.add_argument("--calibration", type=Path, help="calibration JSON (default: by bundle)")
    parser.add_argument("--emotions", help="comma-separated emotions to read (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    if out is not None:
        add_out_option(parser, out)


def _defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


def _vectors_path(path: Path | None) -> Path:
    if path is None:
        raise ValueError("Pass --vectors BUNDLE (an EmotionVectors .safetensors or its folder).")
    from ._options import existing_bundle

    existing_bundle(path, "--vectors")
    return path / BUNDLE_NAME if path.is_dir() else path


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _load(
    args: argparse.Namespace,
    *,
    need_calibration: bool = False,
    calibrated: bool = True,
    before_model: Any = None,
) -> tuple[Any, Any, Any]:
    """Vectors, calibration (or None) and the backend; every file check before the model loads
    (`before_model(vectors, calibration)` runs the caller's own checks at that point)."""
    from emovec.monitor import Calibration, calibration_path
    from emovec.vectors import EmotionVectors

    path = _vectors_path(args.vectors)
    vectors = EmotionVectors.load(path)
    cal_path = args.calibration or calibration_path(path)
    calibration = None
    if not calibrated:
        pass
    elif args.calibration is not None or cal_path.exists():
        calibration = Calibration.load(cal_path).check(vectors)
    elif need_calibration:
        raise ValueError(
            f"No calibration at {cal_path}: run `emovec monitor calibrate --vectors {path}` first"
            " or pass --calibration FILE."
        )
    from ._options import check_names

    check_names(vectors, emotions=_split(args.emotions), sites=args.sites)
    if before_model is not None:
        before_model(vectors, calibration)
    import emovec

    backend = emovec.load_backend(args.model, adapter=args.adapter, dtype=args.dtype)
    vectors.check(backend)
    return vectors, calibration, backend


def _sites(args: argparse.Namespace, backend: Backend) -> Any:
    from emovec import parse_sites

    return None if args.sites is None else parse_sites(args.sites, backend.n_layers)


def _default_rules(args: argparse.Namespace, emotions: list[str], calibrated: bool) -> list[Any]:
    from emovec.monitor import AnyOf, Intervene, Rule, Sustained, Threshold, load_rules

    if args.rules is not None:
        return load_rules(args.rules)
    if not calibrated:
        print(
            "note: no calibration, so no default alert rule (z-scores need baselines); run"
            " `emovec monitor calibrate` or pass --rules with raw thresholds.",
            file=sys.stderr,
        )
        return []
    watch = [e for e in _split(args.watch) or [] if e in emotions]
    if not watch:
        raise ValueError(f"None of --watch {args.watch!r} is among the monitored emotions.")
    when = Sustained(AnyOf(tuple(Threshold(e, above=args.threshold) for e in watch)), args.sustain)
    action: Any = args.action
    if args.action == "intervene":
        action = Intervene("steer", args.toward, args.strength)
    return [Rule(f"{'+'.join(watch)} z>{args.threshold:g}", when, action)]


def run_monitor(args: argparse.Namespace) -> int:
    from emovec.monitor import (
        EventWriter,
        LiveView,
        Monitor,
        Transcript,
        plot_readings,
        read_events,
        save_heatmap,
    )

    if (args.prompt is None) == (args.prompt_file is None):
        raise ValueError("Pass exactly one of --prompt TEXT or --prompt-file FILE.")
    prompt = (
        args.prompt if args.prompt is not None else read_text_arg(args.prompt_file, "--prompt-file")
    )
    if not prompt.strip():
        raise ValueError("The prompt is empty: pass a non-empty --prompt or --prompt-file.")
    if args.max_new_tokens < 1:
        raise ValueError("--max-new-tokens must be at least 1.")
    rules: list[Any] = []
    emotions: list[str] = []

    def check(vectors: Any, calibration: Any) -> None:
        emotions.extend(_split(args.emotions) or list(vectors.emotions))
        if args.action == "intervene":
            vectors.index(args.toward)  # before the model loads
        rules.extend(_default_rules(args, emotions, calibration is not None))

    vectors, calibration, backend = _load(args, before_model=check)
    made = not args.out.exists()
    args.out.mkdir(parents=True, exist_ok=True)
    events_path = args.out / "events.jsonl"
    partial = events_path.with_name(events_path.name + ".partial")  # renamed once complete
    listeners: list[Any] = []
    writer = EventWriter(partial)
    try:  # nothing is left behind when the run fails
        listeners.append(writer)
        if args.stream:
            listeners.append(lambda e: print(json.dumps(e), flush=True))
        live = None
        if args.live:
            watch = [e for e in _split(args.watch) or [] if e in emotions] or emotions[:6]
            live = LiveView([*watch, *[e for e in ("calm",) if e in emotions and e not in watch]])
            listeners.append(live)
        monitor = Monitor(
            vectors,
            emotions=emotions,
            sites=_sites(args, backend),
            calibration=calibration,
            rules=rules,
            on_event=listeners,
            tokenizer=backend.tokenizer,
        )
        if live is not None:
            live.__enter__()
        try:
            gen = backend.generate(
                [prompt],
                max_new_tokens=args.max_new_tokens,
                observers=[monitor],
                chat=not args.no_chat,
                temperature=args.temperature,
                seed=args.seed,
            )
            monitor.finish(gen)
        finally:
            if live is not None:
                live.__exit__(None, None, None)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        if made and not any(args.out.iterdir()):
            args.out.rmdir()
        raise
    writer.close()
    partial.replace(events_path)
    transcript = Transcript.from_events(read_events(events_path))
    watch = [e for e in _split(args.watch) or [] if e in emotions]
    shown = watch + [e for e in ("calm",) if e in emotions and e not in watch] or None
    save_heatmap(
        args.out / "heatmap.html", transcript, emotions=shown, title=f"emovec: {prompt[:60]}"
    )
    plot_readings(args.out / "readings", transcript, emotions=shown)
    if not args.stream:
        print(gen.texts[0])
        print(f"\n[{gen.stopped[0]}] {len(gen.token_ids[0])} tokens generated")
        for alert, action in zip(monitor.alerts, monitor.actions, strict=True):
            print(
                f"alert {alert.rule!r} at step {alert.step} (position {alert.position}):"
                f" {action['kind']}"
            )
        print(f"wrote {events_path}, {args.out / 'heatmap.html'}, {args.out / 'readings.png'}")
    return 0


def _jsonl_texts(path: Path, what: str) -> list[str]:
    """The 'text' of every line of a JSONL file (the shared reader; all bad lines reported)."""
    from emovec.corpus._records import BadLine, iter_jsonl, raise_bad_lines

    if not path.is_file():
        raise ValueError(f"{what} {path} does not exist or is not a file: pass a JSONL file.")
    texts: list[str] = []
    bad: list[BadLine] = []
    with path.open("rb") as handle:
        for number, rec in iter_jsonl(handle, str(path)):
            if isinstance(rec, BadLine):
                bad.append(rec)
            elif not isinstance(rec.get("text"), str) or not rec["text"].strip():
                bad.append(BadLine(str(path), number, "no non-empty string field 'text'"))
            else:
                texts.append(rec["text"])
    if bad:
        raise_bad_lines(bad, fix="each must be a JSON object with a non-empty 'text'")
    if not texts:
        raise ValueError(f"{what} {path} holds no texts: add JSON lines with a 'text' field.")
    return texts


def run_calibrate(args: argparse.Namespace) -> int:
    from emovec.monitor import calibrate, calibration_path

    prompts = None if args.prompts is None else _jsonl_texts(args.prompts, "prompts")
    texts = [] if args.texts is None else _jsonl_texts(args.texts, "texts")
    path = _vectors_path(args.vectors)
    out = args.out or calibration_path(path)
    vectors, _, backend = _load(args, calibrated=False)
    cal = calibrate(
        backend,
        vectors,
        prompts=prompts,
        texts=texts,
        emotions=_split(args.emotions),
        sites=_sites(args, backend),
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    cal.save(out)
    print(
        f"wrote {out}: baselines of {len(cal.emotions)} emotions x {len(cal.sites)} sites over"
        f" {cal.count} tokens"
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from emovec.monitor import evaluate, load_eval_prompts

    prompts = load_eval_prompts(args.prompts) if args.prompts is not None else None
    null = None if args.null_prompts is None else _jsonl_texts(args.null_prompts, "null prompts")
    vectors, calibration, backend = _load(args, need_calibration=True)
    result = evaluate(
        backend,
        vectors,
        calibration,
        prompts,
        sites=_sites(args, backend),
        emotions=_split(args.watch) or [],
        threshold=args.threshold,
        null_prompts=null,
        false_alarm=args.false_alarm,
        last_prompt_tokens=args.last_prompt_tokens,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result.save(args.out / "evaluation.json")
    result.plot(args.out / "evaluation")
    print(result.table())
    best = result.best()
    print(f"\nbest site {best.site}: AUROC {best.auroc:.3f}")
    print(f"wrote {args.out / 'evaluation.json'}, {args.out / 'evaluation.png'}")
    return 0
