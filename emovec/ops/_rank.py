"""Rank statistics: typed wrappers over scipy's ranking (ties share their average rank).

They compute on the CPU in float64 numpy and return Python floats. scipy is imported inside the
functions, so `import emovec` stays light.
"""

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from . import _checks


def _column(t: Tensor, name: str) -> np.ndarray:
    if t.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional [n], got shape {tuple(t.shape)}.")
    _checks.finite(t, name)
    return t.detach().to(device="cpu", dtype=torch.float64).numpy()


def spearman(
    a: Float[Tensor, " n"],
    b: Float[Tensor, " n"],
) -> float:
    """Spearman's rank correlation of paired samples (`scipy.stats.spearmanr`).

    Ties get their average rank, so rho is the Pearson correlation of the two rank vectors.

    Args:
        a: One value per item.
        b: The paired values, item for item.

    Returns:
        rho in [-1, 1]: 1 when `b` is a strictly increasing function of `a`.

    Raises:
        ValueError: On NaN or Inf, inputs that are not 1-D or differ in length, fewer than 2
            items, or a constant input (rho is undefined).

    Example:
        >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0])
        >>> spearman(x, x.exp()), spearman(x, -x)
        (1.0, -1.0)
    """
    from scipy.stats import spearmanr

    left, right = _column(a, "a"), _column(b, "b")
    if left.shape != right.shape:
        raise ValueError(
            f"a has {left.shape[0]} items but b has {right.shape[0]}: pass paired samples."
        )
    if left.shape[0] < 2:
        raise ValueError(f"spearman needs at least 2 items, got {left.shape[0]}.")
    if np.ptp(left) == 0 or np.ptp(right) == 0:
        raise ValueError("a or b is constant: rho is undefined; drop the constant variable.")
    rho, _ = spearmanr(left, right)
    return float(np.asarray(rho))


def auroc(
    positive: Float[Tensor, " n_pos"],
    negative: Float[Tensor, " n_neg"],
) -> float:
    """Area under the ROC curve of a score: P(positive > negative), ties counting one half.

    This is the Mann-Whitney U statistic of the positives divided by `n_pos * n_neg`, with U
    taken from the positives' rank sum under `scipy.stats.rankdata` (average ranks for ties).
    `scipy.stats.mannwhitneyu` gives the same U but also computes a p-value, which costs
    several times more and is not needed here.

    Args:
        positive: Scores of the positive examples (e.g. prompts that should alert).
        negative: Scores of the negative examples.

    Returns:
        The AUROC in [0, 1]: 1 when every positive outscores every negative, 0.5 at chance.

    Raises:
        ValueError: On NaN or Inf, inputs that are not 1-D, or an empty side.

    Example:
        >>> auroc(torch.tensor([0.35, 0.8]), torch.tensor([0.1, 0.4]))
        0.75
    """
    from scipy.stats import rankdata

    pos, neg = _column(positive, "positive"), _column(negative, "negative")
    n_pos, n_neg = pos.shape[0], neg.shape[0]
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"auroc needs at least one positive and one negative score, got {n_pos} and {n_neg}."
        )
    # Average ranks are multiples of 1/2, so the rank sum and U are exact in float64.
    rank_sum = float(rankdata(np.concatenate([pos, neg]))[:n_pos].sum())
    u = rank_sum - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)
