"""Corpus scoring throughput vs a plain forward pass over the same batches.

A synthetic JSONL corpus (sentences of varied length built from a fixed word list, seeded) is
scored end to end with `emovec.scoring.score_corpus` (reading, tokenising, length bucketing, the
forward with the probe reducer in the hook, profiles of 171 probes, JSON output, checkpoints);
the baseline is the plain Hugging Face model's forward (`model(input_ids, attention_mask)`, no
hooks) over exactly the batches the scorer formed, with tokenisation done beforehand and not
timed. Rounds are interleaved; the figure is median forward time over median scoring time
(= scoring tokens/s over forward tokens/s). Last line: `score_vs_forward_ratio: X` (floor:
X >= 0.9).

Vectors: `--vectors BUNDLE` if given, else 171 random unit vectors (say so in the output).
"""

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

import emovec
from emovec import TokenBatch
from emovec.extract import bucket
from emovec.scoring import score_corpus
from emovec.vectors import EmotionVectors

ROUNDS = 5
DOCS = 96
WORDS = (
    "the a report budget meeting she he walked door letter morning kitchen window slowly"
    " quickly said looked table street money phone friend office paper coffee road train"
    " evening rain light voice hand deadline server customer careful worried calm plan"
).split()


def vectors_for(backend, path: Path | None) -> tuple[EmotionVectors, str]:
    """The bundle at `path`, else 171 random unit vectors at the site nearest 2/3 depth."""
    if path is not None:
        return EmotionVectors.load(path), f"bundle {path}"
    g = torch.Generator().manual_seed(0)
    v = torch.randn(171, 1, backend.d_model, generator=g)
    meta = {"d_model": backend.d_model, "n_layers": backend.n_layers}
    site = emovec.Site(2 * backend.n_layers // 3)
    emotions = tuple(f"emotion{i}" for i in range(171))
    bundle = EmotionVectors(v / v.norm(dim=-1, keepdim=True), emotions, (site,), meta)
    return bundle, "171 random unit vectors (no real bundle yet)"


def make_corpus(path: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w") as handle:
        for i in range(DOCS):
            n = rng.randint(20, 220)
            text = " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."
            handle.write(json.dumps({"id": i, "text": text}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=Path)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--batch-tokens", type=int, default=2048)
    args = parser.parse_args()
    torch.manual_seed(0)
    # One intra-op thread by default (EMOVEC_BENCH_THREADS to change): on a shared,
    # oversubscribed machine waiting OpenMP threads make timings slower and far noisier.
    torch.set_num_threads(int(os.environ.get("EMOVEC_BENCH_THREADS", "1")))
    backend = emovec.load_backend(adapter="hf")
    model = backend.model
    vectors, source = vectors_for(backend, args.vectors)
    work = Path(tempfile.mkdtemp(prefix="emovec-score-bench-"))
    corpus = work / "corpus.jsonl"
    make_corpus(corpus)
    texts = [json.loads(line)["text"] for line in corpus.read_text().splitlines()]
    ids = [backend.encode(t) for t in texts]
    batches = [
        TokenBatch.from_ids([ids[i] for i in group], pad_id=backend.pad_token_id)
        for group in bucket([len(r) for r in ids], args.batch_tokens)
    ]
    tokens = sum(len(r) for r in ids)

    def forward() -> None:
        with torch.no_grad():
            for b in batches:
                model(input_ids=b.input_ids, attention_mask=b.attention_mask)

    def score() -> None:
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        score_corpus(
            backend,
            vectors,
            corpus,
            out,
            batch_tokens=args.batch_tokens,
            window=DOCS,  # one window: the scorer forms the same batches as `batches`
            max_tokens=None,
            progress=False,
        )

    runs = {"plain_forward": forward, "score_corpus": score}
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds):
        for name in runs if r % 2 == 0 else list(runs)[::-1]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["plain_forward"])
    scored = statistics.median(times["score_corpus"])
    print(
        f"{DOCS} documents, {tokens} tokens, {len(batches)} length-bucketed batches of <="
        f" {args.batch_tokens} padded tokens; {len(vectors.emotions)} probes at"
        f" {vectors.sites[0] if len(vectors.sites) == 1 else 'the default site'}; vectors:"
        f" {source}; median of {args.rounds} interleaved rounds; torch threads {torch.get_num_threads()}"
    )
    print(f"{'run':16s} {'seconds':>8s} {'tokens/s':>10s}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:16s} {med:8.3f} {tokens / med:10.0f}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"score_vs_forward_ratio: {base / scored:.3f}")


if __name__ == "__main__":
    main()
