"""The logit lens on a hosted model: the final norm and unembedding applied on the server.

The weights stay on NDIF, so `unembed(x)` is one request: a one-token forward that stops after
the first layer, during which the model's own final-norm and output-head modules are called on
`x` (nnsight runs an envoy called inside a trace as a plain module call). The block reads only
envoys and tensors, like the bodies in `_trace`, and is stamped the same way.
"""

from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from emovec.adapterkit import final_norm_and_head, find_path

from ._trace import _stamp


def unembed_block(model: Any, layers: Any, norm: Any, head: Any, x: Tensor, backend: Any) -> Any:
    """One remote request: `head(norm(x))` on the server (`x` in the model's dtype there)."""
    inputs = {"input_ids": torch.ones(1, 1, dtype=torch.long), "attention_mask": torch.ones(1, 1)}
    with model.trace(inputs, use_cache=False, backend=backend) as tracer:
        h = layers[0].output
        v = x.to(device=h.device, dtype=h.dtype)
        logits = head(norm(v)).detach().save()
        tracer.stop()
    return logits


unembed_block = _stamp(unembed_block)


def remote_unembed(
    backend: Any, x: Float[Tensor, "*batch d_model"]
) -> Float[Tensor, "*batch d_vocab"]:
    """Logits a residual vector would produce at the end of the hosted model (logit lens).

    Args:
        backend: A `RemoteNNsightBackend`.
        x: Residual-stream vectors, any leading axes.

    Returns:
        `[*batch, d_vocab]` logits, computed on the server in the model's dtype.
    """
    if x.shape[-1] != backend.d_model:
        raise ValueError(
            f"unembed needs vectors of width d_model={backend.d_model}, got {x.shape[-1]}."
        )
    inner = backend.model._module
    norm, head = final_norm_and_head(inner)
    names = {id(module): name for name, module in inner.named_modules()}
    norm_envoy, head_envoy = (find_path(backend.model, names[id(m)]) for m in (norm, head))
    flat = x.detach().reshape(-1, x.shape[-1]).float().cpu()
    submit = backend.nnsight_backend()  # preflight, retries and the key, as for every request
    logits = unembed_block(backend.model, backend.layers, norm_envoy, head_envoy, flat, submit)
    return logits.reshape(*x.shape[:-1], -1)
