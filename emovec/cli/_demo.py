"""`emovec demo`: load the default model through every adapter and print residual norms per layer.

A smoke test of the whole seam that a new user can read: the three columns must agree.
"""

import argparse
import time

from ._options import add_model_options


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="load a model through every adapter; print residual norms per layer"
    )
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    import emovec
    from emovec import parse_sites

    texts = [
        "The committee met on Tuesday to review the quarterly budget and the hiring plan.",
        "To install the package, create a virtual environment and run the install command.",
        "Water boils at a lower temperature at high altitude because the air pressure is lower.",
    ]
    norms: dict[str, dict] = {}
    for adapter in sorted(emovec.adapters(), key=lambda a: a != "hf"):
        start = time.perf_counter()
        backend = emovec.load_backend(args.model, adapter=adapter, dtype=args.dtype)
        sites = parse_sites(args.sites, backend.n_layers)
        batch = backend.tokenize(texts)

        def norm_mean(acts, mask):
            # mean L2 norm over real tokens from position 1 on (position 0 is an attention sink)
            use = mask.clone()
            use[:, 0] = False
            return acts.norm(dim=-1)[use].mean()

        captured = backend.capture(batch, sites, norm_mean)
        norms[adapter] = {s: float(v) for s, v in captured.items()}
        print(
            f"{adapter}: {backend.model_id}, {backend.n_layers} layers, d_model {backend.d_model}"
            f" ({time.perf_counter() - start:.1f} s)"
        )
    names = list(norms)
    print("\nmean residual-stream norm per site (tokens 1..n of 3 neutral sentences)")
    print(f"{'site':16s}" + "".join(f"{n:>18s}" for n in names))
    first = norms[names[0]]
    for site in first:
        print(f"{str(site):16s}" + "".join(f"{norms[n][site]:18.3f}" for n in names))
    worst = max(abs(norms[n][s] - first[s]) for n in names for s in first)
    print(f"\nlargest difference between adapters: {worst:.2e}")
    return 0
