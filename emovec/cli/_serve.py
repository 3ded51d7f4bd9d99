"""`emovec monitor serve`: a local page that streams per-token emotion readings while the model
answers (see docs/monitor-live.md).

    emovec monitor serve                       # the main job's bundle, http://127.0.0.1:8765
    emovec monitor serve --vectors runs/vectors --port 9000
    emovec monitor serve --screenshot docs/images/monitor-live.png --message "..."

Defaults come from the main job (`make demo`): its bundle, its monitor calibration and the alert
threshold its evaluation set at the monitor's site (10% false alarms on held-out neutral
prompts); `--calibration` and `--threshold` override them.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._options import add_model_options

DEFAULT_BUNDLE = Path("runs/replicate/vectors/emotion_vectors.safetensors")
BUNDLE_NAME = "emotion_vectors.safetensors"


def register(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "serve",
        help="a local web page streaming per-token readings, alerts and steering live",
        description="Serve one page on 127.0.0.1: type a chat message and watch the reply token"
        " by token, coloured by emotion, with a live chart and the calibrated alerts as they"
        " fire. One model; concurrent chats wait in a bounded queue.",
    )
    add_model_options(parser, sites=None)
    parser.add_argument(
        "--vectors", type=Path, help=f"EmotionVectors bundle (default {DEFAULT_BUNDLE})"
    )
    parser.add_argument(
        "--calibration", type=Path, help="calibration JSON (default: by the bundle, or the job's)"
    )
    parser.add_argument("--site", help="site the monitor reads (default: nearest 2/3 depth)")
    parser.add_argument(
        "--threshold", type=float, help="default alert threshold (default: the job's evaluation)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="needed to bind anything but the loopback interface (the page has no login)",
    )
    parser.add_argument("--queue", type=int, default=4, help="chats that may wait (default 4)")
    parser.add_argument("--max-chars", type=int, default=2000, help="message limit (default 2000)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=256, help="reply length limit (default 256)"
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        help="send --message from the page in headless Chromium, save a PNG of it, and exit",
    )
    parser.add_argument("--message", help="the message for --screenshot")
    parser.add_argument(
        "--fields", help='JSON object of page fields for --screenshot, e.g. \'{"action": "steer"}\''
    )
    parser.set_defaults(
        func=run_serve, _defaults={a.dest: a.default for a in parser._actions if a.dest != "help"}
    )


def _bundle(path: Path | None) -> Path:
    path = path or DEFAULT_BUNDLE
    path = path / BUNDLE_NAME if path.is_dir() else path
    if not path.exists():
        raise ValueError(
            f"No vector bundle at {path}: run `make demo` (the main job writes"
            f" {DEFAULT_BUNDLE}) or pass --vectors BUNDLE."
        )
    return path


def _job_file(bundle: Path, name: str) -> Path:
    """A file of the main job's monitor stage, beside the bundle's folder (runs/X/monitor/)."""
    return bundle.parent.parent / "monitor" / name


def _calibration(args: argparse.Namespace, bundle: Path, vectors: Any) -> Any:
    from emovec.monitor import Calibration, calibration_path

    for path in (args.calibration, calibration_path(bundle), _job_file(bundle, "calibration.json")):
        if path is not None and (path == args.calibration or path.exists()):
            return Calibration.load(path).check(vectors)
    print(
        "note: no calibration found; readings and thresholds are raw (run `emovec monitor"
        " calibrate --vectors BUNDLE` for z-scores)",
        file=sys.stderr,
    )
    return None


def _rule_defaults(args: argparse.Namespace, bundle: Path, site: Any, calibrated: bool) -> dict:
    """The default rule's threshold and sustain: the job's evaluated threshold at `site` (a
    per-token maximum, so it holds for one token), else z > 3 for two tokens as `emovec monitor`."""
    if args.threshold is not None:
        return {"threshold": float(args.threshold), "sustain": 2}
    path = _job_file(bundle, "evaluation.json")
    if calibrated and path.exists():
        found = [s for s in json.loads(path.read_text())["sites"] if s["site"] == str(site)]
        if found and found[0].get("threshold") is not None:
            return {"threshold": round(float(found[0]["threshold"]), 2), "sustain": 1}
    return {"threshold": 3.0, "sustain": 2}


def build_engine(args: argparse.Namespace) -> Any:
    """The engine the arguments describe (vectors, calibration, threshold, backend)."""
    from emovec import Site
    from emovec.monitor import default_site
    from emovec.serve import Engine
    from emovec.vectors import EmotionVectors

    bundle = _bundle(args.vectors)
    vectors = EmotionVectors.load(bundle)
    calibration = _calibration(args, bundle, vectors)
    site = Site.parse(args.site) if args.site else default_site(vectors)
    vectors.site_index(site)
    defaults = _rule_defaults(args, bundle, site, calibration is not None)
    import emovec

    backend = emovec.load_backend(args.model, adapter=args.adapter, dtype=args.dtype)
    return Engine(
        backend,
        vectors,
        calibration,
        site=site,
        defaults=defaults,
        queue_size=args.queue,
    )


def run_serve(args: argparse.Namespace) -> int:
    from emovec.serve import Limits, create_app, is_local, running, serve

    if not is_local(args.host) and not args.allow_remote:
        raise ValueError(
            f"--host {args.host} would expose the page beyond this machine; add --allow-remote"
            " if that is what you want."
        )
    if args.screenshot is not None and not args.message:
        raise ValueError("--screenshot needs --message TEXT (what the page sends).")
    if args.queue < 1 or args.max_chars < 1 or args.max_new_tokens < 1:
        raise ValueError("--queue, --max-chars and --max-new-tokens must be at least 1.")
    fields = json.loads(args.fields) if args.fields else {}
    limits = Limits(max_chars=args.max_chars, max_new_tokens=args.max_new_tokens)
    engine = build_engine(args)
    app = create_app(engine, limits)
    if args.screenshot is not None:
        from emovec.serve._browser import chat_in_browser

        with running(app) as url:
            shown = chat_in_browser(url, args.message, screenshot=args.screenshot, fields=fields)
        print(
            f"wrote {args.screenshot}: {len(shown['tokens'])} reply tokens,"
            f" {len(shown['alerts'])} alert(s); {shown['status']}"
        )
        return 0
    if not is_local(args.host):
        print(
            f"warning: serving on {args.host}: anyone who can reach this address can use the"
            " model (no login, no TLS)",
            file=sys.stderr,
        )
    print(f"emovec monitor: http://{args.host}:{args.port}  (Ctrl+C stops)", flush=True)
    serve(app, args.host, args.port)
    return 0
