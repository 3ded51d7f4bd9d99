"""`DocumentScorer`: per-document emotion profiles and rule flags, one forward per batch.

A reducer inside the hook projects every site's activations onto the probe basis, so that only
`[batch, pos, k]` numbers (k <= d_model) leave the model. Per document: the mean, max and
percentiles of each probe over its tokens from token `start` on, and the rules that fired.
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from emovec._batch import MeanFrom, TokenBatch
from emovec._site import Site
from emovec.extract import bucket
from emovec.monitor._calibration import Calibration, vectors_fingerprint
from emovec.monitor._layout import Frame, Layout
from emovec.monitor._probes import Probes, default_site
from emovec.monitor._rules import Rule, RuleSet
from emovec.vectors import EmotionVectors


class DocumentScorer:
    """Scores batches of documents: profiles per site and emotion, and rule flags.

    Args:
        backend: An emovec backend.
        vectors: The bundle.
        emotions: Emotions to score (default: all).
        sites: Sites (default: `default_site(vectors)`).
        start: First token of each document included in the profile (documents shorter than
            `start + 8` start later than token 1 but keep their last 8 tokens; never token 0,
            an attention sink, unless the document has one token).
        percentiles: Percentile levels (0-100) reported besides mean and max.
        rules: Rules whose firing flags a document (their actions are ignored here).
        calibration: Needed by rules on z-scores, and for `scale="z"`.
        scale: Profiles of "raw" readings or of "z"-scores.
    """

    def __init__(
        self,
        backend: Any,
        vectors: EmotionVectors,
        *,
        emotions: Sequence[str] | None = None,
        sites: "Sequence[Site | str | int] | None" = None,
        start: int = 1,
        percentiles: Sequence[float] = (90.0,),
        rules: Sequence[Rule] = (),
        calibration: Calibration | None = None,
        scale: str = "raw",
    ):
        self.backend = backend
        self.emotions = tuple(vectors.emotions if emotions is None else emotions)
        self.sites = [default_site(vectors)] if sites is None else [Site.parse(s) for s in sites]
        backend.check_sites(self.sites)
        vectors.check(backend, allow_mismatch=True)
        self.probes = Probes(vectors, self.emotions, self.sites)
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}.")
        self.start = start
        self.levels = tuple(float(q) for q in percentiles)
        if any(not 0 <= q <= 100 for q in self.levels):
            raise ValueError(f"Percentiles must lie in [0, 100], got {self.levels}.")
        if scale not in ("raw", "z"):
            raise ValueError(f"scale must be 'raw' or 'z', got {scale!r}.")
        self.calibration = None
        if calibration is not None:
            self.calibration = calibration.check(vectors).select(self.emotions, self.sites)
        if scale == "z" and self.calibration is None:
            raise ValueError("Profiles in z-scores need a calibration (--calibration FILE).")
        self.scale = scale
        self.rules = list(rules)
        layout = Layout(self.emotions, tuple(self.sites), self.calibration is not None)
        self.ruleset = RuleSet(self.rules, layout)
        self.fingerprint = {
            "model_id": backend.model_id,
            "weights_sha256": backend.provenance.weights_sha256,
            "vectors_sha256": vectors_fingerprint(vectors, self.emotions, self.sites),
            "calibration": None
            if self.calibration is None
            else _digest(self.calibration.to_dict()),
            "start": start,
            "percentiles": list(self.levels),
            "rules": [r.to_dict() for r in self.rules],
            "scale": scale,
        }

    def score(self, token_ids: list[list[int]]) -> list[dict[str, Any]]:
        """Profiles and flags of one batch of tokenised documents (right-padded, one forward)."""
        batch = TokenBatch.from_ids(token_ids, pad_id=self.backend.pad_token_id)
        captured = self.backend.capture(batch, self.sites, self.probes.reducer())
        raw = self.probes.readings_from(captured).cpu().float()  # [batch, pos, site, emotion]
        z = None if self.calibration is None else self.calibration.z(raw.double()).float()
        values = z if z is not None and self.scale == "z" else raw
        lengths = batch.lengths
        first = MeanFrom(self.start).first(lengths)
        pos = torch.arange(raw.shape[1])
        use = batch.mask & (pos[None, :] >= first[:, None])
        w = use.to(values.dtype)[:, :, None, None]
        stats: dict[str, Any] = {
            "mean": (values * w).sum(1) / w.sum(1).clamp(min=1),
            "max": values.masked_fill(~use[:, :, None, None], -torch.inf).amax(1),
        }
        if self.levels:
            holed = values.masked_fill(~use[:, :, None, None], torch.nan)
            q = torch.tensor([v / 100 for v in self.levels], dtype=values.dtype)
            per_site = [torch.nanquantile(holed[:, :, s], q, dim=1) for s in range(len(self.sites))]
            quant = torch.stack(per_site, dim=2)  # [level, batch, site, emotion]
            for i, level in enumerate(self.levels):
                stats[f"p{level:g}"] = quant[i]
        flags = self._flags(raw.numpy(), None if z is None else z.numpy(), use.numpy())
        names = [str(s) for s in self.sites]
        docs = []
        for b in range(len(token_ids)):
            profiles = {
                name: {
                    key: dict(zip(self.emotions, _rounded(t[b, s]), strict=True))
                    for key, t in stats.items()
                }
                for s, name in enumerate(names)
            }
            docs.append(
                {
                    "tokens": int(lengths[b]),
                    "scored_from": int(first[b]),
                    "profiles": profiles,
                    "flags": sorted(flags[b]),
                    "flag_positions": flags[b],
                }
            )
        return docs

    def _flags(self, raw: np.ndarray, z: np.ndarray | None, use: np.ndarray) -> list[dict]:
        rows = raw.shape[0]
        out: list[dict[str, int]] = [{} for _ in range(rows)]
        if not self.rules:
            return out
        self.ruleset.reset(rows)
        for j in range(raw.shape[1]):
            if not use[:, j].any():
                continue
            frame = Frame(raw[:, j], None if z is None else z[:, j], use[:, j])
            for rule, fired in zip(self.rules, self.ruleset.step(frame), strict=True):
                for r in np.flatnonzero(fired):
                    out[r].setdefault(rule.name, j)
        return out


def _rounded(t: torch.Tensor) -> list[float]:
    return [round(v, 6) for v in t.double().tolist()]


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def score_texts(
    backend: Any,
    vectors: EmotionVectors,
    texts: Sequence[str],
    *,
    batch_tokens: int = 4096,
    max_tokens: int | None = 1024,
    **scorer: Any,
) -> list[dict[str, Any]]:
    """Profiles of a few in-memory texts (same numbers as `score_corpus`, in input order).

    Keyword arguments go to `DocumentScorer` (emotions, sites, start, percentiles, rules, ...).
    """
    doc_scorer = DocumentScorer(backend, vectors, **scorer)
    ids = []
    for i, text in enumerate(texts):
        row = backend.encode(text)
        if not row:
            raise ValueError(f"Text {i} has no tokens: drop it.")
        ids.append(row[:max_tokens] if max_tokens is not None else row)
    results: dict[int, dict[str, Any]] = {}
    for group in bucket([len(r) for r in ids], batch_tokens):
        for i, doc in zip(group, doc_scorer.score([ids[i] for i in group]), strict=True):
            results[i] = doc
    return [results[i] for i in range(len(ids))]
