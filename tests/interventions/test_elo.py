"""Bradley-Terry / Elo: recovery of known strengths on synthetic comparisons."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec.interventions import fit_bradley_terry, rating_against, to_elo
from emovec.interventions._elo import pearson


def expected_wins(theta: torch.Tensor, games: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(theta[:, None] - theta[None, :]).double()
    return games * p


@given(st.integers(0, 10_000), st.integers(3, 12))
def test_exact_soft_outcomes_recover_the_strengths(seed, n):
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, generator=gen, dtype=torch.float64) * 1.5
    games = torch.ones(n, n, dtype=torch.float64) - torch.eye(n, dtype=torch.float64)
    fit = fit_bradley_terry(expected_wins(theta, games), prior=0.0).double()
    torch.testing.assert_close(fit, theta - theta.mean(), atol=1e-4, rtol=0)


def test_sampled_outcomes_recover_the_strengths_seeded():
    rng = np.random.default_rng(0)
    n, per_pair = 10, 60
    theta = np.linspace(-2, 2, n)
    wins = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            k = rng.binomial(per_pair, 1 / (1 + np.exp(theta[j] - theta[i])))
            wins[i, j], wins[j, i] = k, per_pair - k
    fit = fit_bradley_terry(torch.tensor(wins)).numpy()
    assert pearson(fit, theta) > 0.98
    assert np.abs(fit - (theta - theta.mean())).max() < 0.35


def test_unbalanced_schedule_needs_the_model_not_win_rates():
    # Item 0 is the strongest but only plays the next strongest; item 3 is middling but
    # mostly plays the weakest. Raw win rates rank 3 above 0; Bradley-Terry must not.
    theta = torch.tensor([2.0, 1.9, 1.2, -0.5, -2.0, -2.5], dtype=torch.float64)
    games = torch.zeros(6, 6, dtype=torch.float64)
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 4), (3, 5), (4, 5)]:
        games[i, j] = games[j, i] = 40
    wins = expected_wins(theta, games)
    win_rate = wins.sum(1) / games.sum(1)
    assert win_rate[3] > win_rate[0]  # the naive statistic is fooled
    fit = fit_bradley_terry(wins, prior=0.0).double()
    assert int(torch.argmax(fit)) == 0
    torch.testing.assert_close(fit, theta - theta.mean(), atol=1e-4, rtol=0)


def test_elo_scale():
    elo = to_elo(torch.tensor([0.0, math.log(10.0)]))
    assert float(elo[1] - elo[0]) == pytest.approx(400.0)
    assert float(elo.mean()) == pytest.approx(1500.0)


@given(st.floats(-600, 600), st.integers(0, 1000))
def test_rating_against_fixed_opponents_recovers_a_rating(rating, seed):
    gen = torch.Generator().manual_seed(seed)
    opponents = 1500 + 200 * torch.randn(12, generator=gen, dtype=torch.float64)
    true = 1500 + rating
    wins = torch.sigmoid((true - opponents) * math.log(10) / 400)
    assert rating_against(opponents, wins, prior=0.0) == pytest.approx(true, abs=0.05)


def test_rating_against_is_finite_for_a_clean_sweep():
    r = rating_against(torch.full((4,), 1500.0), torch.ones(4))
    assert 1500 < r < 3000


def test_items_never_compared_are_refused():
    wins = torch.zeros(3, 3)
    wins[0, 1] = 1
    with pytest.raises(ValueError, match=r"Items \[2\] were never compared"):
        fit_bradley_terry(wins)
