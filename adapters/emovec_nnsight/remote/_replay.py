"""Turn one remote generation back into what the local decode loop would have produced.

A remote generation is one request: the server decodes every step and sends back the ids and,
per step, the activations at the observed sites. `replay` runs the core's own decode loop
(`emovec.adapterkit.generate_loop`) over a stand-in forward that serves the server's results
instead of running a model, so the `StepView`s, the stopping at EOS and by observers and the
`Generation` are the local loop's by construction. Rows of a batched forward do not influence
each other, so an observer that stops a row here has the same effect as stopping it there;
adding edits mid-generation cannot be replayed.
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from emovec._backend import Generation, Observer
from emovec._batch import Reducer, TokenBatch, keep
from emovec._edit import Edit
from emovec._site import Site
from emovec.adapterkit import BoundEdit, ForwardOutput, generate_loop

from ._errors import RemoteExecutionError


class _Served:
    """A forward that hands back the server's step `k` on its `k`-th call.

    Its logits put all weight on the token the server picked, so the loop's greedy pick
    reproduces the server's choice (sampling included: the server sampled).
    """

    def __init__(self, backend: Any, generated: Tensor, steps: list, sites: list[Site]):
        self.backend = backend
        self.tokenizer = backend.tokenizer
        self.device = torch.device("cpu")
        self.pad_token_id = backend.pad_token_id
        self.eos_token_id = backend.eos_token_id
        self.generated, self.steps, self.sites = generated, steps, sites
        self.calls = 0

    def check_sites(self, sites: Sequence[Site]) -> list[Site]:
        return list(sites)  # checked by the backend before the request went out

    def check_edits(self, edits: Sequence[Edit], batch: TokenBatch | None = None) -> None:
        if edits:  # only the loop's observer path adds edits after the request
            raise RemoteExecutionError(
                f"An observer asked to add edits at step {self.calls - 1}: a remote generation"
                " runs in one request, so edits decided mid-generation would need a round trip"
                " per token. Pass static edits (generate(edits=...)) or use a local backend."
            )

    def _forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        *,
        edits: Sequence[BoundEdit] = (),
        sites: Sequence[Site] = (),
        reducer: Reducer = keep,
        position_ids: Tensor | None = None,
        past: Any = None,
        use_cache: bool = False,
        last_logits_only: bool = False,
    ) -> ForwardOutput:
        k = self.calls
        self.calls += 1
        if k >= self.generated.shape[1]:
            raise RemoteExecutionError(
                f"The server returned {self.generated.shape[1]} tokens but rows were still"
                " generating."
            )
        token = self.generated[:, k]
        logits = torch.nn.functional.one_hot(token, int(self.generated.max()) + 1).float()
        captured = (
            {site: a.cpu() for site, a in zip(self.sites, self.steps[k], strict=True)}
            if k < len(self.steps)
            else {}
        )
        return ForwardOutput(logits[:, None], captured, None)


def replay(
    backend: Any,
    batch: TokenBatch,
    ids: Tensor,
    steps: list,
    sites: list[Site],
    observers: list[Observer],
    max_new_tokens: int,
    stop_at_eos: bool,
) -> Generation:
    """The `Generation` (and observer calls) of the local loop, from one remote generation.

    Args:
        backend: The remote backend (tokenizer, pad and EOS ids).
        batch: The left-padded prompts.
        ids: Prompt plus generated ids from the server, `[batch, prompt + new]`.
        steps: Per forward, the activations at `sites` (`[batch, pos, d_model]` each).
        sites: The observed sites, in the order of each step's list.
        observers: Called once per step, as in the local loop.
        max_new_tokens, stop_at_eos: As given to `generate`.

    Raises:
        RemoteExecutionError: an observer asked to add edits (needs a round trip per token),
            or the server sent fewer tokens than the rows needed.
    """
    generated = ids[:, batch.input_ids.shape[1] :].cpu()
    served = _Served(backend, generated, steps, sites)
    return generate_loop(
        served,
        batch,
        max_new_tokens=max_new_tokens,
        edits=[],
        observers=observers,
        temperature=0.0,
        top_p=1.0,
        seed=None,
        stop_at_eos=stop_at_eos,
    )
