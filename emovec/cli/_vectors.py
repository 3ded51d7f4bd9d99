"""`emovec vectors export-gguf | import-gguf`: llama.cpp control vectors in and out of bundles.

    emovec vectors export-gguf runs/replicate/vectors --mix "calm - desperate" --strength 0.1 \\
        --sites 18 --out calm.gguf
    llama-cli -m SmolLM2-135M-Instruct.Q4_1.gguf --control-vector calm.gguf -p "..."
    emovec vectors import-gguf repeng_vector.gguf --like runs/replicate/vectors --out cv.safetensors

`direction.N` in the file is added by llama.cpp to the output of block N (emovec's
`resid_post.N`); its values are strength x the site's mean residual norm x the unit mix, so
llama.cpp at scale 1 steers as `emovec steer` does at that strength.
"""

import argparse
from pathlib import Path


def register(actions: argparse._SubParsersAction) -> None:
    """Add the two actions to `emovec vectors` (whose parser lives in `_extract`)."""
    export = actions.add_parser(
        "export-gguf",
        help="write a llama.cpp control vector for one emotion or a weighted mix",
        description="Write a llama.cpp control-vector GGUF (direction.N = resid_post.N; values"
        " = strength x residual norm x unit mix, so llama.cpp scale 1 = emovec's steering).",
    )
    export.add_argument("bundle", type=Path, help="EmotionVectors bundle (.safetensors or folder)")
    export.add_argument(
        "--mix",
        required=True,
        help="an emotion or a mix: 'calm', 'calm - desperate', '0.5*calm+joyful'",
    )
    export.add_argument(
        "--strength",
        type=float,
        default=0.1,
        help="fraction of each site's mean residual norm (default 0.1; negative steers away)",
    )
    export.add_argument(
        "--sites", help="sites to steer, e.g. '18' or '12,18' (default: the site nearest 2/3 depth)"
    )
    export.add_argument("--model-hint", help="llama.cpp architecture (default: from the bundle)")
    export.add_argument("--out", type=Path, required=True, help="the .gguf file to write")
    export.set_defaults(func=run_export)
    imp = actions.add_parser(
        "import-gguf",
        help="read a llama.cpp/repeng control vector as a one-row bundle",
        description="Read a control-vector GGUF as an EmotionVectors bundle: unit direction.N at"
        " resid_post.N, the lengths kept in metadata.",
    )
    imp.add_argument("gguf", type=Path, help="control-vector .gguf file")
    imp.add_argument("--name", help="row name (default: the exported mix, else the file name)")
    imp.add_argument(
        "--like",
        type=Path,
        help="a bundle of the target model: checks the width, adopts its model and residual norms",
    )
    imp.add_argument("--out", type=Path, required=True, help="the .safetensors bundle to write")
    imp.set_defaults(func=run_import)


def _bundle(path: Path):
    from emovec.cli._options import bundle_path
    from emovec.vectors import EmotionVectors

    return EmotionVectors.load(bundle_path(path))


def run_export(args: argparse.Namespace) -> int:
    from emovec._site import parse_sites
    from emovec.interop import export_gguf, read_gguf

    vectors = _bundle(args.bundle)
    sites = None
    if args.sites:
        sites = parse_sites(args.sites, vectors.n_layers or max(s.layer for s in vectors.sites) + 1)
    out = export_gguf(vectors, args.out, args.mix, args.strength, sites, model_hint=args.model_hint)
    cv = read_gguf(out)
    layers = ", ".join(
        f"direction.{n} (|v|={float(v.norm()):.2f})" for n, v in cv.directions.items()
    )
    print(f"{out}: {cv.model_hint} control vector, {layers}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from emovec.interop import import_gguf

    like = _bundle(args.like) if args.like else None
    bundle = import_gguf(args.gguf, args.name, like=like)
    if args.out.suffix != ".safetensors":
        raise ValueError(f"--out must be a .safetensors file, got {args.out}.")
    bundle.save(args.out)
    norms = bundle.metadata["control_vector"]["norms"]
    print(
        f"{args.out}: {bundle.emotions[0]!r} at {len(bundle.sites)} sites"
        f" ({', '.join(f'{s} |v|={n:.2f}' for s, n in norms.items())})"
    )
    return 0
