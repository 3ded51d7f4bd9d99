"""What serving adds to monitored generation: the page's stream vs the same monitored `generate`.

Three ways to produce the same greedy reply (same prompt, same `max_new_tokens`, chat template)
on the embedded default model, timed side by side in interleaved rounds (the order flipping each
round), fastest of `--rounds` each, as in `monitor_overhead.py`:

* plain: `backend.generate` with no observer;
* monitored: the same call with the very `Monitor` the server builds for the request (the
  watched emotions and calm at the default site, the default alert rule), its events turned into
  JSON as the server does (what `monitor_overhead.py` calls monitored+events);
* served: POST /api/chat to the real app under uvicorn on 127.0.0.1, timed by the client from
  the request to the `done` event (HTTP, the queue hand-off, the worker thread, SSE framing).

It also counts the model's forward passes per reply for each way (the served stream must not
add any). Last line: `served_vs_monitored_ratio: X` (fastest served / fastest monitored).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx
import torch

import emovec
from emovec.serve import Engine, Limits, create_app, parse_chat, running

sys.path.insert(0, str(Path(__file__).parent))
from monitor_overhead import vectors_for  # noqa: E402

PROMPT = "Explain, step by step, how a refrigerator keeps food cold."
NEW_TOKENS = 64


class ForwardCounter:
    """Counts a backend's forward passes (wraps its `_forward` on the instance)."""

    def __init__(self, backend):
        self.count = 0
        inner = backend._forward

        def counted(*args, **kwargs):
            self.count += 1
            return inner(*args, **kwargs)

        backend._forward = counted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=NEW_TOKENS)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("EMOVEC_BENCH_THREADS", "1")))
    backend = emovec.load_backend()
    vectors, source = vectors_for(backend, args.vectors)
    counter = ForwardCounter(backend)
    engine = Engine(backend, vectors, queue_size=2)
    body = json.dumps({"message": PROMPT, "max_new_tokens": args.tokens}).encode()
    limits = Limits(max_new_tokens=max(args.tokens, 256))
    request = parse_chat(body, engine.vectors, engine.defaults, limits)

    def plain():
        gen = backend.generate([PROMPT], max_new_tokens=args.tokens, chat=True)
        return len(gen.token_ids[0])

    def monitored():
        monitor = engine.prepare(request, lambda event: json.dumps(event)).monitor
        gen = backend.generate([PROMPT], max_new_tokens=args.tokens, observers=[monitor], chat=True)
        monitor.finish(gen)
        return len(gen.token_ids[0])

    with running(create_app(engine, limits)) as url, httpx.Client(timeout=300) as client:

        def served():
            with client.stream("POST", f"{url}/api/chat", content=body) as response:
                events = [json.loads(x[6:]) for x in response.iter_lines() if x[:6] == "data: "]
            assert events[-1]["type"] == "done", events[-1]
            return next(e for e in events if e["type"] == "end")["rows"][0]["n_generated"]

        runs = {"plain": plain, "monitored": monitored, "served": served}
        tokens, forwards = {}, {}
        for name, fn in runs.items():  # warm-up; also counts tokens and forward passes
            before = counter.count
            tokens[name] = fn()
            forwards[name] = counter.count - before
        times: dict[str, list[float]] = {k: [] for k in runs}
        keys = list(runs)
        for r in range(args.rounds):
            for key in keys if r % 2 == 0 else keys[::-1]:
                start = time.perf_counter()
                runs[key]()
                times[key].append(time.perf_counter() - start)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    engine.close()
    emotions = ", ".join(engine.defaults["watch"] + [engine.defaults["toward"]])
    print(
        f"greedy reply of up to {args.tokens} tokens; monitor reads {emotions} at {engine.site};"
        f" vectors: {source}; fastest of {args.rounds} interleaved rounds;"
        f" torch threads {torch.get_num_threads()}"
    )
    print(f"{'way':10s} {'tokens':>6s} {'forwards':>8s} {'fastest s':>9s} {'tokens/s':>8s}")
    for name in runs:
        best = min(times[name])
        print(
            f"{name:10s} {tokens[name]:6d} {forwards[name]:8d} {best:9.3f}"
            f" {tokens[name] / best:8.1f}"
        )
    assert len(set(tokens.values())) == 1, f"the three ways generated different lengths: {tokens}"
    assert len(set(forwards.values())) == 1, f"forward passes differ: {forwards}"
    print(f"monitored_vs_plain_ratio: {min(times['monitored']) / min(times['plain']):.3f}")
    print(f"served_vs_monitored_ratio: {min(times['served']) / min(times['monitored']):.3f}")


if __name__ == "__main__":
    main()
