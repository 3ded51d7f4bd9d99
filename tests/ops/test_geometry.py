"""rsa, procrustes, kmeans, hierarchical_order, bootstrap_ci: invariants, plus mutants."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emovec.ops import (
    ConfidenceInterval,
    bootstrap_ci,
    cosine_matrix,
    hierarchical_order,
    kmeans,
    procrustes,
    rsa,
)

from .strategies import F64, from_svd, gaussian, haar_orthogonal, seeds, spectrum


def _similarity(n: int, seed: int) -> torch.Tensor:
    return cosine_matrix(*(2 * [gaussian((n, 5), seed=seed)]))


@st.composite
def planted_clusters(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    """k tight clusters around orthogonal centres of norm 20 (rows shuffled), and their labels:
    far apart in distance and in angle, so k-means and linkage must both recover them."""
    k = draw(st.integers(2, 4))
    d, per, seed = draw(st.integers(k, 6)), draw(st.integers(2, 5)), draw(seeds)
    centres = 20.0 * haar_orthogonal(d, torch.Generator().manual_seed(seed))[:k]
    labels = torch.arange(k).repeat_interleave(per)
    rows = centres[labels] + gaussian((k * per, d), seed=seed + 1, scale=0.1)
    perm = torch.randperm(k * per, generator=torch.Generator().manual_seed(seed + 2))
    return rows[perm], labels[perm]


def _same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two labelings group the rows alike, whatever the label names."""
    return torch.equal(a[:, None] == a[None, :], b[:, None] == b[None, :])


def _planted(seed: int, k: int = 3, per: int = 6, d: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """k tight clusters far apart, rows shuffled; returns rows and true labels."""
    centres = gaussian((k, d), seed=seed, scale=20.0)
    labels = torch.arange(k).repeat_interleave(per)
    rows = centres[labels] + gaussian((k * per, d), seed=seed + 1, scale=0.1)
    perm = torch.randperm(k * per, generator=torch.Generator().manual_seed(seed))
    return rows[perm], labels[perm]


# -- mutants ------------------------------------------------------------------------------------
def rsa_pearson(a, b):
    iu = torch.triu_indices(a.shape[0], a.shape[0], offset=1)
    return float(torch.corrcoef(torch.stack([a[iu[0], iu[1]], b[iu[0], iu[1]]]))[0, 1])


def rsa_on_full_matrices(a, b):
    from scipy.stats import spearmanr

    return float(spearmanr(a.flatten().numpy(), b.flatten().numpy()).statistic)


def procrustes_transposed(a, b):
    fit = procrustes(a, b)
    return fit._replace(rotation=fit.rotation.T)


def kmeans_labels_in_wrong_order(x, k, *, seed=0):
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed + 1))
    return kmeans(x[perm], k, seed=seed)


def order_treating_similarity_as_distance(sim):
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    dist = sim.double().numpy() + 1.0  # shifted to be non-negative, but still a similarity
    np.fill_diagonal(dist, 0.0)
    order = leaves_list(linkage(squareform(dist, checks=False), "average", optimal_ordering=True))
    return torch.from_numpy(order.astype(np.int64))


def bootstrap_without_replacement(fn, samples, *, n_resamples=200, confidence=0.95, seed=0):
    g = torch.Generator().manual_seed(seed)
    stats = torch.tensor(
        [float(fn(samples[torch.randperm(len(samples), generator=g)])) for _ in range(n_resamples)]
    )
    low, high = torch.quantile(stats, torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2]))
    return ConfidenceInterval(float(fn(samples)), float(low), float(high))


# -- checkers -----------------------------------------------------------------------------------
def assert_rank_based(op, sim):
    """RSA only sees ranks: a strictly increasing transform of one matrix changes nothing."""
    assert abs(op(sim, torch.exp(3.0 * sim)) - 1.0) < 1e-12


def assert_ignores_diagonal(op, a, b):
    assert abs(op(a, b) - op(a, b + 5.0 * torch.eye(a.shape[0], dtype=b.dtype))) < 1e-12


