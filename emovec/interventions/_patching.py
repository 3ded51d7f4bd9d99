"""Causal patching of the emotion subspace, site by site, with a per-site table and plot.

Source and target prompts run unpatched; then, at one site at a time, the target's component in
the chosen emotions' span (orthonormalised; one emotion, a set, the bundle's whole span, or the
full residual stream) is replaced by the source's, at positions aligned from the end (`last=k`).
The metric is read at the target's last token: a logit difference, a choice probability, or the
KL to the unpatched target. "Restored" is the fraction of the source-target gap the patch
closes: (patched - target) / (source - target).
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emovec._backend import Backend
from emovec._batch import TokenBatch

from ._alignment import patch_edit
from ._directions import _subspace
from ._metrics import Metric
from ._plots import figure, plain, save_figure, save_json
from ._runs import next_token_logits, progress_bar
from ._spec import Patch


@dataclass
class PatchResult:
    """Per-site results of `patching` (means over prompt pairs; per-row values kept too)."""

    metric: str
    emotions: Any
    sites: list[str]
    last: int | None
    target: float
    source: float
    patched: list[float]
    restored: list[float | None]
    patched_rows: list[list[float]]
    target_rows: list[float]
    source_rows: list[float]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    def summary(self) -> str:
        lines = [
            f"patching {self.emotions!r} from source into target; metric {self.metric}",
            f"unpatched target {self.target:.4g}, source {self.source:.4g}",
            f"{'site':16s}{'patched':>12s}{'restored':>10s}",
        ]
        for site, value, frac in zip(self.sites, self.patched, self.restored, strict=True):
            lines.append(f"{site:16s}{value:>12.4g}{'' if frac is None else f'{frac:>10.2f}'}")
        return "\n".join(lines)

    def save(self, folder: "str | Path") -> list[Path]:
        folder = Path(folder)
        return [
            save_json(self.to_dict(), folder / "patching.json"),
            *self.plot(folder / "patching"),
        ]

    def plot(self, stem: "str | Path") -> list[Path]:
        fig, (ax,) = figure(1, width=max(4.5, 0.28 * len(self.sites) + 2))
        x = np.arange(len(self.sites))
        ax.plot(x, self.patched, "o-", color="C3", label="patched target")
        ax.axhline(self.target, color="0.4", ls="--", label="target (unpatched)")
        ax.axhline(self.source, color="C0", ls=":", label="source")
        ax.set_xticks(x, self.sites, rotation=90, fontsize=7)
        ax.set_ylabel(self.metric)
        ax.set_title(f"patching {self.emotions if isinstance(self.emotions, str) else 'a set'}")
        ax.legend(fontsize=7)
        return save_figure(fig, stem)


def patching(
    backend: Backend,
    vectors: Any,
    source: "str | Sequence[str] | TokenBatch",
    target: "str | Sequence[str] | TokenBatch",
    *,
    metric: Metric,
    emotions: Any = "all",
    sites: Any = None,
    last: int | None = None,
    chat: bool = False,
    progress: bool = True,
    allow_mismatch: bool = False,
) -> PatchResult:
    """Patch the emotion subspace from `source` into `target` at each site in turn.

    Args:
        backend: An emovec backend.
        vectors: The `EmotionVectors` bundle (its sites are the default sweep).
        source: Source prompt(s) or a `TokenBatch`; one row broadcasts over every target row.
        target: Target prompt(s) or a `TokenBatch`.
        metric: Read at each target's last token (e.g. `LogitDiff(" happy", " sad")`, `KL()`).
        emotions: A name, a list, "all" (the bundle's span), "full" (every direction), or a
            `[k, d_model]` basis.
        sites: Sites to patch, one at a time (default: every site of the bundle).
        last: Patch the last `last` tokens of each row (aligned from the end); None: all tokens
            (rows must then have equal lengths).
        chat: Apply the chat template to texts.
        progress: Show a progress bar.
        allow_mismatch: Use vectors from another model of the same width.

    Returns:
        A `PatchResult`.
    """
    src = (
        source
        if isinstance(source, TokenBatch)
        else backend.tokenize([source] if isinstance(source, str) else list(source), chat=chat)
    )
    tgt = (
        target
        if isinstance(target, TokenBatch)
        else backend.tokenize([target] if isinstance(target, str) else list(target), chat=chat)
    )
    site_spec = list(vectors.sites) if sites is None and vectors is not None else sites
    spec = Patch(src, emotions, site_spec, last=last)
    site_list, _, src_pos, tgt_pos = spec.validate(
        vectors, backend, tgt, allow_mismatch=allow_mismatch
    )
    metric.check(backend.tokenizer)
    bases = {site: _subspace(emotions, vectors, site, backend) for site in site_list}

    bar = progress_bar(len(site_list) + 2, "patching", progress)
    reference = next_token_logits(backend, tgt)
    captured = backend.capture(src, site_list)
    source_logits = next_token_logits(backend, src)
    bar.update(2)
    if len(src) == 1 and len(tgt) > 1:
        source_logits = source_logits.expand(len(tgt), -1)
    target_rows = metric(reference, reference)
    source_rows = metric(source_logits, reference)
    patched_rows = []
    for site in site_list:
        edit = patch_edit(site, bases[site], captured[site], tgt, src_pos, tgt_pos)
        patched_rows.append(metric(next_token_logits(backend, tgt, [edit]), reference))
        bar.update()
    bar.close()
    t, s = float(target_rows.mean()), float(source_rows.mean())
    patched = [float(v.mean()) for v in patched_rows]
    gap = s - t
    restored = [((p - t) / gap if abs(gap) > 1e-12 else None) for p in patched]
    return PatchResult(
        metric=metric.name,
        emotions=emotions if isinstance(emotions, (str, list, tuple)) else "custom basis",
        sites=[str(x) for x in site_list],
        last=last,
        target=t,
        source=s,
        patched=patched,
        restored=restored,
        patched_rows=[v.tolist() for v in patched_rows],
        target_rows=target_rows.tolist(),
        source_rows=source_rows.tolist(),
        settings={
            "model_id": backend.model_id,
            "adapter": backend.name,
            "n_pairs": len(tgt),
            "subspace_rank": {str(k): int(v.shape[0]) for k, v in bases.items()},
            "chat": chat,
        },
    )
