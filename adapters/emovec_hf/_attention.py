"""Eager attention for grouped-query models without copying the KV cache.

Transformers' eager kernel expands every key/value head to its query group (`repeat_kv`) on each
call; in cached decoding that copy grows with the context and dominated the corpus generator's
time on CPU (a third of every step). Here queries are grouped under their key/value head
instead, so the same dot products, mask, float32 softmax and weighted sum happen without the
copy. Results equal eager to float rounding (GEMM shapes differ, so not bit for bit), which is
why eager stays the default where adapters must agree exactly.

Select it with `load_pretrained(..., attn_implementation="emovec_grouped")`.
"""

from typing import Any

import torch
from torch import Tensor, nn

NAME = "emovec_grouped"


def grouped_attention_forward(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Tensor, Tensor]:
    batch, heads, q_len, head_dim = query.shape
    kv_heads, k_len = key.shape[1], key.shape[2]
    groups = heads // kv_heads
    # Head h reads key/value head h // groups (repeat_kv's layout), so a reshape groups them.
    q = query.reshape(batch, kv_heads, groups * q_len, head_dim)
    scores = torch.matmul(q, key.transpose(2, 3)).view(batch, heads, q_len, k_len) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, :k_len]
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    out = torch.matmul(weights.view(batch, kv_heads, groups * q_len, k_len), value)
    out = out.view(batch, heads, q_len, value.shape[-1]).transpose(1, 2).contiguous()
    return out, weights


def register() -> str:
    """Make `NAME` a valid `attn_implementation` (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    AttentionInterface.register(NAME, grouped_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["eager"])
    return NAME
