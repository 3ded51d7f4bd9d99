"""spearman and auroc: invariants, agreement with the definitions, plus mutants."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec.ops import auroc, spearman

from .strategies import F64, gaussian, scales, seeds


@st.composite
def tied_scores(draw: st.DrawFn, *, min_size: int = 1, max_size: int = 40) -> torch.Tensor:
    """Gaussian scores rounded to a drawn number of decimals: few decimals, many ties."""
    n = draw(st.integers(min_size, max_size))
    decimals = draw(st.integers(0, 3))
    return (gaussian((n,), seed=draw(seeds)) * draw(scales)).round(decimals=decimals)


paired = st.integers(2, 40).flatmap(
    lambda n: st.tuples(st.just(n), seeds, seeds, st.integers(0, 2), st.floats(-1.0, 1.0), scales)
)


def _pair(case) -> tuple[torch.Tensor, torch.Tensor]:
    """Correlated (by `mix`), rounded samples: ties in both; redrawn if one is constant."""
    n, seed_a, seed_b, decimals, mix, scale = case
    a = gaussian((n,), seed=seed_a)
    b = mix * a + gaussian((n,), seed=seed_b) * (1 - abs(mix) + 0.1)
    a, b = (a * scale).round(decimals=decimals), b.round(decimals=decimals)
    a[0], a[-1] = a.min() - 1.0, a.max() + 1.0  # never constant
    b[0], b[-1] = b.min() - 1.0, b.max() + 1.0
    return a, b


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks by definition (1 + number below + half the others equal), independent of scipy."""
    below = (x[None, :] < x[:, None]).sum(1)
    equal = (x[None, :] == x[:, None]).sum(1)
    return (1 + below + (equal - 1) / 2).to(F64)


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / (a.norm() * b.norm()))


# -- mutants ------------------------------------------------------------------------------------
def spearman_as_pearson(a, b):
    return _pearson(a.double(), b.double())


def spearman_of_argsort(a, b):
    """Uses the sorting permutation as if it were the ranks (argsort instead of its inverse)."""
    return _pearson(a.argsort().double(), b.argsort().double())


def spearman_with_ordinal_ranks(a, b):
    """Breaks ties by position instead of sharing the average rank."""
    return _pearson(
        a.argsort(stable=True).argsort().double(), b.argsort(stable=True).argsort().double()
    )


def auroc_normal_approximation(positive, negative):
    """P(pos > neg) for normals with the samples' means and variances: not rank-based."""
    gap = positive.mean() - negative.mean()
    spread = (positive.var(correction=0) + negative.var(correction=0)).sqrt() + 1e-12
    return float(0.5 * (1 + torch.erf(gap / spread / math.sqrt(2))))


def auroc_without_ties(positive, negative):
    return float((positive[:, None] > negative[None, :]).double().mean())


def auroc_with_ordinal_ranks(positive, negative):
    both = torch.cat([positive, negative])
    ranks = both.argsort(stable=True).argsort().double() + 1
    n = len(positive)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * len(negative)))


# -- checkers -----------------------------------------------------------------------------------
def assert_monotone_transform_gives_one(op, a):
    assert op(a, torch.exp(3.0 * a / a.abs().max())) == pytest.approx(1.0, abs=1e-12)
    assert op(a, -(a**3)) == pytest.approx(-1.0, abs=1e-12)


def assert_matches_definition(op, a, b):
    want = _pearson(_average_ranks(a), _average_ranks(b))
    assert op(a, b) == pytest.approx(want, abs=1e-12)


def assert_auroc_rank_based(op, positive, negative):
    """Only the order of the pooled scores matters: a strictly increasing map changes nothing."""
    top = max(float(positive.abs().max()), float(negative.abs().max()), 1e-300)
    squash = lambda s: torch.exp(5.0 * s / top) + s / top  # noqa: E731
    assert op(squash(positive), squash(negative)) == pytest.approx(
        op(positive, negative), abs=1e-12
    )


def assert_swapping_sides_complements(op, positive, negative):
    assert op(positive, negative) + op(negative, positive) == pytest.approx(1.0, abs=1e-12)


def assert_auroc_definition(op, positive, negative):
    """Exactly the share of (positive, negative) pairs ordered right, ties counting half."""
    greater = int((positive[:, None] > negative[None, :]).sum())
    ties = int((positive[:, None] == negative[None, :]).sum())
    assert op(positive, negative) == float((greater + 0.5 * ties) / (len(positive) * len(negative)))


