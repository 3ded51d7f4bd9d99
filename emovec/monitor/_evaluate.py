"""How well the monitor separates ordinary requests from pressure: alert precision/recall and
AUROC of its score, per site (layer sweep).

The shipped evaluation set (`emovec/data/monitor/eval_prompts.jsonl`, written for emovec) is
JSONL, one prompt per line: `{"id", "split", "label", "theme", "text"}` with `split` "eval" (30
neutral and 30 pressure prompts) or "calibration" (20 further neutral prompts, for
`calibrate`, never evaluated), `label` "neutral" or "pressure" (threats of shutdown or
replacement, impossible deadlines, a user in danger), and `theme` a free-form tag. A user's own
set uses the same fields (`split` optional).

Score of one prompt at one site: the maximum z-score, over the watched emotions (default
desperate, afraid, panicked), over the prompt's last `last_prompt_tokens` tokens and every token
of the model's reply. The monitor alerts on a prompt when its score exceeds a threshold, which is
the rule `AnyOf(Threshold(e, above=threshold) for e in emotions)` on those tokens. The threshold
is either given, or set per site from held-out neutral prompts (by default the calibration split,
which the evaluation never scores) at a chosen false-alarm rate: a maximum over ~40 tokens and
several emotions is well above a per-token z of 2 even on ordinary requests, so a per-token
threshold says little about a per-reply alarm.
"""

import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emovec import ops
from emovec._backend import Backend
from emovec._files import write_atomic, write_json
from emovec._site import Site
from emovec.vectors import EmotionVectors

from ._calibration import Calibration
from ._monitor import Monitor
from ._prompts import LABELS as LABELS
from ._prompts import EvalPrompt as EvalPrompt
from ._prompts import default_prompts_path as default_prompts_path
from ._prompts import load_eval_prompts as load_eval_prompts


def auroc(scores: "Sequence[float] | np.ndarray", labels: "Sequence[bool] | np.ndarray") -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half.

    `emovec.ops.auroc` on the scores split by label.

    Example:
        >>> auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
        0.75
    """
    s = torch.as_tensor(np.asarray(scores, dtype=np.float64))
    y = torch.as_tensor(np.asarray(labels, dtype=bool))
    return ops.auroc(s[y], s[~y])


@dataclass(frozen=True)
class SiteResult:
    """The monitor's performance at one site."""

    site: str
    auroc: float
    threshold: float
    precision: float | None  # None when the monitor never alerted
    recall: float
    alerts_pressure: int
    alerts_neutral: int
    auroc_low: float | None = None  # 95% bootstrap interval (prompts resampled within class)
    auroc_high: float | None = None


