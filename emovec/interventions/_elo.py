"""Bradley-Terry ratings from (soft) pairwise outcomes, on the Elo scale.

`wins[i, j]` is how often i beat j; outcomes may be fractional (a model's probability of
choosing i). Ratings are fitted by Hunter's (2004) minorisation-maximisation iteration, which
increases the likelihood at every step and needs no step size; the result is reported as Elo
(400 / ln 10 points per unit of log-strength, mean 1500).
"""

import math

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

ELO_PER_NAT = 400.0 / math.log(10.0)
ELO_MEAN = 1500.0


def fit_bradley_terry(
    wins: Float[Tensor, "n n"],
    *,
    prior: float = 0.1,
    iterations: int = 10_000,
    tol: float = 1e-10,
) -> Float[Tensor, " n"]:
    """Bradley-Terry log-strengths (mean 0) from a matrix of (soft) wins.

    Args:
        wins: `wins[i, j]` = (fractional) number of times i beat j; the diagonal is ignored.
        prior: Pseudo-wins added both ways to every compared pair, so that an item that won
            (or lost) everything gets a finite rating.
        iterations: Upper bound on MM iterations.
        tol: Stop when no log-strength moves by more than this.

    Returns:
        Log-strengths `theta`, with `P(i beats j) = sigmoid(theta_i - theta_j)`.

    Raises:
        ValueError: On negative or non-finite wins, or an item never compared.

    Example:
        >>> w = torch.tensor([[0.0, 3.0], [1.0, 0.0]])
        >>> theta = fit_bradley_terry(w, prior=0.0)
        >>> round(float(theta[0] - theta[1]), 4) == round(math.log(3.0), 4)
        True
    """
    w = wins.double().clone()
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
        raise ValueError(f"wins must be a square [n, n] matrix with n >= 2, got {tuple(w.shape)}.")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError("wins must be finite and non-negative.")
    w.fill_diagonal_(0.0)
    games = w + w.T
    compared = games > 0
    never = torch.nonzero(~compared.any(1)).flatten().tolist()
    if never:
        raise ValueError(f"Items {never} were never compared: every item needs a comparison.")
    w = w + prior * compared
    games = w + w.T
    total_wins = w.sum(1)
    p = torch.ones(w.shape[0], dtype=torch.float64)
    for _ in range(iterations):
        denom = (games / (p[:, None] + p[None, :])).sum(1)
        new = total_wins / denom
        new = new / torch.exp(torch.log(new).mean())
        moved = float((torch.log(new) - torch.log(p)).abs().max())
        p = new
        if moved < tol:
            break
    theta = torch.log(p)
    return (theta - theta.mean()).float()


def to_elo(theta: Float[Tensor, " n"]) -> Float[Tensor, " n"]:
    """Log-strengths to Elo points (mean 1500).

    Example:
        >>> to_elo(torch.tensor([0.0, math.log(10.0)])).round().tolist()
        [1300.0, 1700.0]
    """
    return (theta - theta.mean()) * ELO_PER_NAT + ELO_MEAN


def rating_against(
    opponents: Float[Tensor, " k"],
    wins: Float[Tensor, " k"],
    *,
    prior: float = 0.1,
    bound: float = 5000.0,
) -> float:
    """Elo rating of one item given its (soft) wins against opponents of fixed Elo ratings.

    Solves the 1-d Bradley-Terry likelihood equation (expected wins = observed wins, with
    `prior` pseudo-wins each way per game) by bisection; monotone, so the root is unique.

    Args:
        opponents: Elo of each opponent (one entry per game).
        wins: Outcome of each game in [0, 1] (1: the item won).

    Example:
        >>> round(rating_against(torch.tensor([1500.0, 1500.0]), torch.tensor([0.5, 0.5])))
        1500
    """
    opp = opponents.double()
    w = wins.double()
    if opp.shape != w.shape or opp.ndim != 1 or opp.numel() == 0:
        raise ValueError("opponents and wins must be 1-d of the same non-zero length.")
    if bool(((w < 0) | (w > 1)).any()) or not bool(torch.isfinite(w).all()):
        raise ValueError("wins must lie in [0, 1].")
    target = float((w + prior).sum() / (1 + 2 * prior))

    def expected(r: float) -> float:
        return float(torch.sigmoid((r - opp) / ELO_PER_NAT).sum())

    lo, hi = float(opp.min()) - bound, float(opp.max()) + bound
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if expected(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def pearson(x: "np.ndarray | Tensor", y: "np.ndarray | Tensor") -> float:
    """Pearson correlation (NaN when either side is constant).

    Example:
        >>> pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0])) > 0.99
        True
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")
