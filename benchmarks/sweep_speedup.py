"""A steering sweep that shares the blocks before its site vs one that reruns them per condition.

The pressure suite's shape on the embedded default model: situations in both letter orders
(chat template), the unsteered baseline, two emotions' directions with both signs and random
directions, all at the default steering site (two thirds of the depth, resid_post.20), read
as P(A | A or B) from the next-token logits. `emovec.interventions._runs.sweep` runs it twice on
the HF adapter: with `reuse_prefix=False` (every row and condition a full forward) and with the
default (the residual at the site computed once per batch of rows, each condition run from
there with `capture_from`). Rounds are interleaved; the figure is median(full) / median(shared),
and the two results must agree (max difference printed). Last line:
`sweep_speedup_vs_full_forwards: X` (floor X >= 2: only the last third of the blocks runs per
condition). `python benchmarks/sweep_speedup.py transformer_lens` measures that adapter instead.
"""

import os
import statistics
import sys
import time

import torch

import emovec
from emovec import Site
from emovec.interventions import random_directions
from emovec.interventions._runs import sweep
from emovec.interventions._suites import (
    PRESSURE_TEMPLATE,
    ab_choice,
    letters,
    load_situations,
    render,
)

ROUNDS = 3
SITUATIONS = 4
RANDOM = 6
THREADS = int(os.environ.get("EMOVEC_BENCH_THREADS", "1"))


def main() -> None:
    torch.set_num_threads(THREADS)
    adapter = sys.argv[1] if len(sys.argv) > 1 else "hf"
    backend = emovec.load_backend(adapter=adapter)
    rows = []
    for item in load_situations(None)[:SITUATIONS]:
        for a, b in ((item.shortcut, item.honest), (item.honest, item.shortcut)):
            text = render(
                backend, PRESSURE_TEMPLATE.format(situation=item.situation, a=a, b=b), chat=True
            )
            rows.append(backend.tokenizer(text, add_special_tokens=False)["input_ids"])
    site = Site(2 * backend.n_layers // 3)
    norm = 40.0  # about the default model's mean residual norm there; the size does not matter
    directions = random_directions(backend.d_model, 2 + RANDOM, seed=0)
    conditions = [()]
    for k in range(2):
        conditions += [((site, directions[k], s * 0.05 * norm),) for s in (1.0, -1.0)]
    conditions += [((site, directions[2 + k], 0.05 * norm),) for k in range(RANDOM)]
    metric = ab_choice(*letters(backend, chat=True))
    reference = torch.zeros(len(rows), 1)
    assert backend.resumable

    def run(shared: bool) -> torch.Tensor:
        return sweep(backend, rows, conditions, metric, reference, reuse_prefix=shared)

    times: dict[bool, list[float]] = {True: [], False: []}
    results: dict[bool, torch.Tensor] = {}
    for r in range(ROUNDS):
        for shared in (False, True) if r % 2 == 0 else (True, False):
            start = time.perf_counter()
            results[shared] = run(shared)
            times[shared].append(time.perf_counter() - start)
    tokens = sum(len(r) for r in rows) * len(conditions)
    full, fast = statistics.median(times[False]), statistics.median(times[True])
    diff = float((results[True] - results[False]).abs().max())
    print(
        f"{len(rows)} prompts x {len(conditions)} conditions at {site} ({tokens} prompt tokens),"
        f" {ROUNDS} interleaved rounds, {THREADS} torch thread(s), {adapter} adapter"
    )
    print(f"full forwards per condition: {full:7.2f} s (median)")
    print(f"shared prefix:               {fast:7.2f} s (median)")
    print(f"largest difference in P(A | A or B) or letter mass: {diff:.2e}")
    assert diff < 1e-4, "the two sweeps disagree"
    print(f"sweep_speedup_vs_full_forwards: {full / fast:.2f}")


if __name__ == "__main__":
    main()