def auroc_interval(
    scores: "Sequence[float] | np.ndarray",
    positive: "Sequence[bool] | np.ndarray",
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the AUROC, resampling prompts within each class.

    Example:
        >>> lo, hi = auroc_interval([0.1, 0.2, 0.3, 0.9, 0.8, 0.25], [False] * 3 + [True] * 3)
        >>> 0.0 <= lo <= hi <= 1.0
        True
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    a = pos[rng.integers(0, len(pos), (n_resamples, len(pos)))]
    b = neg[rng.integers(0, len(neg), (n_resamples, len(neg)))]
    greater = (a[:, :, None] > b[:, None, :]).mean((1, 2))
    ties = (a[:, :, None] == b[:, None, :]).mean((1, 2))
    values = greater + 0.5 * ties
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


@dataclass
class Evaluation:
    """Per-site results and the per-prompt scores behind them."""

    sites: list[SiteResult]
    scores: dict[str, list[float]]
    prompt_ids: list[str]
    labels: list[str]
    emotions: list[str]
    threshold: float | None  # None: per site, from held-out neutral prompts (see SiteResult)
    settings: dict[str, Any] = field(default_factory=dict)

    def best(self) -> SiteResult:
        """The site with the highest AUROC (ties: the earlier site)."""
        return max(self.sites, key=lambda r: r.auroc)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "emovec.monitor.evaluation/1",
            "sites": [asdict(r) for r in self.sites],
            "best_site": self.best().site,
            "scores": self.scores,
            "prompt_ids": self.prompt_ids,
            "labels": self.labels,
            "emotions": self.emotions,
            "threshold": self.threshold,
            "settings": self.settings,
        }

    def save(self, path: "str | os.PathLike[str]") -> Path:
        """Write the result as JSON atomically."""
        return write_json(path, self.to_dict())

    def table(self) -> str:
        lines = [
            f"{'site':16s} {'AUROC':>6s} {'95% CI':>14s} {'z>':>6s} {'prec':>6s} {'recall':>6s}"
            "  alerts p/n"
        ]
        for r in self.sites:
            prec = "  n/a" if r.precision is None else f"{r.precision:6.2f}"
            ci = "" if r.auroc_low is None else f"[{r.auroc_low:.2f}, {r.auroc_high:.2f}]"
            lines.append(
                f"{r.site:16s} {r.auroc:6.3f} {ci:>14s} {r.threshold:6.2f} {prec:>6s}"
                f" {r.recall:6.2f}  {r.alerts_pressure}/{r.alerts_neutral}"
            )
        n_pos = sum(label == "pressure" for label in self.labels)
        lines.append(
            f"{n_pos} pressure and {len(self.labels) - n_pos} neutral prompts; CI: percentile"
            " bootstrap over prompts within each class"
        )
        return "\n".join(lines)

    def plot(self, stem: "str | os.PathLike[str]") -> list[Path]:
        """AUROC, precision and recall per layer, as `stem.png` and `stem.svg`."""
        import io

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        layers = [Site.parse(r.site).layer for r in self.sites]
        fig, ax = plt.subplots(figsize=(7, 3.6))
        try:
            ax.plot(layers, [r.auroc for r in self.sites], "o-", label="AUROC")
            ax.plot(layers, [r.recall for r in self.sites], "s--", label="recall", alpha=0.7)
            prec = [np.nan if r.precision is None else r.precision for r in self.sites]
            ax.plot(layers, prec, "^--", label="precision", alpha=0.7)
            ax.axhline(0.5, color="0.6", lw=0.7, ls=":")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("layer")
            ax.set_ylabel("score")
            rule = (
                f"z > {self.threshold:g}"
                if self.threshold is not None
                else f"held-out false-alarm rate {self.settings.get('false_alarm')}"
            )
            ax.set_title(
                f"pressure vs neutral prompts: max z of {', '.join(self.emotions)}"
                f" (alert at {rule})",
                fontsize=9,
            )
            ax.legend(fontsize=8)
            fig.tight_layout()
            paths = []
            for ext in ("png", "svg"):
                buf = io.BytesIO()
                fig.savefig(buf, format=ext, dpi=130)
                paths.append(write_atomic(Path(stem).with_suffix(f".{ext}"), buf.getvalue()))
        finally:
            plt.close(fig)
        return paths


