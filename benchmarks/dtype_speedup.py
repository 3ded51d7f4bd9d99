"""Extraction throughput in bfloat16 vs float32 on the same batches, and how much the vectors move.

On the embedded default model, the same stories (the first 2 of each of 48 emotions of the
shipped corpus, about 13k tokens) and neutral dialogues go through `collect_statistics` (the
whole streaming pipeline: tokenising, bucketing, capture of every `resid_post` site with the
per-story mean reducer) on two HF backends, one loaded in float32 and one in bfloat16. Rounds
interleave the two (ABBA). The figure is the median over rounds of each round's paired ratio
(float32 seconds / bfloat16 seconds). Both runs' statistics are finished into vectors by the
same recipe, and the mean cosine between matching vectors over every emotion and site is
printed. Last line `bf16_extract_speedup: X` (floor 1.6 on a CPU with native bfloat16; the
vectors' mean cosine must reach 0.99). On a CPU without native bfloat16 the script says so and
prints a speed-up of 1.0 (bfloat16 would be emulated there, and `--dtype auto` keeps float32).

Torch runs on one thread unless EMOVEC_BENCH_THREADS says otherwise (see extract_throughput).
"""

import os
import statistics
import sys
import time

import torch

import emovec
from emovec.corpus import load_corpus
from emovec.extract import Recipe, build_vectors, collect_statistics

ROUNDS = 4
EMOTIONS = 48
PER_EMOTION = 2
NEUTRAL = 24


def main() -> None:
    torch.set_num_threads(int(os.environ.get("EMOVEC_BENCH_THREADS", "1")))
    if not emovec.cpu_has_native_bf16():
        print("this CPU has no native bfloat16 matrix instructions (avx512_bf16 / amx_bf16):")
        print("bfloat16 would be emulated, and --dtype auto keeps float32 here; nothing to measure")
        print("bf16_extract_speedup: 1.0")
        sys.exit(0)
    corpus = load_corpus()
    grouped = corpus.by_emotion()
    stories = [r for e in list(grouped)[:EMOTIONS] for r in grouped[e][:PER_EMOTION]]
    neutral = list(corpus.neutral[:NEUTRAL])
    recipe = Recipe(max_tokens=160)
    backends = {name: emovec.load_backend(dtype=name) for name in ("float32", "bfloat16")}
    sites = emovec.parse_sites("all", backends["float32"].n_layers)

    def extract(name: str):
        return collect_statistics(backends[name], stories, neutral, sites, recipe, progress=False)

    extract("bfloat16")  # warm-up: first-call kernel selection
    times: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    stats = {}
    for r in range(ROUNDS):
        order = ("float32", "bfloat16") if r % 2 == 0 else ("bfloat16", "float32")
        for name in order:
            start = time.perf_counter()
            stats[name] = extract(name)
            times[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times["float32"], times["bfloat16"], strict=True)]
    vectors = {
        name: build_vectors(backends[name], s[0], s[1], recipe, s[2]) for name, s in stats.items()
    }
    cos = (vectors["float32"].vectors * vectors["bfloat16"].vectors).sum(-1)
    tokens = stats["float32"][2]
    n_tokens = sum(
        len(backends["float32"].tokenizer(r.text)["input_ids"][: recipe.max_tokens])
        for r in [*stories, *neutral]
    )
    print(
        f"{len(stories)} stories + {len(neutral)} dialogues ({n_tokens} tokens), {len(sites)} sites,"
        f" {ROUNDS} interleaved rounds, {torch.get_num_threads()} torch thread(s); corpus"
        f" {tokens['n_stories']} stories"
    )
    for name in ("float32", "bfloat16"):
        med = statistics.median(times[name])
        print(f"{name:9s} {med:7.2f} s (median), {n_tokens / med:7.0f} tokens/s")
    print(
        f"vectors: mean cosine float32 vs bfloat16 {float(cos.mean()):.4f}"
        f" (min {float(cos.min()):.4f}) over {cos.numel()} emotion-site pairs"
    )
    if float(cos.mean()) < 0.99:
        print("FAIL: the bfloat16 vectors moved too far (mean cosine < 0.99)")
        sys.exit(1)
    print(f"bf16_extract_speedup: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
