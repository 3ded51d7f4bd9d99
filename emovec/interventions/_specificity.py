"""Specificity: steer emotion i at one site, read every probe j at later sites.

A specific vector moves its own probe more than the others. Each cell is the change in probe
j's reading (the projection onto vector j, averaged over each prompt's tokens from position 1 on,
then over prompts) when emotion i is added at the steering site; optionally divided by the
spread (standard deviation over tokens) of probe j's unsteered readings, so that probes with
large natural variance do not dominate. Read at the steering site itself, the unscaled matrix
is exactly `strength x` the cosine matrix of the vectors; later sites show what the model did
with the push.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from emovec._backend import Backend
from emovec._site import Site

from ._directions import _finite
from ._experiment import ExperimentResult, prepare, provenance
from ._plots import figure, save_figure
from ._positions import _check_positions, row_masks
from ._runs import Steering, _mixed_edits, chunks, pad_masks, pad_rows, progress_bar
from ._sites import _sites


def token_mean(
    acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
) -> Float[Tensor, "batch d_model"]:
    """Per-row mean over real tokens from position 1 on (position 0 is an attention sink).

    Example:
        >>> token_mean(torch.arange(6.0).reshape(1, 3, 2), torch.ones(1, 3, dtype=torch.bool))
        tensor([[3., 4.]])
    """
    use = mask.clone()
    use[:, 0] &= mask.sum(-1) == 1  # keep position 0 only in one-token rows
    weights = use.to(acts.dtype)
    return torch.einsum("bpd,bp->bd", acts, weights) / weights.sum(-1, keepdim=True).clamp(min=1)


@dataclass
class Specificity(ExperimentResult):
    """`matrix[read_site][steered][probe]`: change in probe readings when steering each emotion."""

    steered: list[str]
    probes: list[str]
    steer_site: str
    read_sites: list[str]
    strength: float
    zscored: bool
    matrix: list[list[list[float]]]
    settings: dict[str, Any] = field(default_factory=dict)

    stem = "specificity"

    def diagonal_hits(self) -> list[float]:
        """Per read site, the fraction of steered emotions whose own probe moved most."""
        hits = []
        for m in self.matrix:
            arr = np.array(m)
            rows = [i for i, e in enumerate(self.steered) if e in self.probes]
            ok = [int(np.argmax(arr[i])) == self.probes.index(self.steered[i]) for i in rows]
            hits.append(float(np.mean(ok)) if ok else float("nan"))
        return hits

    def summary(self) -> str:
        lines = [
            f"specificity: steer at {self.steer_site} (strength {self.strength}), {'z-scored' if self.zscored else 'raw'} probe change"
        ]
        for site, hit in zip(self.read_sites, self.diagonal_hits(), strict=True):
            lines.append(f"  read at {site:16s} own probe moved most for {hit:.0%} of emotions")
        return "\n".join(lines)

    def plot(self, stem: "str | Path") -> list[Path]:
        n = len(self.read_sites)
        size = max(3.5, 0.3 * max(len(self.probes), len(self.steered)) + 2)
        fig, axes = figure(n, width=size, height=size)
        for ax, site, m in zip(axes, self.read_sites, self.matrix, strict=True):
            arr = np.array(m)
            lim = float(np.abs(arr).max()) or 1.0
            im = ax.imshow(arr, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks(range(len(self.probes)), self.probes, rotation=90, fontsize=7)
            ax.set_yticks(range(len(self.steered)), self.steered, fontsize=7)
            ax.set_xlabel("probe read")
            ax.set_ylabel(f"steered at {self.steer_site}")
            ax.set_title(f"read at {site}", fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.7)
        return save_figure(fig, stem)


def specificity(
    backend: Backend,
    vectors: Any,
    prompts: Sequence[str],
    *,
    emotions: Sequence[str] | None = None,
    probes: Sequence[str] | None = None,
    steer_site: Any = None,
    read_sites: Any = None,
    strength: float = 0.1,
    zscore: bool = True,
    positions: Any = "all",
    chat: bool = False,
    batch_tokens: int = 2048,
    progress: bool = True,
    allow_mismatch: bool = False,
) -> Specificity:
    """The specificity matrix of steering each emotion and reading each probe.

    Args:
        backend: An emovec backend.
        vectors: The `EmotionVectors` bundle.
        prompts: Texts to run (a few neutral and emotional ones).
        emotions: Emotions to steer (default: every emotion in the bundle).
        probes: Probes to read (default: the same as `emotions`).
        steer_site: Where to steer (default: the bundle site nearest 2/3 of the depth).
        read_sites: Where to read (default: the bundle's sites from the steering site on).
        strength: Fraction of the steering site's mean residual norm.
        zscore: Divide each probe's change by its unsteered spread over tokens.
        positions: Tokens steered ("all" or token indices).
        chat: Apply the chat template.
        batch_tokens: Padded tokens per forward.
        progress: Show a progress bar.
        allow_mismatch: Use vectors from another model of the same width.

    Returns:
        A `Specificity`.
    """
    strength = _finite(strength, "strength")
    positions = _check_positions(positions)
    if vectors is None:
        raise ValueError("specificity needs an EmotionVectors bundle.")
    if not prompts:
        raise ValueError("Give at least one prompt.")
    steered = list(emotions) if emotions is not None else list(vectors.emotions)
    probe_names = list(probes) if probes is not None else steered
    (site,) = prepare(
        backend,
        vectors,
        emotions=(*steered, *probe_names),
        sites=steer_site,
        allow_mismatch=allow_mismatch,
        default_at_depth=True,
    )
    reads = _read_sites(read_sites, site, vectors, backend)
    rows = [backend.encode(p, chat=chat) for p in prompts]
    masks = row_masks(rows, positions)
    amount = strength * vectors.residual_norm(site)
    units = {e: vectors.vector(e, site).float() for e in steered}
    probe_mats = {s: vectors.select(probe_names, [s]).vectors[:, 0].float() for s in reads}

    bar = progress_bar(len(rows) * (len(steered) + 1), "specificity", progress)
    base_batch = pad_rows(rows, backend.pad_token_id)
    raw = backend.capture(base_batch, reads)
    base_mean = {s: token_mean(raw[s].float(), base_batch.mask) for s in reads}
    spread = {s: _spread(raw[s], base_batch.mask, probe_mats[s]) for s in reads}
    del raw
    bar.update(len(rows))
    conditions: list[Steering] = [((site, units[e], amount),) for e in steered]
    deltas = _deltas(backend, rows, masks, conditions, reads, base_mean, batch_tokens, bar)
    bar.close()
    matrix = []
    for s in reads:
        change = deltas[s].mean(1) @ probe_mats[s].T  # [steered, probe]
        if zscore:
            change = change / spread[s][None]
        matrix.append(change.tolist())
    return Specificity(
        steered=steered,
        probes=probe_names,
        steer_site=str(site),
        read_sites=[str(s) for s in reads],
        strength=strength,
        zscored=zscore,
        matrix=matrix,
        settings={
            **{k: v for k, v in provenance(backend, vectors).items() if k != "vectors"},
            "n_prompts": len(prompts),
            "absolute_strength": amount,
            "positions": positions if isinstance(positions, str) else list(positions),
            "chat": chat,
            "probe_spread": {str(s): spread[s].tolist() for s in reads} if zscore else None,
        },
    )


def _read_sites(read_sites: Any, site: Site, vectors: Any, backend: Any) -> list[Site]:
    """Where the probes are read: as given, or every bundle site from the steered one on."""
    n_layers = int(backend.n_layers)
    if read_sites is None:
        reads = [s for s in vectors.sites if site.layer <= s.layer < n_layers] or [site]
    else:
        reads = _sites(read_sites, vectors, backend)
    for s in reads:
        vectors.site_index(s)
    return reads


def _spread(
    acts: Float[Tensor, "batch pos d_model"],
    mask: Bool[Tensor, "batch pos"],
    probes: Float[Tensor, "probe d_model"],
) -> Float[Tensor, " probe"]:
    """Each probe's standard deviation over the unsteered tokens (position 0, a sink, left out)."""
    use = mask.clone()
    use[:, 0] = False
    readings = acts.float()[use] @ probes.T  # [tokens, probe]
    return readings.std(0).clamp(min=1e-8) if readings.shape[0] > 1 else torch.ones(len(probes))


def _deltas(
    backend: Any,
    rows: list[list[int]],
    masks: Any,
    conditions: list[Steering],
    reads: list[Site],
    base_mean: dict[Site, Tensor],
    batch_tokens: int,
    bar: Any,
) -> dict[Site, Float[Tensor, "steered prompt d_model"]]:
    """Per read site, each steering's change of each prompt's token-mean activation."""
    d_model = int(backend.d_model)
    jobs = [(c, r) for c in range(len(conditions)) for r in range(len(rows))]
    job_rows = [rows[r] for _, r in jobs]
    deltas = {s: torch.zeros(len(conditions), len(rows), d_model) for s in reads}
    for group in chunks(job_rows, batch_tokens):
        batch = pad_rows([job_rows[j] for j in group], backend.pad_token_id)
        where = (
            pad_masks([masks[jobs[j][1]] for j in group], batch)
            if masks is not None
            else torch.ones(batch.input_ids.shape, dtype=torch.bool)
        )
        edits = _mixed_edits([conditions[jobs[j][0]] for j in group], where, d_model)
        captured = backend.capture(batch, reads, token_mean, edits=edits)
        for s in reads:
            for k, j in enumerate(group):
                c, r = jobs[j]
                deltas[s][c, r] = captured[s][k].float().cpu() - base_mean[s][r].cpu()
        bar.update(len(group))
    return deltas
