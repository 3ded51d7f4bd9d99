"""Steered vs unsteered greedy generation (64 tokens) on every adapter, embedded default model.

One `Steer` at one middle site (positions "all": the prompt forward and every decode step),
compiled once per adapter; interleaved rounds (for each round, each adapter runs unsteered then
steered, in alternating order). The figure per adapter is min(steered) / min(unsteered): on a
shared machine a run is only ever slowed down by others, so the fastest of several rounds is the
least disturbed estimate of each (as `timeit` reports); medians are printed alongside. Last line: `worst_steer_overhead_ratio: X` (floor 1.05).
"""

import os
import statistics
import sys
import time

import torch

import emovec
from emovec.interventions import Steer

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
# One intra-op thread by default: on a shared, oversubscribed machine OpenMP threads that wait
# for each other make single-sequence decoding several times slower and far noisier.
THREADS = int(os.environ.get("EMOVEC_BENCH_THREADS", "1"))
TOKENS = 64
PROMPT = ["Write a short paragraph about a lighthouse keeper."]


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)
    backends = {
        name: emovec.load_backend(adapter=name) for name in ("hf", "transformer_lens", "nnsight")
    }
    ref = backends["hf"]
    direction = torch.randn(ref.d_model, generator=torch.Generator().manual_seed(0))
    spec = Steer(direction, 4.0, ref.n_layers // 2, relative=False)
    edits = {name: spec.edits(None, b) for name, b in backends.items()}

    def job(name: str, steered: bool):
        backend = backends[name]
        kwargs = dict(max_new_tokens=TOKENS, chat=True, stop_at_eos=False)
        return lambda: backend.generate(PROMPT, edits=edits[name] if steered else (), **kwargs)

    jobs = {(name, s): job(name, s) for name in backends for s in (False, True)}
    for fn in jobs.values():  # warm-up
        fn()
    times: dict[tuple[str, bool], list[float]] = {k: [] for k in jobs}
    for r in range(ROUNDS):
        for name in backends:
            order = (False, True) if r % 2 == 0 else (True, False)
            for steered in order:
                start = time.perf_counter()
                out = jobs[(name, steered)]()
                times[(name, steered)].append(time.perf_counter() - start)
                assert len(out.token_ids[0]) == TOKENS
    print(
        f"greedy generation of {TOKENS} tokens, one steered site (layer {spec.sites}),"
        f" fastest of {ROUNDS} interleaved rounds, {THREADS} torch thread(s)"
    )
    print(f"{'adapter':18s}{'unsteered':>12s}{'steered':>12s}{'ratio':>8s}{'(medians)':>12s}")
    worst = 0.0
    for name in backends:
        plain, steered = min(times[(name, False)]), min(times[(name, True)])
        medians = statistics.median(times[(name, True)]) / statistics.median(times[(name, False)])
        worst = max(worst, steered / plain)
        print(f"{name:18s}{plain:>11.3f}s{steered:>11.3f}s{steered / plain:>8.3f}{medians:>12.3f}")
    print(f"worst_steer_overhead_ratio: {worst:.3f}")


if __name__ == "__main__":
    main()
