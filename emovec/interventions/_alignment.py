"""Patching positions: which source token patches which target token, and the patch `Edit`.

Source and target rows are aligned from each row's last real token, so left and right padding
both work and one source row can patch every target row.
"""

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._batch import TokenBatch
from emovec._edit import Edit
from emovec._site import Site


def patch_edit(
    site: Site,
    basis: Float[Tensor, "k d_model"],
    source_acts: Float[Tensor, "source pos d_model"],
    target: TokenBatch,
    src_pos: Tensor,
    tgt_pos: Tensor,
) -> Edit:
    """The `Edit` that moves `source_acts`' component in `basis` into `target` at aligned positions."""
    n = len(target)
    rows = torch.arange(n)[:, None].expand_as(tgt_pos)
    src_rows = rows if source_acts.shape[0] == n else torch.zeros_like(rows)
    mask = torch.zeros(target.input_ids.shape, dtype=torch.bool)
    mask[rows, tgt_pos] = True
    acts = source_acts.float().cpu()
    aligned = torch.zeros(*target.input_ids.shape, acts.shape[-1])
    aligned[rows, tgt_pos] = acts[src_rows, src_pos]
    return Edit.patch(site, basis, aligned, positions=mask)


def _align(source: TokenBatch, target: TokenBatch, last: int | None) -> tuple[Tensor, Tensor]:
    """Positions `[batch, k]` in source and target rows, aligned from each row's last token."""
    n_src, n_tgt = len(source), len(target)
    if n_src not in (1, n_tgt):
        raise ValueError(
            f"Patch has {n_src} source rows for {n_tgt} target rows: give one source, or one per target."
        )
    src_len = source.attention_mask.sum(-1).cpu()
    tgt_len = target.attention_mask.sum(-1).cpu()
    src_first = _first_real(source)
    tgt_first = _first_real(target)
    src_rows = range(n_tgt) if n_src == n_tgt else [0] * n_tgt
    if last is None:
        for t, s in zip(range(n_tgt), src_rows, strict=True):
            if int(src_len[s]) != int(tgt_len[t]):
                raise ValueError(
                    f"Patching every position needs equal lengths, but source row {s} has"
                    f" {int(src_len[s])} tokens and target row {t} has {int(tgt_len[t])}: pass last=k."
                )
        k = int(tgt_len.min()) if int(tgt_len.max()) == int(tgt_len.min()) else None
        if k is None:
            raise ValueError(
                "Patching every position needs target rows of one length: pass last=k."
            )
    else:
        k = last
        short = [
            (what, i, int(n))
            for what, lens in (("source", src_len), ("target", tgt_len))
            for i, n in enumerate(lens)
            if n < k
        ]
        if short:
            what, i, n = short[0]
            raise ValueError(
                f"Patch(last={k}) is out of range: {what} row {i} has only {n} tokens."
            )
    offsets = torch.arange(-k, 0)
    tgt = (tgt_first + tgt_len)[:, None] + offsets[None]
    src_idx = torch.tensor(list(src_rows))
    src = (src_first + src_len)[src_idx][:, None] + offsets[None]
    return src, tgt


def _first_real(batch: TokenBatch) -> Tensor:
    """Index of each row's first real token (0 when right-padded)."""
    mask = batch.attention_mask.cpu()
    return torch.argmax(mask, dim=-1)
