"""Fixtures for the intervention tests: a small bundle for the tiny random Llama."""

import pytest
import torch

from emovec import Site
from emovec.vectors import EmotionVectors

EMOTIONS = ("calm", "desperate", "blissful", "hostile", "happy", "afraid")
NEUTRAL = [
    "The meeting is on Tuesday at ten in the second-floor room.",
    "Hold the button on the back of the router for ten seconds.",
]


def residual_norms(backend, sites) -> dict[str, float]:
    """Mean residual norm per site over neutral tokens from position 1 on (as extraction does)."""
    batch = backend.tokenize(NEUTRAL)
    acts = backend.capture(batch, sites)
    use = batch.mask.clone()
    use[:, 0] = False
    return {str(s): float(acts[s].norm(dim=-1)[use].mean()) for s in sites}


def make_bundle(backend, *, seed: int = 0, emotions=EMOTIONS) -> EmotionVectors:
    """Random unit vectors with realistic metadata (the tiny model has no real emotions)."""
    sites = tuple(Site(layer) for layer in range(backend.n_layers))
    gen = torch.Generator().manual_seed(seed)
    vectors = torch.randn(len(emotions), len(sites), backend.d_model, generator=gen)
    vectors = vectors / vectors.norm(dim=-1, keepdim=True)
    meta = {
        "model": {"model_id": backend.model_id, "weights_sha256": None},
        "d_model": backend.d_model,
        "n_layers": backend.n_layers,
        "residual_norms": residual_norms(backend, sites),
    }
    return EmotionVectors(vectors, emotions, sites, meta)


@pytest.fixture(scope="session")
def tiny_bundle(tiny_backends) -> EmotionVectors:
    return make_bundle(tiny_backends["hf"])


class ForwardCounter:
    """Counts forwards of a backend's underlying torch model (to prove none happened)."""

    def __init__(self, backend):
        module = backend.model
        module = getattr(module, "_module", module)  # nnsight wraps the torch model
        self.module = module
        self.calls = 0

    def __enter__(self):
        def hook(*_):
            self.calls += 1

        self.handle = self.module.register_forward_pre_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        return False