def assert_recovers_rotation(op, a, q):
    fit = op(a, a @ q)
    assert torch.allclose(fit.rotation, q, atol=1e-8)
    assert torch.allclose(fit.aligned_cosine, torch.ones(a.shape[0], dtype=a.dtype), atol=1e-10)


def assert_recovers_planted(op, x, truth, k):
    labels = op(x, k, seed=0).labels
    pairs = {(int(t), int(g)) for t, g in zip(truth, labels, strict=True)}
    assert len(pairs) == k and len({g for _, g in pairs}) == k


def assert_blocks_contiguous(op, sim, blocks):
    order = op(sim)
    assert sorted(order.tolist()) == list(range(sim.shape[0]))
    seq = blocks[order].tolist()
    assert sum(a != b for a, b in zip(seq, seq[1:], strict=False)) == len(set(seq)) - 1


def assert_interval_brackets(op, samples):
    ci = op(lambda s: s.mean(), samples, n_resamples=200, seed=0)
    assert ci.low < ci.estimate < ci.high


# -- rsa ----------------------------------------------------------------------------------------
@given(st.integers(3, 10), seeds)
def test_rsa_is_rank_based(n, seed):
    assert_rank_based(rsa, _similarity(n, seed))


def test_rsa_mutant_pearson_fails():
    with pytest.raises(AssertionError):
        assert_rank_based(rsa_pearson, _similarity(8, 0))


@given(st.integers(3, 10), seeds)
def test_rsa_ignores_diagonal(n, seed):
    assert_ignores_diagonal(rsa, _similarity(n, seed), _similarity(n, seed + 1))


def test_rsa_mutant_full_matrix_fails():
    with pytest.raises(AssertionError):
        assert_ignores_diagonal(rsa_on_full_matrices, _similarity(6, 0), _similarity(6, 1))


@given(st.integers(3, 10), seeds)
def test_rsa_symmetric(n, seed):
    a, b = _similarity(n, seed), _similarity(n, seed + 1)
    assert abs(rsa(a, b) - rsa(b, a)) < 1e-12


@given(st.integers(3, 10), seeds)
def test_rsa_of_negated_matrix_is_minus_one(n, seed):
    a = _similarity(n, seed)
    assert abs(rsa(a, -a) + 1.0) < 1e-12


def test_rsa_names_bad_input(shipped):
    with pytest.raises(ValueError, match="constant"):
        shipped.rsa(torch.eye(4), _similarity(4, 0))
    with pytest.raises(ValueError, match="at least 3"):
        shipped.rsa(torch.eye(2), torch.eye(2))
    with pytest.raises(ValueError, match="square"):
        shipped.rsa(torch.ones(3, 4), torch.ones(3, 4))
    with pytest.raises(ValueError, match="sim_a compares 4 items but sim_b compares 5"):
        shipped.rsa(_similarity(4, 0), _similarity(5, 1))
    bad = _similarity(4, 0)
    bad[0, 2] = math.nan
    with pytest.raises(ValueError, match="sim_b contains NaN or Inf"):
        shipped.rsa(_similarity(4, 1), bad)


# -- procrustes ---------------------------------------------------------------------------------
@given(st.integers(1, 6), st.integers(0, 4), seeds)
def test_procrustes_recovers_rotation(d, extra, seed):
    a = from_svd(d + extra, d, spectrum(d, condition=10.0, scale=1.0), seed=seed)
    q = haar_orthogonal(d, torch.Generator().manual_seed(seed + 1))
    assert_recovers_rotation(procrustes, a, q)


def test_procrustes_mutant_transposed_fails():
    a = gaussian((8, 4), seed=0)
    q = haar_orthogonal(4, torch.Generator().manual_seed(1))
    with pytest.raises(AssertionError):
        assert_recovers_rotation(procrustes_transposed, a, q)


@given(st.integers(1, 6), seeds)
def test_procrustes_rotation_is_orthogonal(d, seed):
    r = procrustes(gaussian((5, d), seed=seed), gaussian((5, d), seed=seed + 1)).rotation
    assert torch.allclose(r @ r.T, torch.eye(d, dtype=F64), atol=1e-10)


