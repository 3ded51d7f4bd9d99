"""A bounded local load test of `emovec monitor serve`: many short chats at once on 127.0.0.1.

`--concurrency` client threads share `--requests` requests. Every fifth is bad on purpose (an
oversized message, malformed JSON, an unknown emotion) and must get its 413/400; the others are
short chats (`--tokens` new tokens) that stream until `done`, retrying after a 503 (queue full),
and whose stored transcript is then fetched and compared with what was streamed. The run stops
by itself: after the requests, or at `--deadline` seconds. The server is the real app under
uvicorn with a small queue (`--queue`), the embedded default model, and the main job's bundle if
present (else 171 random unit vectors with the model's shape). Last line:
`serve_load: ... lost=N unexpected=M` (what must hold: both 0, and the server still answers).
"""

import argparse
import itertools
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

BAD_KINDS = ("oversized", "malformed", "unknown-emotion")
EXPECTED = {"oversized": 413, "malformed": 400, "unknown-emotion": 400}


def _bad(client: httpx.Client, url: str, kind: str, max_chars: int) -> int:
    if kind == "oversized":
        body = json.dumps({"message": "x" * (max_chars + 1)})
    elif kind == "malformed":
        body = '{"message": "hi", '
    else:
        body = json.dumps({"message": "hi", "watch": ["not-an-emotion"]})
    headers = {"Content-Type": "application/json"}
    return client.post(f"{url}/api/chat", content=body, headers=headers).status_code


def _chat(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[int, list[dict]]:
    """POST one chat; return the status and, for a 200, every streamed event."""
    events: list[dict[str, Any]] = []
    with client.stream("POST", f"{url}/api/chat", json=body) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, events
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return 200, events


def load_test(
    url: str,
    *,
    requests: int = 40,
    concurrency: int = 8,
    tokens: int = 3,
    deadline_s: float = 300.0,
    retry_cap_s: float = 0.2,
    max_chars: int = 2000,
) -> dict[str, Any]:
    """Run the load; return counts (see the module docstring) and the wall time."""
    counter = itertools.count()
    lock = threading.Lock()
    stats = {k: 0 for k in ("completed", "bad_answered", "rejected_503", "lost", "unexpected")}
    problems: list[str] = []
    stop_at = time.monotonic() + deadline_s

    def note(key: str, problem: str | None = None) -> None:
        with lock:
            stats[key] += 1
            if problem:
                problems.append(problem)

    def one(i: int, client: httpx.Client) -> None:
        if i % 5 == 4:
            kind = BAD_KINDS[(i // 5) % len(BAD_KINDS)]
            code = _bad(client, url, kind, max_chars)
            ok = code == EXPECTED[kind]
            note("bad_answered" if ok else "unexpected", None if ok else f"{kind}: {code}")
            return
        body = {"message": f"Say hello number {i}.", "max_new_tokens": tokens}
        while time.monotonic() < stop_at:
            code, events = _chat(client, url, body)
            if code == 503:
                note("rejected_503")
                time.sleep(retry_cap_s)
                continue
            if code != 200:
                note("unexpected", f"chat {i}: status {code}")
                return
            done = [e for e in events if e["type"] == "done"]
            monitor = [e for e in events if e["type"] in ("header", "token", "end")]
            if not done:
                note("lost", f"chat {i}: stream ended without done ({events[-1:]})")
                return
            stored = client.get(f"{url}/api/transcripts/{done[0]['id']}")
            if stored.status_code != 200 or stored.json()["events"] != monitor:
                note("lost", f"chat {i}: stored transcript differs ({stored.status_code})")
                return
            note("completed")
            return
        note("lost", f"chat {i}: deadline passed while retrying")

    def worker() -> None:
        with httpx.Client(timeout=120) as client:
            while time.monotonic() < stop_at:
                i = next(counter)
                if i >= requests:
                    return
                try:
                    one(i, client)
                except httpx.HTTPError as err:
                    note("unexpected", f"request {i}: {type(err).__name__} {err}")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alive = httpx.get(f"{url}/api/info", timeout=30).status_code == 200
    return {**stats, "alive": alive, "seconds": time.perf_counter() - started, "problems": problems}


def main() -> None:
    import emovec
    from emovec.serve import Engine, Limits, create_app, running

    sys.path.insert(0, str(Path(__file__).parent))
    from monitor_overhead import vectors_for

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--queue", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=3)
    parser.add_argument("--deadline", type=float, default=600)
    parser.add_argument("--vectors", type=Path)
    args = parser.parse_args()
    backend = emovec.load_backend()
    vectors, source = vectors_for(backend, args.vectors)
    engine = Engine(
        backend, vectors, queue_size=args.queue, defaults={"watch": [vectors.emotions[0]]}
    )
    with running(create_app(engine, Limits())) as url:
        result = load_test(
            url,
            requests=args.requests,
            concurrency=args.concurrency,
            tokens=args.tokens,
            deadline_s=args.deadline,
        )
    engine.close()
    for problem in result.pop("problems"):
        print("problem:", problem)
    print(
        f"vectors: {source}; queue {args.queue}; {args.concurrency} clients; {args.tokens} tokens"
    )
    print(
        "serve_load: "
        + " ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
        )
    )


if __name__ == "__main__":
    main()
