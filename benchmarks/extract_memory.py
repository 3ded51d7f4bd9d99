"""Peak memory of extraction does not grow with the corpus.

Each run is a fresh subprocess on the embedded default model: load it, reset the peak-RSS
counter (Linux `clear_refs`; otherwise the peak includes loading, which only hides growth),
extract vectors at all 30 sites from a corpus (stories + neutral dialogues, dialogue-mode
neutral PCA; both streamed from iterators), and report the peak. The second run uses the same corpus repeated 4 times (new
ids). Last line: `memory_growth_mb: X`, the 4x run's peak minus the 1x run's (floor 100).

Most of the peak above "after model load" is the weights themselves: they are memory-mapped and
count towards RSS once the first forward touches them; it is the same for both runs.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

# Peak memory follows the batch (its activations and logits), which `batch_tokens` caps, so the
# 1x corpus already fills several batches: only growth with the corpus itself is left to see.
N_STORIES = 6
N_NEUTRAL = 3
BATCH_TOKENS = 128
WORDS = (
    "she opened the letter slowly and read it twice before setting it on the kitchen table"
    " outside the rain kept falling while her brother waited by the door with his coat on"
).split()


def corpus(repeat: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(0)
    emotions = ("afraid", "calm", "happy", "angry")
    stories = [
        {"emotion": emotions[i % 4], "text": " ".join(rng.choice(WORDS) for _ in range(30))}
        for i in range(N_STORIES)
    ]
    neutral = [
        {"text": "Human: " + " ".join(rng.choice(WORDS) for _ in range(30))}
        for _ in range(N_NEUTRAL)
    ]
    stories = [dict(s, id=f"s{i}-{r}") for r in range(repeat) for i, s in enumerate(stories)]
    neutral = [dict(n, id=f"n{i}-{r}") for r in range(repeat) for i, n in enumerate(neutral)]
    return stories, neutral


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(repeat: int) -> None:
    import gc

    import torch

    import emovec
    from emovec.extract import extract_vectors

    torch.set_num_threads(int(os.environ.get("EMOVEC_BENCH_THREADS", "1")))
    backend = emovec.load_backend()
    stories, neutral = corpus(repeat)
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
        reset = True
    except OSError:
        reset = False
    before = peak_kb()
    ev = extract_vectors(
        backend, iter(stories), iter(neutral), progress=False, batch_tokens=BATCH_TOKENS
    )
    print(json.dumps({"peak_kb": peak_kb(), "before_kb": before, "reset": reset, "n": len(ev)}))


def main() -> None:
    results = {}
    for repeat in (1, 4):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        results[repeat] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[repeat]
        print(
            f"corpus x{repeat}: {N_STORIES * repeat} stories + {N_NEUTRAL * repeat} neutral,"
            f" peak RSS {r['peak_kb'] / 1024:.0f} MB (after model load {r['before_kb'] / 1024:.0f}"
            f" MB; peak reset after load: {r['reset']})"
        )
    growth = (results[4]["peak_kb"] - results[1]["peak_kb"]) / 1024
    print(f"memory_growth_mb: {growth:.1f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
    else:
        main()