# -- spearman -----------------------------------------------------------------------------------
@given(tied_scores(min_size=2).filter(lambda t: bool(t.amax() > t.amin())))
def test_spearman_of_a_monotone_transform_is_one(a):
    assert_monotone_transform_gives_one(spearman, a)


def test_spearman_mutant_pearson_fails():
    with pytest.raises(AssertionError):
        assert_monotone_transform_gives_one(spearman_as_pearson, gaussian((20,), seed=0))


@given(paired)
def test_spearman_matches_the_average_rank_definition(case):
    assert_matches_definition(spearman, *_pair(case))


@pytest.mark.parametrize("mutant", [spearman_of_argsort, spearman_with_ordinal_ranks])
def test_spearman_mutant_ranks_fail(mutant):
    a, b = _pair((30, 1, 2, 0, 0.5, 1.0))  # rounded to integers: ties
    with pytest.raises(AssertionError):
        assert_matches_definition(mutant, a, b)


@given(paired)
def test_spearman_symmetric(case):
    a, b = _pair(case)
    assert spearman(a, b) == pytest.approx(spearman(b, a), abs=1e-12)


def test_spearman_names_bad_input(shipped):
    x = gaussian((5,), seed=0)
    with pytest.raises(ValueError, match="a contains NaN or Inf"):
        shipped.spearman(torch.tensor([1.0, math.nan, 2.0]), torch.ones(3))
    with pytest.raises(ValueError, match="b contains NaN or Inf"):
        shipped.spearman(x, torch.full((5,), math.inf))
    with pytest.raises(ValueError, match="paired samples"):
        shipped.spearman(x, x[:4])
    with pytest.raises(ValueError, match="one-dimensional"):
        shipped.spearman(x[None], x[None])
    with pytest.raises(ValueError, match="at least 2"):
        shipped.spearman(x[:1], x[:1])
    with pytest.raises(ValueError, match="constant"):
        shipped.spearman(x, torch.ones(5))


# -- auroc --------------------------------------------------------------------------------------
sides = st.tuples(tied_scores(), tied_scores())


@given(sides)
def test_auroc_is_rank_based(case):
    assert_auroc_rank_based(auroc, *case)


def test_auroc_mutant_normal_approximation_fails():
    positive, negative = gaussian((20,), seed=1) + 0.5, gaussian((25,), seed=2)
    with pytest.raises(AssertionError):
        assert_auroc_rank_based(auroc_normal_approximation, positive, negative)


@given(sides)
def test_auroc_swapping_sides_complements(case):
    assert_swapping_sides_complements(auroc, *case)


def test_auroc_mutant_without_ties_fails_complement():
    positive, negative = torch.tensor([1.0, 2.0, 2.0]), torch.tensor([2.0, 0.0])
    with pytest.raises(AssertionError):
        assert_swapping_sides_complements(auroc_without_ties, positive, negative)


@given(sides)
def test_auroc_is_the_pairwise_definition(case):
    assert_auroc_definition(auroc, *case)


@pytest.mark.parametrize("mutant", [auroc_without_ties, auroc_with_ordinal_ranks])
def test_auroc_mutant_tie_handling_fails_definition(mutant):
    positive, negative = torch.tensor([1.0, 2.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 0.0])
    with pytest.raises(AssertionError):
        assert_auroc_definition(mutant, positive, negative)


@given(sides)
def test_auroc_agrees_with_scikit_learn(case):
    from sklearn.metrics import roc_auc_score

    positive, negative = case
    labels = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    want = roc_auc_score(labels, torch.cat([positive, negative]).numpy())
    assert auroc(positive, negative) == pytest.approx(want, abs=1e-12)


def test_auroc_names_bad_input(shipped):
    with pytest.raises(ValueError, match="one positive and one negative"):
        shipped.auroc(torch.ones(3), torch.zeros(0))
    with pytest.raises(ValueError, match="negative contains NaN or Inf"):
        shipped.auroc(torch.ones(3), torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match="positive contains NaN or Inf"):
        shipped.auroc(torch.tensor([-math.inf]), torch.ones(2))
    with pytest.raises(ValueError, match="one-dimensional"):
        shipped.auroc(torch.ones(2, 2), torch.ones(2))


def test_rank_statistics_are_pure_and_take_any_float_dtype():
    a = gaussian((12,), seed=4)
    before = a.clone()
    for dtype in (torch.float16, torch.bfloat16, torch.float32, F64):
        assert -1.0 <= spearman(a.to(dtype), a.flip(0).to(dtype)) <= 1.0
        assert 0.0 <= auroc(a[:5].to(dtype), a[5:].to(dtype)) <= 1.0
    assert torch.equal(a, before)
