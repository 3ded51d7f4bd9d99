"""What the main job's stages share: the run context, its identity in stage keys, the recipe."""

from typing import Any

Context = dict[str, Any]

# The paper's recipe; neutral dialogues are cut at 160 tokens (they average ~300 on the default
# model, stories stay under 112), which keeps the mean from token 50 over 110 tokens per dialogue
# and saves a seventh of the main job's forward passes.
RECIPE = {"start": 50, "neutral_variance": 0.5, "pca_mode": "dialogue", "max_tokens": 160}


def identity(ctx: Context) -> dict[str, Any]:
    """What every stage's key shares: the model, its weights, the adapter and the sites."""
    backend = ctx["backend"]
    return {
        "model": backend.model_id,
        "weights": backend.provenance.weights_sha256,
        "adapter": backend.name,
        "dtype": str(backend.dtype).removeprefix("torch."),
        "sites": [str(s) for s in ctx["sites"]],
    }