@given(st.integers(1, 6), seeds)
def test_procrustes_beats_any_other_rotation(d, seed):
    a, b = gaussian((5, d), seed=seed), gaussian((5, d), seed=seed + 1)
    r = procrustes(a, b).rotation
    other = haar_orthogonal(d, torch.Generator().manual_seed(seed + 2))
    assert float((a @ r - b).norm()) <= float((a @ other - b).norm()) + 1e-10


def test_procrustes_float32_keeps_dtype():
    fit = procrustes(torch.randn(20, 8), torch.randn(20, 8))
    assert fit.rotation.dtype == torch.float32 and fit.aligned_cosine.shape == (20,)


def test_procrustes_names_bad_input(shipped):
    a = gaussian((5, 3), seed=0)
    with pytest.raises(ValueError, match="same shape"):
        shipped.procrustes(a, a[:, :2])
    bad = a.clone()
    bad[1, 1] = math.nan
    with pytest.raises(ValueError, match="a contains NaN or Inf"):
        shipped.procrustes(bad, a)
    inf = a.clone()
    inf[0, 0] = math.inf
    with pytest.raises(ValueError, match="b contains NaN or Inf"):
        shipped.procrustes(a, inf)
    zero = a.clone()
    zero[2] = 0.0
    with pytest.raises(ValueError, match="zero-norm rows"):
        shipped.procrustes(a, zero)


# -- kmeans -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_kmeans_recovers_planted_clusters(seed):
    x, truth = _planted(seed)
    assert_recovers_planted(kmeans, x, truth, 3)


@settings(max_examples=10)
@given(planted_clusters())
def test_kmeans_recovers_drawn_planted_clusters(case):
    x, truth = case
    assert_recovers_planted(kmeans, x, truth, int(truth.max()) + 1)


def assert_partition_permutes_with_rows(op, x, k, perm):
    """Shuffling the rows shuffles the partition along with them, and changes nothing else."""
    assert _same_partition(op(x[perm], k, seed=0).labels, op(x, k, seed=0).labels[perm])


@settings(max_examples=10)
@given(planted_clusters(), seeds)
def test_kmeans_partition_is_permutation_invariant(case, seed):
    x, truth = case
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    assert_partition_permutes_with_rows(kmeans, x, int(truth.max()) + 1, perm)


def test_kmeans_mutant_fails_permutation_invariance():
    x, _ = _planted(0)
    with pytest.raises(AssertionError):
        perm = torch.randperm(18, generator=torch.Generator().manual_seed(5))
        assert_partition_permutes_with_rows(kmeans_labels_in_wrong_order, x, 3, perm)


def test_kmeans_mutant_wrong_row_order_fails():
    x, truth = _planted(0)
    with pytest.raises(AssertionError):
        assert_recovers_planted(kmeans_labels_in_wrong_order, x, truth, 3)


def test_kmeans_is_seeded_and_typed():
    x = gaussian((40, 3), seed=5)
    a, b = kmeans(x.float(), 4, seed=3), kmeans(x.float(), 4, seed=3)
    assert torch.equal(a.labels, b.labels) and a.labels.dtype == torch.int64
    assert a.centroids.shape == (4, 3) and a.centroids.dtype == torch.float32


def test_kmeans_names_bad_k(shipped):
    with pytest.raises(ValueError, match="k must be between"):
        shipped.kmeans(torch.ones(3, 2), 4)
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        shipped.kmeans(torch.tensor([[0.0, 1.0], [math.inf, 0.0]]), 1)


