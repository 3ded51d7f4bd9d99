"""Tests of emovec.monitor. Helpers shared by its test modules live here."""

import torch

from emovec import Site
from emovec.vectors import EmotionVectors

EMOTIONS = ("calm", "afraid", "desperate", "happy", "angry", "panicked")


def random_bundle(
    emotions=EMOTIONS, *, d_model=64, n_layers=3, seed=0, model_id="tiny-random-llama"
) -> EmotionVectors:
    """Random unit vectors at every resid_post site, with realistic metadata."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(len(emotions), n_layers, d_model, generator=g)
    return EmotionVectors(
        v / v.norm(dim=-1, keepdim=True),
        tuple(emotions),
        tuple(Site(layer) for layer in range(n_layers)),
        {
            "model": {"model_id": model_id, "weights_sha256": None},
            "d_model": d_model,
            "n_layers": n_layers,
            "residual_norms": {f"resid_post.{layer}": 4.0 + layer for layer in range(n_layers)},
        },
    )


def single_thread():
    """Generator body for a module fixture: tiny matmuls run faster on one thread when the
    machine is shared (OpenMP barriers stall on a loaded 2-core box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
