"""Logit lens: which tokens does each emotion vector promote through the unembedding?

Each unit vector is scaled by the site's mean residual norm (`EmotionVectors.residual_norm`)
and passed through `backend.unembed`, i.e. the model's own final norm and head. RMSNorm is
invariant to scale up to its epsilon, so the scale only matters for keeping the vector in the
regime the norm was trained on; it is recorded in the result. The paper: desperate promotes
"desperate", "urgent", "bankrupt"; calm promotes "relax", "leisure".

`own_rank` measures the effect without reading lists: the rank of the emotion word's own first
token among all tokens (0 = top), so a reader can ask how often a vector promotes its own name.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from emovec._site import Site
from emovec.vectors import EmotionVectors


@dataclass(frozen=True)
class LensRow:
    """One emotion's most promoted and most suppressed tokens, `(token, logit)` each."""

    emotion: str
    top: tuple[tuple[str, float], ...]
    bottom: tuple[tuple[str, float], ...]
    own_token: str
    own_rank: int


@dataclass(frozen=True)
class LogitLens:
    """The logit lens of every emotion vector at one site.

    Attributes:
        site: The site whose vectors were decoded.
        scale: The factor each unit vector was multiplied by (the site's residual norm).
        rows: One `LensRow` per emotion, in bundle order.
        vocab_size: Number of tokens ranked.
        centred: Whether each token's mean logit over emotions was subtracted first.
    """

    site: Site
    scale: float
    rows: tuple[LensRow, ...]
    vocab_size: int
    centred: bool

    def row(self, emotion: str) -> LensRow:
        for r in self.rows:
            if r.emotion == emotion:
                return r
        raise KeyError(f"No emotion {emotion!r} in this logit lens.")

    def own_in_top(self, fraction: float = 0.01) -> float:
        """Share of emotions whose own first token ranks in the top `fraction` of the vocabulary."""
        cut = fraction * self.vocab_size
        return sum(r.own_rank < cut for r in self.rows) / len(self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": str(self.site),
            "scale": self.scale,
            "centred": self.centred,
            "vocab_size": self.vocab_size,
            "own_token_in_top_1pct": self.own_in_top(0.01),
            "own_token_median_rank": sorted(r.own_rank for r in self.rows)[len(self.rows) // 2],
            "rows": [
                {
                    "emotion": r.emotion,
                    "top": [list(t) for t in r.top],
                    "bottom": [list(t) for t in r.bottom],
                    "own_token": r.own_token,
                    "own_rank": r.own_rank,
                }
                for r in self.rows
            ],
        }


def logit_lens(
    backend: Any,
    vectors: EmotionVectors,
    site: "Site | str | int",
    *,
    k: int = 10,
    emotions: Sequence[str] | None = None,
    scale: float | None = None,
    centre: bool = False,
    chunk: int = 32,
    allow_mismatch: bool = False,
) -> LogitLens:
    """Top and bottom `k` tokens each emotion vector at `site` promotes through the unembedding.

    Args:
        backend: The model the vectors came from (checked with `vectors.check`).
        vectors: The bundle.
        site: The site to decode.
        k: Tokens listed at each end.
        emotions: A subset to decode (default: all).
        scale: Multiplier of the unit vectors; None uses `vectors.residual_norm(site)` when the
            bundle records it, else 1.
        centre: Subtract each token's mean logit over the decoded emotions (removes tokens that
            every direction promotes, e.g. through the final norm's gain).
        chunk: Emotions decoded per call (bounds memory: chunk x vocabulary logits).
        allow_mismatch: Passed to `vectors.check` (deliberate cross-model use).

    Returns:
        A `LogitLens`.

    Example:
        >>> from types import SimpleNamespace as NS  # a toy model: 3 tokens, identity head
        >>> tok = NS(encode=lambda s, **_: ["xyz".index(s.strip()[0])], decode=lambda i: "xyz"[i[0]])
        >>> toy = NS(d_model=3, n_layers=1, model_id="toy", tokenizer=tok, unembed=lambda x: x)
        >>> ev = EmotionVectors(torch.eye(3)[:, None], ["x-ish", "y-ish", "z-ish"], [Site(0)])
        >>> lens = logit_lens(toy, ev, 0, k=1)
        >>> lens.row("y-ish").top, lens.row("y-ish").own_rank
        ((('y', 1.0),), 0)
    """
    vectors.check(backend, allow_mismatch=allow_mismatch)
    names = list(vectors.emotions if emotions is None else emotions)
    rows_idx = [vectors.index(e) for e in names]
    if scale is None:
        try:
            scale = vectors.residual_norm(site)
        except KeyError:
            scale = 1.0
    unit = vectors.at(site)[rows_idx].float()
    logits = torch.cat(
        [
            backend.unembed(unit[i : i + chunk] * scale).float().cpu()
            for i in range(0, len(names), chunk)
        ]
    )
    if centre:
        logits = logits - logits.mean(0, keepdim=True)
    tokenizer = backend.tokenizer
    rows = []
    for i, emotion in enumerate(names):
        row = logits[i]
        top = row.topk(k)
        bottom = (-row).topk(k)
        own = _first_token(tokenizer, emotion)
        own_rank = int((row > row[own]).sum())
        rows.append(
            LensRow(
                emotion,
                tuple(
                    (_show(tokenizer, t), float(v))
                    for t, v in zip(top.indices.tolist(), top.values.tolist(), strict=True)
                ),
                tuple(
                    (_show(tokenizer, t), -float(v))
                    for t, v in zip(bottom.indices.tolist(), bottom.values.tolist(), strict=True)
                ),
                _show(tokenizer, own),
                own_rank,
            )
        )
    return LogitLens(Site.parse(site), float(scale), tuple(rows), int(logits.shape[1]), centre)


def _first_token(tokenizer: Any, word: str) -> int:
    """The first token of `word` as it appears mid-sentence (with its leading space)."""
    ids = tokenizer.encode(" " + word, add_special_tokens=False)
    return int(ids[0])


def _show(tokenizer: Any, token: int) -> str:
    return tokenizer.decode([token])


def lens_table(lens: LogitLens, emotions: Sequence[str] | None = None, *, k: int = 6) -> str:
    """Plain text: one line per emotion with its top and bottom `k` tokens.

    Example:
        >>> row = LensRow("calm", (("relax", 3.0),), (("panic", -2.0),), " calm", 4)
        >>> print(lens_table(LogitLens(Site(1), 1.0, (row,), 100, False)))
        calm            own rank     4  + 'relax'  |  - 'panic'
    """
    lines = []
    for r in lens.rows:
        if emotions is not None and r.emotion not in emotions:
            continue
        top = " ".join(repr(t) for t, _ in r.top[:k])
        bottom = " ".join(repr(t) for t, _ in r.bottom[:k])
        lines.append(f"{r.emotion:15s} own rank {r.own_rank:5d}  + {top}  |  - {bottom}")
    return "\n".join(lines)
