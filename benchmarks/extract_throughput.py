"""Extraction throughput at every residual site vs a plain Hugging Face forward.

On the embedded default model, the same story texts go through (a) `collect_statistics`: the
whole streaming pipeline (tokenising, length bucketing, capture of all 30 `resid_post` sites
with the per-story mean reducer, running per-emotion means) and (b) a plain `model(...)`
forward over the very same padded batches. Rounds interleave the two (ABBA order, so drift on
a shared machine hits both). Last line: `extract_vs_forward_ratio: X`, extraction tokens/s
over plain-forward tokens/s, the median over rounds of each round's paired ratio (floor 0.9).

Torch runs on one thread unless EMOVEC_BENCH_THREADS says otherwise: on a shared two-core
machine a second OpenMP thread waits at a barrier whenever its core is taken, which slows every
op several-fold at random and measures the scheduler rather than the code.
"""

import os
import random
import statistics
import time

import torch

import emovec
from emovec.extract import Item, Recipe, collect_statistics
from emovec.extract._capture import token_batches

ROUNDS = 9
N_TEXTS = 2
WORDS = (
    "she opened the letter slowly and read it twice before setting it on the kitchen table"
    " outside the rain kept falling while her brother waited by the door with his coat on"
    " nobody said anything for a long time and the clock on the wall ticked through the silence"
).split()


def stories() -> list[dict]:
    rng = random.Random(0)
    emotions = ("afraid", "calm", "happy", "angry")
    return [
        {
            "id": f"s{i}",
            "emotion": emotions[i % len(emotions)],
            "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(70, 90))),
        }
        for i in range(N_TEXTS)
    ]


def main() -> None:
    torch.set_num_threads(int(os.environ.get("EMOVEC_BENCH_THREADS", "1")))
    torch.manual_seed(0)
    backend = emovec.load_backend()
    sites = emovec.parse_sites("all", backend.n_layers)
    records = stories()
    recipe = Recipe()
    items = [Item(r["id"], r["text"], r["emotion"]) for r in records]
    batches = [
        emovec.TokenBatch.from_ids(ids, pad_id=backend.pad_token_id)
        for _, ids in token_batches(
            backend, items, batch_tokens=recipe.batch_tokens, window=recipe.window
        )
    ]
    n_tokens = sum(int(b.attention_mask.sum()) for b in batches)

    def extract() -> None:
        collect_statistics(backend, records, None, sites, recipe, progress=False)

    @torch.no_grad()
    def forward() -> None:
        for b in batches:
            backend.model(input_ids=b.input_ids, attention_mask=b.attention_mask, use_cache=False)

    extract(), forward()  # warm-up
    times: dict[str, list[float]] = {"extract": [], "forward": []}
    for r in range(ROUNDS):
        order = (("extract", extract), ("forward", forward))
        for name, fn in order if r % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    ext, fwd = statistics.median(times["extract"]), statistics.median(times["forward"])
    paired = statistics.median(
        f / e for f, e in zip(times["forward"], times["extract"], strict=True)
    )
    print(
        f"{backend.model_id}: {len(sites)} sites, {N_TEXTS} texts, {n_tokens} tokens in"
        f" {len(batches)} batch(es), {ROUNDS} interleaved rounds, {torch.get_num_threads()} thread(s)"
    )
    print(f"extract (all sites)  {n_tokens / ext:8.1f} tokens/s  (median {ext:.2f} s)")
    print(f"plain HF forward     {n_tokens / fwd:8.1f} tokens/s  (median {fwd:.2f} s)")
    print(f"extract_vs_forward_ratio: {paired:.3f}")


if __name__ == "__main__":
    main()
