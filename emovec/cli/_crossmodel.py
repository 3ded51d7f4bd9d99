"""`emovec compare-models A B --out DIR`: two models' emotion geometry, depth by depth.

    emovec compare-models runs/replicate/vectors runs/gemma/vectors --out runs/crossmodel

Writes `DIR/crossmodel.json` (every number), `DIR/crossmodel.md` (the table) and, with
matplotlib, `DIR/crossmodel.png`. Held-out identification is read from `heldout.json` beside
each bundle (what `emovec replicate` writes) when it is there.
"""

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "compare-models",
        help="compare two models' emotion geometry (RSA, Procrustes, valence, held-out)",
        description="Pair the two bundles' sites by relative depth and compare the emotion"
        " geometry: RSA of the cosine matrices, Procrustes error (emotions as points) against"
        " a shuffled-label null, PC1 vs valence/arousal, held-out identification.",
    )
    parser.add_argument("a", type=Path, help="first bundle (.safetensors or its folder)")
    parser.add_argument("b", type=Path, help="second bundle")
    parser.add_argument("--label-a", help="name of A in tables (default: its model id)")
    parser.add_argument("--label-b", help="name of B in tables (default: its model id)")
    parser.add_argument(
        "--permutations", type=int, default=100, help="label shuffles for the null (default 100)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/crossmodel"), help="output folder")
    parser.set_defaults(func=run)


def _heldout(bundle: Path) -> dict | None:
    path = bundle.parent / "heldout.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"Cannot read {path}: {err}") from None


def run(args: argparse.Namespace) -> int:
    from emovec.analysis import compare_models
    from emovec.cli._options import bundle_path
    from emovec.vectors import EmotionVectors, write_atomic

    if args.permutations < 1:
        raise ValueError(f"--permutations must be at least 1, got {args.permutations}.")
    path_a, path_b = bundle_path(args.a), bundle_path(args.b)
    a, b = EmotionVectors.load(path_a), EmotionVectors.load(path_b)
    result = compare_models(
        a,
        b,
        label_a=args.label_a or str(a.model_id or path_a.stem),
        label_b=args.label_b or str(b.model_id or path_b.stem),
        heldout_a=_heldout(path_a),
        heldout_b=_heldout(path_b),
        permutations=args.permutations,
    )
    out: Path = args.out
    write_atomic(out / "crossmodel.json", (json.dumps(result.as_dict(), indent=2) + "\n").encode())
    write_atomic(out / "crossmodel.md", (result.table() + "\n").encode())
    try:
        from emovec.analysis import plot_cross_model

        plot_cross_model(result).savefig(out / "crossmodel.png", dpi=120)
    except ImportError:
        pass
    best = result.best
    print(result.table())
    print(
        f"best RSA {best.rsa:.3f} at {best.site_a} / {best.site_b}; Procrustes error"
        f" {best.procrustes_error:.3f} (shuffled {best.null_error:.3f}); written to {out}"
    )
    return 0