# -- hierarchical_order -------------------------------------------------------------------------
def _block_similarity(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, labels = _planted(seed, k=3, per=4, d=6)
    return cosine_matrix(x, x), labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hierarchical_order_keeps_blocks_together(seed):
    sim, blocks = _block_similarity(seed)
    assert_blocks_contiguous(hierarchical_order, sim, blocks)


@settings(max_examples=10)
@given(planted_clusters(), seeds)
def test_hierarchical_order_keeps_drawn_blocks_together_in_any_row_order(case, seed):
    x, blocks = case
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    sim = cosine_matrix(x, x)
    assert_blocks_contiguous(hierarchical_order, sim[perm][:, perm], blocks[perm])


def test_hierarchical_order_mutant_similarity_as_distance_fails():
    sim, blocks = _block_similarity(0)
    with pytest.raises(AssertionError):
        assert_blocks_contiguous(order_treating_similarity_as_distance, sim, blocks)


def test_hierarchical_order_names_bad_input(shipped):
    with pytest.raises(ValueError, match="not exceed 1"):
        shipped.hierarchical_order(2.0 * torch.ones(3, 3))
    with pytest.raises(ValueError, match="symmetric"):
        shipped.hierarchical_order(torch.tensor([[1.0, 0.5], [0.1, 1.0]]))
    with pytest.raises(ValueError, match="sim contains NaN or Inf"):
        shipped.hierarchical_order(torch.tensor([[1.0, math.nan], [math.nan, 1.0]]))


# -- bootstrap_ci -------------------------------------------------------------------------------
@settings(max_examples=5)
@given(seeds)
def test_bootstrap_interval_brackets_the_estimate(seed):
    assert_interval_brackets(bootstrap_ci, gaussian((40,), seed=seed))


def test_bootstrap_mutant_without_replacement_fails():
    with pytest.raises(AssertionError):
        assert_interval_brackets(bootstrap_without_replacement, gaussian((40,), seed=0))


def test_bootstrap_is_seeded_and_resamples_whole_rows():
    rows = gaussian((60, 2), seed=1)
    rows[:, 1] += rows[:, 0]

    def corr(s):
        return float(np.corrcoef(s[:, 0].numpy(), s[:, 1].numpy())[0, 1])

    a = bootstrap_ci(corr, rows, n_resamples=200, seed=7)
    assert a == bootstrap_ci(corr, rows, n_resamples=200, seed=7)
    assert 0.3 < a.low < a.estimate < a.high < 1.0


def test_bootstrap_names_bad_input(shipped):
    samples = gaussian((10, 2), seed=0)
    samples[3, 1] = math.nan
    with pytest.raises(ValueError, match="samples contains NaN or Inf"):
        shipped.bootstrap_ci(lambda s: s.mean(), samples)
    with pytest.raises(ValueError, match="Need >= 2 samples"):
        shipped.bootstrap_ci(lambda s: s.mean(), samples[:1])
    with pytest.raises(ValueError, match="confidence in"):
        shipped.bootstrap_ci(lambda s: s.mean(), samples[:5, 0], confidence=1.0)
    # Non-float samples (indices, labels) have no NaN to look for and pass through.
    ci = shipped.bootstrap_ci(lambda s: s.double().mean(), torch.arange(20), n_resamples=50)
    assert ci.low < ci.estimate < ci.high


def test_bootstrap_bca_runs():
    ci = bootstrap_ci(lambda s: s.mean(), gaussian((30,), seed=2), n_resamples=200, method="BCa")
    assert ci.low < ci.estimate < ci.high


def test_geometry_ops_are_pure():
    x = gaussian((12, 4), seed=3)
    sim = cosine_matrix(x, x)
    x0, sim0 = x.clone(), sim.clone()
    rsa(sim, sim.exp()), procrustes(x, x.flip(0)), kmeans(x, 3), hierarchical_order(sim)
    bootstrap_ci(lambda s: s.mean(), x, n_resamples=20)
    assert torch.equal(x, x0) and torch.equal(sim, sim0)


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_batched_bootstrap_equals_the_per_resample_one(method):
    gen = torch.Generator().manual_seed(1)
    samples = torch.randn(40, 2, generator=gen, dtype=torch.float64)

    def one(s):
        return float(s[:, 0].mean() - s[:, 1].mean())

    def many(s):
        return s[..., 0].mean(-1) - s[..., 1].mean(-1)

    a = bootstrap_ci(one, samples, n_resamples=300, seed=4, method=method)
    b = bootstrap_ci(many, samples, n_resamples=300, seed=4, method=method, batched=True)
    assert a.estimate == pytest.approx(b.estimate, abs=1e-12)
    assert (a.low, a.high) == pytest.approx((b.low, b.high), abs=1e-12)
