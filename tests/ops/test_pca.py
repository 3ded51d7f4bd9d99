"""pca and pca_from_covariance: one invariant per test, plus mutants."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec.ops import PrincipalComponents, RunningCovariance, pca, pca_from_covariance

from .strategies import F64, centred_rows, gaussian

TOL = 1e-9
fractions = st.floats(0.01, 0.999)


# -- mutants ------------------------------------------------------------------------------------
def pca_without_centring(x, **kw):
    return pca(x, center=False, **kw)


def pca_keeping_one_too_many(x, *, variance):
    p = pca(x, k=min(pca(x, variance=variance).n_for_variance + 1, min(x.shape)))
    return p._replace(n_for_variance=p.components.shape[0])


def pca_from_covariance_ascending(cov, mean, **kw):
    """Takes eigh's output in its own (ascending) order: the smallest components first."""
    p = pca_from_covariance(cov, mean, **kw)
    values, vectors = torch.linalg.eigh(cov)
    largest = vectors.T.abs().argmax(dim=1, keepdim=True)
    vectors = vectors.T * torch.sign(vectors.T.gather(1, largest))
    return p._replace(components=vectors, explained_variance=values)


# -- checkers -----------------------------------------------------------------------------------
def assert_matches_pca_on_rows(op, x):
    """From a streamed covariance, the same components and variances as `pca` on the rows."""
    rows = pca(x)
    acc = RunningCovariance(x.shape[1])
    for chunk in x.split(3):
        acc.update(chunk)
    streamed = op(acc.covariance(), acc.mean)
    scale = float(rows.explained_variance.max())
    assert torch.allclose(streamed.components, rows.components, atol=1e-7)
    assert torch.allclose(streamed.explained_variance, rows.explained_variance, atol=TOL * scale)
    assert torch.allclose(streamed.explained_variance_ratio, rows.explained_variance_ratio)
    assert torch.allclose(streamed.mean, rows.mean)


def assert_matches_covariance_eigenbasis(op, x):
    """Components are the eigenvectors of the sample covariance, variances its eigenvalues."""
    p = op(x)
    cov = torch.cov(x.T).reshape(x.shape[1], x.shape[1])
    scale = float(cov.abs().max())
    k = p.components.shape[0]
    rotated = p.components @ cov @ p.components.T
    assert torch.allclose(rotated, torch.diag(p.explained_variance), atol=TOL * scale)
    values = torch.linalg.eigvalsh(cov).flip(0)[:k]
    assert torch.allclose(p.explained_variance, values, atol=TOL * scale)


def assert_n_for_variance_minimal(op, x, variance):
    p = op(x, variance=variance)
    cum = p.explained_variance_ratio.cumsum(0)
    assert p.n_for_variance == p.components.shape[0]
    assert float(cum[-1]) >= variance
    assert p.n_for_variance == 1 or float(cum[-2]) < variance


# -- pca ----------------------------------------------------------------------------------------
@given(centred_rows())
def test_components_orthonormal(x):
    c = pca(x).components
    assert torch.allclose(c @ c.T, torch.eye(c.shape[0], dtype=F64), atol=TOL)


@given(centred_rows())
def test_components_are_covariance_eigenvectors(x):
    assert_matches_covariance_eigenbasis(pca, x)


def test_pca_mutant_without_centring_fails():
    x = gaussian((20, 4), seed=0) + 3.0
    with pytest.raises(AssertionError):
        assert_matches_covariance_eigenbasis(pca_without_centring, x)


@given(centred_rows(), st.none() | fractions)
def test_ratios_descend(x, variance):
    r = pca(x, variance=variance).explained_variance_ratio
    assert bool((r[1:] <= r[:-1] * (1 + 1e-12)).all()) and bool((r >= 0).all())


@given(centred_rows(), st.none() | fractions)
def test_ratios_sum_to_at_most_one(x, variance):
    assert float(pca(x, variance=variance).explained_variance_ratio.sum()) <= 1.0 + 1e-12


@given(centred_rows(), fractions)
def test_n_for_variance_minimal(x, variance):
    assert_n_for_variance_minimal(pca, x, variance)


def test_n_for_variance_mutant_fails():
    x = gaussian((30, 5), seed=1) * torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0], dtype=F64)
    with pytest.raises(AssertionError):
        assert_n_for_variance_minimal(pca_keeping_one_too_many, x, 0.5)


@given(centred_rows(), st.integers(1, 8))
def test_k_keeps_exactly_k(x, k):
    k = min(k, min(x.shape))
    p = pca(x, k=k)
    assert p.components.shape == (k, x.shape[1]) and p.n_for_variance is None


@given(centred_rows())
def test_sign_convention_largest_loading_positive(x):
    c = pca(x).components
    largest = c.gather(1, c.abs().argmax(dim=1, keepdim=True))
    assert bool((largest > 0).all())


@given(centred_rows())
def test_pca_from_covariance_matches_pca_on_rows(x):
    assert_matches_pca_on_rows(pca_from_covariance, x)


def test_pca_from_covariance_mutant_ascending_fails():
    x = gaussian((30, 4), seed=4) * torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=F64)
    with pytest.raises(AssertionError):
        assert_matches_pca_on_rows(pca_from_covariance_ascending, x)


@given(centred_rows(), fractions)
def test_pca_from_covariance_selects_like_pca(x, variance):
    a = pca(x, variance=variance)
    b = pca_from_covariance(torch.cov(x.T).reshape(x.shape[1], -1), x.mean(0), variance=variance)
    assert a.n_for_variance == b.n_for_variance


def test_pca_float32_smoke():
    x = torch.randn(300, 32) * torch.linspace(3.0, 0.1, 32) + 5.0
    p = pca(x, variance=0.5)
    assert isinstance(p, PrincipalComponents) and p.components.dtype == torch.float32
    assert torch.allclose(p.components @ p.components.T, torch.eye(p.n_for_variance), atol=1e-5)
    q = pca_from_covariance(torch.cov(x.T), x.mean(0), variance=0.5)
    assert q.n_for_variance == p.n_for_variance
    assert torch.allclose(q.components, p.components, atol=1e-3)


def test_pca_is_pure():
    x = gaussian((10, 4), seed=2)
    before = x.clone()
    pca(x, k=2)
    assert torch.equal(x, before)


def test_pca_names_bad_input(shipped):
    x = gaussian((10, 4), seed=3)
    with pytest.raises(ValueError, match="at most one"):
        shipped.pca(x, variance=0.5, k=2)
    with pytest.raises(ValueError, match="fraction in"):
        shipped.pca(x, variance=1.5)
    with pytest.raises(ValueError, match="k must be between"):
        shipped.pca(x, k=5)
    with pytest.raises(ValueError, match="zero variance"):
        shipped.pca(torch.ones(5, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        shipped.pca(x[:1])
    bad = x.clone()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        shipped.pca(bad)
    with pytest.raises(ValueError, match="not symmetric"):
        shipped.pca_from_covariance(torch.triu(torch.ones(3, 3)), torch.zeros(3))