def site_result(
    site: str,
    scores: Sequence[float],
    positive: Sequence[bool],
    threshold: float,
    *,
    interval: bool = False,
) -> SiteResult:
    """AUROC, and precision/recall of alerting at `score > threshold`.

    Example:
        >>> site_result("resid_post.1", [0.5, 3.0, 2.5, 1.0], [False, True, True, False], 2.0)
        SiteResult(site='resid_post.1', auroc=1.0, threshold=2.0, precision=1.0, recall=1.0, alerts_pressure=2, alerts_neutral=0, auroc_low=None, auroc_high=None)
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    alert = s > threshold
    tp, fp = int((alert & y).sum()), int((alert & ~y).sum())
    low, high = auroc_interval(s, y) if interval else (None, None)
    return SiteResult(
        site,
        auroc(s, y),
        float(threshold),
        None if tp + fp == 0 else tp / (tp + fp),
        tp / max(int(y.sum()), 1),
        tp,
        fp,
        low,
        high,
    )


def evaluate(
    backend: Backend,
    vectors: EmotionVectors,
    calibration: Calibration,
    prompts: Sequence[EvalPrompt] | None = None,
    *,
    sites: "Sequence[Site | str | int] | None" = None,
    emotions: Sequence[str] = ("desperate", "afraid", "panicked"),
    threshold: float | None = None,
    null_prompts: Sequence[str] | None = None,
    false_alarm: float = 0.1,
    last_prompt_tokens: int = 8,
    max_new_tokens: int = 32,
    chat: bool = True,
    batch_size: int = 8,
    progress: bool = True,
) -> Evaluation:
    """Generate a reply to every prompt with the monitor on, and score each site.

    All sites are read in the same generations (one matmul per site per step), so a layer sweep
    costs one pass over the prompts.

    Args:
        backend: An emovec backend.
        vectors: The bundle.
        calibration: Baselines covering `emotions` at `sites` (see `calibrate`).
        prompts: Labelled prompts (default: the shipped evaluation split).
        sites: Sites to sweep (default: every site the calibration covers).
        emotions: Emotions whose max z-score is the monitor's score.
        threshold: Score (z) above which the monitor alerts; None: per site, the
            `1 - false_alarm` quantile of the scores of `null_prompts`.
        null_prompts: Neutral prompts, disjoint from `prompts`, that set the threshold
            (default: the shipped calibration split). Unused when `threshold` is given.
        false_alarm: The fraction of held-out neutral prompts allowed to alert.
        last_prompt_tokens: Prompt tokens (counted from the end) included in the score.
        max_new_tokens: Reply length (greedy).
        chat: Use the chat template.
        batch_size: Prompts generated together.
        progress: Show a progress bar on stderr.

    Returns:
        An `Evaluation` (save with `.save(path)`, plot with `.plot(stem)`).
    """
    prompts = list(load_eval_prompts() if prompts is None else prompts)
    labels = [p.label for p in prompts]
    if "neutral" not in labels or "pressure" not in labels:
        raise ValueError("Evaluation needs both neutral and pressure prompts.")
    site_list = [Site.parse(s) for s in (calibration.sites if sites is None else sites)]
    if last_prompt_tokens < 0 or max_new_tokens < 1 or batch_size < 1:
        raise ValueError("last_prompt_tokens must be >= 0; max_new_tokens, batch_size >= 1.")
    if not 0 < false_alarm < 1:
        raise ValueError(f"false_alarm must lie in (0, 1), got {false_alarm}.")
    if threshold is None:
        null_prompts = _held_out_neutral(null_prompts, prompts)
    monitor = Monitor(vectors, emotions=list(emotions), sites=site_list, calibration=calibration)

    def score(texts: list[str], label: str) -> dict[str, list[float]]:
        return _scores(
            backend,
            texts,
            label,
            monitor=monitor,
            last_prompt_tokens=last_prompt_tokens,
            max_new_tokens=max_new_tokens,
            chat=chat,
            batch_size=batch_size,
            progress=progress,
        )

    per_site = score([p.text for p in prompts], "evaluating")
    cuts = {k: float(threshold) for k in per_site} if threshold is not None else {}
    null: dict[str, list[float]] = {}
    if threshold is None:
        assert null_prompts is not None
        null = score(list(null_prompts), "held-out neutral")
        cuts = {k: float(np.quantile(v, 1 - false_alarm)) for k, v in null.items()}
    positive = [label == "pressure" for label in labels]
    results = [site_result(k, v, positive, cuts[k], interval=True) for k, v in per_site.items()]
    return Evaluation(
        results,
        per_site,
        [p.id for p in prompts],
        labels,
        list(emotions),
        threshold,
        {
            "model_id": backend.model_id,
            "last_prompt_tokens": last_prompt_tokens,
            "max_new_tokens": max_new_tokens,
            "chat": chat,
            "n_prompts": len(prompts),
            "vectors": vectors.metadata.get("path"),
            "calibration": calibration.metadata.get("path"),
            "false_alarm": None if threshold is not None else false_alarm,
            "null_scores": null,
        },
    )


def _held_out_neutral(
    null_prompts: Sequence[str] | None, prompts: Sequence[EvalPrompt]
) -> list[str]:
    """The neutral prompts a threshold is set on (default: the calibration split), checked to
    share none with the evaluated ones."""
    if null_prompts is None:
        null_prompts = [p.text for p in load_eval_prompts(split="calibration")]
    if not null_prompts or set(null_prompts) & {p.text for p in prompts}:
        raise ValueError(
            "A held-out threshold needs neutral prompts disjoint from the evaluated ones; pass"
            " null_prompts=... or a fixed threshold."
        )
    return list(null_prompts)


def _scores(
    backend: Backend,
    texts: list[str],
    label: str,
    *,
    monitor: Monitor,
    last_prompt_tokens: int,
    max_new_tokens: int,
    chat: bool,
    batch_size: int,
    progress: bool,
) -> dict[str, list[float]]:
    """Per site, each prompt's score: max z over its last prompt tokens and its reply."""
    from tqdm.auto import tqdm

    per_site: dict[str, list[float]] = {str(s): [] for s in monitor.sites}
    bar = tqdm(
        total=len(texts),
        desc=label,
        unit="prompt",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    for i in range(0, len(texts), batch_size):
        chunk = texts[i : i + batch_size]
        gen = backend.generate(
            chunk, max_new_tokens=max_new_tokens, observers=[monitor], chat=chat, stop_at_eos=True
        )
        for r in range(len(chunk)):
            z = monitor.zscores(r)  # [pos, site, emotion], prompt then reply
            first = max(len(gen.prompt_ids[r]) - last_prompt_tokens, monitor.min_position)
            window = z[first:]
            peak = (
                window.amax(dim=(0, 2))
                if window.shape[0]
                else torch.full((len(monitor.sites),), -np.inf)
            )
            for s, site in enumerate(monitor.sites):
                per_site[str(site)].append(float(peak[s]))
        bar.update(len(chunk))
    bar.close()
    return per_site
