"""Side effects of steering: KL on neutral text, and perplexity of steered generations.

Both measure how much a steering edit disturbs what the model does apart from the behaviour
under test; `dose_response` fills them into its result for every site and strength.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from emovec._backend import Backend
from emovec._batch import TokenBatch
from emovec._site import Site

from ._metrics import kl_per_token
from ._runs import progress_bar
from ._spec import Steer


@dataclass(frozen=True)
class DosePlan:
    """What a dose-response steers with: per site the unit vector, the residual norm the
    strengths scale, and the random directions of the band."""

    sites: list[Site]
    strengths: list[float]
    units: dict[Site, Tensor]
    norms: dict[Site, float]
    randoms: dict[Site, Tensor]


def side_effect_kl(
    backend: Any, result: Any, plan: DosePlan, neutral: Sequence[str], n_rand: int, progress: bool
) -> None:
    """KL of next-token distributions on neutral text, steered against unsteered, into `result`."""
    site_list, units, randoms = plan.sites, plan.units, plan.randoms
    norms, strengths = plan.norms, plan.strengths
    batch = backend.tokenize(list(neutral))
    mask = batch.mask.clone()
    mask[:, 0] = False  # position 0 (an attention sink on small models) is left out
    reference = backend.run(batch)
    n_rand = min(n_rand, randoms[site_list[0]].shape[0])
    bar = progress_bar(
        len(site_list) * len(strengths) * (1 + n_rand), "side effects (KL)", progress
    )
    kl, kl_rand = [], []
    for site in site_list:
        row, row_rand = [], []
        for s in strengths:
            amount = s * norms[site]
            edits = Steer(units[site], amount, site, relative=False).edits(None, backend)
            row.append(float(kl_per_token(backend.run(batch, edits), reference, mask)))
            bar.update()
            values = []
            for r in range(n_rand):
                edits = Steer(randoms[site][r], amount, site, relative=False).edits(None, backend)
                values.append(float(kl_per_token(backend.run(batch, edits), reference, mask)))
                bar.update()
            row_rand.append(float(np.median(values)) if values else float("nan"))
        kl.append(row)
        kl_rand.append(row_rand)
    bar.close()
    result.kl_neutral = kl
    result.kl_neutral_random = kl_rand if n_rand else None


def generation_perplexity(
    backend: Backend, prompt_ids: Sequence[Sequence[int]], token_ids: Sequence[Sequence[int]]
) -> float:
    """Perplexity of generated tokens (after their prompts) under `backend` without edits."""
    total, count = 0.0, 0
    for prompt, gen in zip(prompt_ids, token_ids, strict=True):
        if not gen:
            continue
        row = torch.tensor([list(prompt) + list(gen)])
        logits = backend.run(_one(row))[0]
        log_p = logits[len(prompt) - 1 : -1].float().log_softmax(-1)
        total -= float(log_p[torch.arange(len(gen)), torch.tensor(list(gen))].sum())
        count += len(gen)
    return float(np.exp(total / count)) if count else float("nan")


def _one(row: Tensor) -> TokenBatch:
    return TokenBatch(row, torch.ones_like(row))


def side_effect_perplexity(
    backend: Any,
    result: Any,
    plan: DosePlan,
    prompts: Sequence[str],
    max_new_tokens: int,
    progress: bool,
) -> None:
    """Perplexity of steered generations under the unsteered model, into `result`."""
    site_list, units, norms, strengths = plan.sites, plan.units, plan.norms, plan.strengths
    bar = progress_bar(len(site_list) * len(strengths) + 1, "side effects (generation)", progress)
    plain = backend.generate(list(prompts), max_new_tokens=max_new_tokens, chat=True)
    result.perplexity_baseline = generation_perplexity(backend, plain.prompt_ids, plain.token_ids)
    bar.update()
    table = []
    for site in site_list:
        row = []
        for s in strengths:
            edits = Steer(units[site], s * norms[site], site, relative=False).edits(None, backend)
            gen = backend.generate(
                list(prompts), max_new_tokens=max_new_tokens, edits=edits, chat=True
            )
            row.append(generation_perplexity(backend, gen.prompt_ids, gen.token_ids))
            bar.update()
        table.append(row)
    bar.close()
    result.perplexity = table
