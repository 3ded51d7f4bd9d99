"""Turn one remote generation back into what the local decode loop would have produced.

A remote generation is one request: the server decodes every step and sends back the ids and,
per step, the activations at the observed sites. `replay` then walks the steps exactly as
`emovec._generation.generate_loop` does (same `StepView`s, same stopping at EOS), with the
server's tokens in place of local picks, so observers (monitors) read what they would read
locally. Rows of a batched forward do not influence each other, so an observer that stops a row
here has the same effect as stopping it there; adding edits mid-generation cannot be replayed.
"""

from typing import Any

import torch
from torch import Tensor

from emovec._backend import Generation, Observer, StepView
from emovec._batch import TokenBatch
from emovec._generation import _notify
from emovec._site import Site

from ._remote_errors import RemoteExecutionError


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
        RemoteExecutionError: an observer asked to add edits (needs a round trip per token).
    """
    rows, width = batch.input_ids.shape
    generated = ids[:, width:].cpu()
    eos = backend.eos_token_id if stop_at_eos else None
    finished = torch.zeros(rows, dtype=torch.bool)
    reasons = ["max_new_tokens"] * rows
    out_ids: list[list[int]] = [[] for _ in range(rows)]
    mask = batch.attention_mask.bool()
    positions = batch.position_ids()

    def view(step: int, step_ids: Tensor, live: Tensor) -> StepView:
        acts = (
            {site: a.cpu() for site, a in zip(sites, steps[step], strict=True)}
            if step < len(steps)
            else {}
        )
        return StepView(step, step_ids, live, positions, acts)

    current = view(0, batch.input_ids, mask)
    for step in range(1, max_new_tokens + 1):
        control = _notify(observers, current) if observers else None
        if control is not None:
            if control.add_edits:
                raise RemoteExecutionError(
                    f"An observer asked to add edits at step {step - 1}: a remote generation runs"
                    " in one request, so edits decided mid-generation would need a round trip"
                    " per token. Pass static edits (generate(edits=...)) or use a local backend."
                )
            stop_rows = range(rows) if control.stop is True else (control.stop or ())
            for r in stop_rows:
                if not finished[r]:
                    finished[r] = True
                    reasons[r] = "observer"
        if bool(finished.all()):
            break
        if step - 1 >= generated.shape[1]:
            raise RemoteExecutionError(
                f"The server returned {generated.shape[1]} tokens but rows were still generating."
            )
        nxt = torch.where(
            finished,
            torch.full_like(generated[:, step - 1], backend.pad_token_id),
            generated[:, step - 1],
        )
        for r in torch.nonzero(~finished).flatten().tolist():
            token = int(nxt[r])
            if eos is not None and token == eos:
                finished[r] = True
                reasons[r] = "eos"
            else:
                out_ids[r].append(token)
        if step == max_new_tokens or bool(finished.all()):
            break
        positions = positions[:, -1:] + 1
        current = view(step, nxt[:, None], (~finished)[:, None])
    texts = [backend.tokenizer.decode(t, skip_special_tokens=True) for t in out_ids]
    prompt_ids = [
        row[m.bool()].tolist() for row, m in zip(batch.input_ids, batch.attention_mask, strict=True)
    ]
    return Generation(prompt_ids, out_ids, texts, reasons, [])
