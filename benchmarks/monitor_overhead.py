"""Monitored generation (all 171 probes at one site) vs plain generation, through each adapter.

Greedy generation of 64 new tokens from the same prompt on the embedded default model, plain and
with a `Monitor` reading 171 emotion probes at one site on every token (no listeners: the cost
measured is the readout itself, one matmul per step, plus the per-step bookkeeping). Rounds are
interleaved (plain and monitored alternate, the order flipping each round) and the figure is the
fastest monitored time over the fastest plain time, per adapter, as in `steer_overhead.py`: on a
shared machine others only ever slow a run down, and medians of 7 rounds moved by +-5% between
runs here (the worst adapter changed from run to run). The ratio of medians is printed too, for
information. A second monitored variant that
also builds every token's event (as `--stream` or an `EventWriter` would) is shown for
information. Last line: `worst_monitor_overhead_ratio: X` (floor: X <= 1.05).

Vectors: `--vectors BUNDLE` if given (or runs/vectors/emotion_vectors.safetensors if present),
else 171 random unit vectors with the default model's shape (the cost does not depend on the
values); the output says which.
"""

import argparse
import os
import statistics
import sys
import time
from importlib import resources
from pathlib import Path

import torch

import emovec
from emovec import Site
from emovec.monitor import Monitor
from emovec.vectors import EmotionVectors

ROUNDS = 7
NEW_TOKENS = 64
PROMPT = "Explain, step by step, how a refrigerator keeps food cold."
DEFAULT_BUNDLE = Path("runs/vectors/emotion_vectors.safetensors")


def shipped_emotions() -> list[str]:
    """The 171 emotion words shipped with emovec (placeholders if this install lacks them)."""
    path = resources.files("emovec") / "data" / "emotions171.txt"
    if not path.is_file():
        return [f"emotion{i}" for i in range(171)]
    return [e for e in path.read_text().splitlines() if e.strip()][:171]


def vectors_for(backend, path: Path | None) -> tuple[EmotionVectors, str]:
    if path is not None or DEFAULT_BUNDLE.exists():
        bundle = EmotionVectors.load(path or DEFAULT_BUNDLE)
        return bundle, f"bundle {path or DEFAULT_BUNDLE}"
    emotions = shipped_emotions()
    g = torch.Generator().manual_seed(0)
    site = Site(2 * backend.n_layers // 3)
    v = torch.randn(len(emotions), 1, backend.d_model, generator=g)
    meta = {
        "d_model": backend.d_model,
        "n_layers": backend.n_layers,
        "model": {"model_id": backend.model_id},
    }
    bundle = EmotionVectors(v / v.norm(dim=-1, keepdim=True), tuple(emotions), (site,), meta)
    return bundle, "171 random unit vectors (no real bundle yet)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=Path)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    torch.manual_seed(0)
    # One intra-op thread by default (EMOVEC_BENCH_THREADS to change): on a shared,
    # oversubscribed machine waiting OpenMP threads make timings slower and far noisier.
    torch.set_num_threads(int(os.environ.get("EMOVEC_BENCH_THREADS", "1")))
    backends = {
        name: emovec.load_backend(adapter=name) for name in ("hf", "transformer_lens", "nnsight")
    }
    vectors, source = vectors_for(backends["hf"], args.vectors)
    site = vectors.sites[0] if len(vectors.sites) == 1 else None
    batch = backends["hf"].tokenize([PROMPT], side="left", chat=True)

    def plain(backend):
        return lambda: backend.generate(batch, max_new_tokens=NEW_TOKENS, stop_at_eos=False)

    def monitored(backend, events: bool):
        monitor = Monitor(
            vectors,
            sites=None if site is None else [site],
            on_event=(lambda e: None) if events else None,
        )

        def run():
            return backend.generate(
                batch, max_new_tokens=NEW_TOKENS, observers=[monitor], stop_at_eos=False
            )

        return run, monitor

    runs = {}
    for name, backend in backends.items():
        runs[(name, "plain")] = plain(backend)
        runs[(name, "monitored")], monitor = monitored(backend, False)
        runs[(name, "monitored+events")], _ = monitored(backend, True)
    for fn in runs.values():  # warm-up (also checks that every run generates 64 tokens)
        gen = fn()
        assert len(gen.token_ids[0]) == NEW_TOKENS
    times: dict[tuple[str, str], list[float]] = {k: [] for k in runs}
    keys = list(runs)
    for r in range(args.rounds):
        for key in keys if r % 2 == 0 else keys[::-1]:
            start = time.perf_counter()
            runs[key]()
            times[key].append(time.perf_counter() - start)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(
        f"greedy generation of {NEW_TOKENS} tokens, {len(vectors.emotions)} probes at"
        f" {monitor.sites[0]}; vectors: {source}; fastest of {args.rounds} interleaved rounds;"
        f" torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'adapter':18s} {'plain s':>8s} {'monitored s':>12s} {'ratio':>6s} {'+events ratio':>14s}"
        f" {'median ratio':>13s}"
    )
    worst = 0.0
    for name in backends:
        base = min(times[(name, "plain")])
        mon = min(times[(name, "monitored")])
        ev = min(times[(name, "monitored+events")])
        medians = statistics.median(times[(name, "monitored")]) / statistics.median(
            times[(name, "plain")]
        )
        worst = max(worst, mon / base)
        print(
            f"{name:18s} {base:8.3f} {mon:12.3f} {mon / base:6.3f} {ev / base:14.3f}"
            f" {medians:13.3f}"
        )
    print(f"worst_monitor_overhead_ratio: {worst:.3f}")


if __name__ == "__main__":
    main()
