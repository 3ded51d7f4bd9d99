"""Capture of every residual site through each adapter vs a plain HF forward with hidden states.

Interleaved rounds over the same batches on the embedded default model; the figure is the
median time of each adapter's capture divided by the median of plain HF's
`output_hidden_states=True` forward. Last line: `worst_adapter_overhead_ratio: X` (floor 1.10).
"""

import statistics
import time

import torch

import emovec
from emovec import Site

ROUNDS = 7
BATCHES = 3


def main() -> None:
    torch.manual_seed(0)
    backends = {
        name: emovec.load_backend(adapter=name) for name in ("hf", "transformer_lens", "nnsight")
    }
    plain, _ = emovec.load_model()
    n_layers = backends["hf"].n_layers
    sites = [Site(layer) for layer in range(n_layers)]
    gen = torch.Generator().manual_seed(0)
    batches = [
        emovec.TokenBatch(
            ids := torch.randint(100, 40000, (8, 64), generator=gen), torch.ones_like(ids)
        )
        for _ in range(BATCHES)
    ]

    def hf_plain() -> None:
        with torch.no_grad():
            for b in batches:
                plain(
                    input_ids=b.input_ids,
                    attention_mask=b.attention_mask,
                    output_hidden_states=True,
                )

    def via(backend) -> callable:
        return lambda: [backend.capture(b, sites) for b in batches]

    runs = {"plain_hf_hidden_states": hf_plain, **{k: via(v) for k, v in backends.items()}}
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(ROUNDS):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["plain_hf_hidden_states"])
    print(
        f"capture of {n_layers} resid_post sites, {BATCHES} batches of 8 x 64 tokens, median of {ROUNDS}"
    )
    worst = 0.0
    for name, values in times.items():
        ratio = statistics.median(values) / base
        if name != "plain_hf_hidden_states":
            worst = max(worst, ratio)
        print(f"{name:26s} {statistics.median(values):7.3f} s  ratio {ratio:5.3f}")
    print(f"worst_adapter_overhead_ratio: {worst:.3f}")


if __name__ == "__main__":
    main()
