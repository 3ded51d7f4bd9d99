"""Probe readings at one token per prompt: the measurement behind sweeps and scenarios.

The token read is by default the position right before the assistant's reply
(`read_at="assistant"`: the last token of the chat-templated prompt with the generation prompt
added; for a model without a chat template, the ":" of "Human: ...\\n\\nAssistant:"), or the
prompt's own last token (`read_at="prompt"`). The paper reads at the Assistant colon.
"""

from collections.abc import Sequence
from typing import Any, Literal

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._batch import last_token
from emovec.ops import scores
from emovec.vectors import EmotionVectors

ReadAt = Literal["assistant", "prompt"]


def read_probes(
    backend: Any,
    vectors: EmotionVectors,
    prompts: Sequence[str],
    *,
    read_at: ReadAt = "assistant",
    batch_size: int = 16,
    allow_mismatch: bool = False,
) -> Float[Tensor, "batch site emotion"]:
    """Probe scores of every emotion at every site of `vectors`, one reading per prompt.

    Args:
        backend: The model the vectors came from.
        vectors: The bundle (its sites are read).
        prompts: User messages.
        read_at: "assistant" (right before the reply) or "prompt" (the message's last token).
        batch_size: Prompts per forward pass.
        allow_mismatch: Passed to `vectors.check` (deliberate cross-model use).

    Returns:
        `emovec.ops.scores` of the activation at the read token against the unit vectors.
    """
    vectors.check(backend, allow_mismatch=allow_mismatch)
    texts, chat = _framed(backend, prompts, read_at)
    sites = list(vectors.sites)
    out = []
    for i in range(0, len(texts), batch_size):
        batch = backend.tokenize(texts[i : i + batch_size], chat=chat)
        captured = backend.capture(batch, sites, last_token)
        out.append(
            torch.stack(
                [scores(captured[s].float().cpu(), vectors.at(s).float()) for s in sites], dim=1
            )
        )
    return torch.cat(out).double()


def _framed(backend: Any, prompts: Sequence[str], read_at: ReadAt) -> tuple[list[str], bool]:
    """The texts to tokenize and whether to apply the chat template."""
    if read_at == "prompt":
        return list(prompts), False
    if read_at != "assistant":
        raise ValueError(f"read_at must be 'assistant' or 'prompt', got {read_at!r}.")
    if getattr(backend.tokenizer, "chat_template", None):
        return list(prompts), True
    return [f"Human: {p}\n\nAssistant:" for p in prompts], False
