"""scores and cosine_matrix: one invariant per test, plus mutants."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec.ops import cosine_matrix, scores

from .strategies import F64, full_rank, gaussian, scales, subspace_cases

TOL = 1e-10


def _atol(*ts: torch.Tensor) -> float:
    return TOL * (1.0 + max(float(t.abs().max()) for t in ts if t.numel()))


# -- mutants ------------------------------------------------------------------------------------
def scores_as_cosines(x, vectors):
    unit = vectors / vectors.norm(dim=-1, keepdim=True)
    return (x / x.norm(dim=-1, keepdim=True)) @ unit.mT


def cosine_normalising_only_a(a, b):
    return (a / a.norm(dim=-1, keepdim=True)) @ b.mT


# -- checkers -----------------------------------------------------------------------------------
def assert_scores_are_projections(op, x, vectors, c):
    """Linear in x (homogeneous, additive), and equal to the dot product with each vector."""
    s = op(x, vectors)
    assert torch.allclose(op(c * x, vectors), c * s, atol=_atol(s) * (1 + abs(c)))
    assert torch.allclose(op(x + x.flip(-1), vectors), s + op(x.flip(-1), vectors), atol=_atol(s))
    for e in range(vectors.shape[0]):
        assert torch.allclose(s[..., e], (x * vectors[e]).sum(-1), atol=_atol(s))


def assert_cosine_scale_invariant(op, a, b, ca, cb):
    assert torch.allclose(op(ca * a, cb * b), op(a, b), atol=1e-9)


# -- scores -------------------------------------------------------------------------------------
@given(subspace_cases(), st.floats(-10.0, 10.0).filter(lambda c: abs(c) > 1e-3))
def test_scores_are_projections(case, c):
    assert_scores_are_projections(scores, case.x, case.basis * 2.0, c)


def test_scores_mutant_cosine_fails():
    x, vectors = gaussian((2, 3, 5), seed=0), gaussian((4, 5), seed=1)
    with pytest.raises(AssertionError):
        assert_scores_are_projections(scores_as_cosines, x, vectors, 3.0)


@given(subspace_cases())
def test_scores_shape_is_batch_by_emotion(case):
    out = scores(case.x, case.basis)
    assert out.shape == (*case.x.shape[:-1], case.basis.shape[0])


def test_scores_float32_smoke():
    x, vectors = torch.randn(2, 7, 64), torch.randn(11, 64)
    out = scores(x, vectors)
    assert out.dtype == torch.float32 and out.shape == (2, 7, 11)
    assert torch.allclose(out, x @ vectors.mT, atol=1e-4)


def test_scores_is_pure():
    x, vectors = gaussian((3, 5), seed=0), gaussian((2, 5), seed=1)
    x0, v0 = x.clone(), vectors.clone()
    scores(x, vectors)
    assert torch.equal(x, x0) and torch.equal(vectors, v0)


def test_scores_names_bad_input(shipped):
    x, vectors = gaussian((3, 5), seed=0), gaussian((2, 5), seed=1)
    with pytest.raises(ValueError, match="same d_model"):
        shipped.scores(x[:, :4], vectors)
    vectors[1, 1] = math.nan
    with pytest.raises(ValueError, match="vectors contains NaN"):
        shipped.scores(x, vectors)
    x[2, 0] = math.inf
    with pytest.raises(ValueError, match="x contains NaN"):
        shipped.scores(x, gaussian((2, 5), seed=1))
    vectors[1] = 0.0
    with pytest.raises(ValueError, match=r"vectors has zero-norm rows \(first: \[1\]\)"):
        shipped.scores(gaussian((3, 5), seed=0), vectors)


# -- cosine_matrix ------------------------------------------------------------------------------
pairs = st.integers(1, 8).flatmap(
    lambda d: st.tuples(full_rank(cols=d), full_rank(cols=d), scales, scales)
)


@given(pairs)
def test_cosine_scale_invariant(case):
    a, b, ca, cb = case
    assert_cosine_scale_invariant(cosine_matrix, a, b, ca, cb)


@given(pairs)
def test_cosine_bounded(case):
    a, b, _, _ = case
    assert bool((cosine_matrix(a, b).abs() <= 1.0).all())


def test_cosine_mutant_fails_scale_invariance():
    a, b = gaussian((3, 5), seed=0), gaussian((4, 5), seed=1)
    with pytest.raises(AssertionError):
        assert_cosine_scale_invariant(cosine_normalising_only_a, a, b, 1.0, 3.0)


@given(full_rank())
def test_cosine_with_itself_has_unit_diagonal(a):
    m = cosine_matrix(a, a)
    assert torch.allclose(m.diagonal(), torch.ones(a.shape[0], dtype=F64), atol=1e-12)


@given(pairs)
def test_cosine_transposes_with_its_arguments(case):
    a, b, _, _ = case
    assert torch.allclose(cosine_matrix(a, b), cosine_matrix(b, a).T, atol=1e-12)


def test_cosine_float32_smoke():
    a, b = torch.randn(171, 64), torch.randn(20, 64)
    m = cosine_matrix(a, b)
    assert m.dtype == torch.float32 and m.shape == (171, 20)
    assert torch.allclose(
        m, torch.nn.functional.cosine_similarity(a[:, None], b[None], -1), atol=1e-5
    )


def test_cosine_is_pure():
    a = gaussian((3, 5), seed=0)
    a0 = a.clone()
    cosine_matrix(a, a)
    assert torch.equal(a, a0)


def test_cosine_names_zero_rows(shipped):
    a = gaussian((3, 5), seed=0)
    a[1] = 0.0
    with pytest.raises(ValueError, match="zero-norm rows \\(first: \\[1\\]\\)"):
        shipped.cosine_matrix(a, gaussian((2, 5), seed=1))


def test_cosine_names_bad_input(shipped):
    a, b = gaussian((3, 5), seed=0), gaussian((2, 5), seed=1)
    with pytest.raises(ValueError, match="a has width 5 but b has 4"):
        shipped.cosine_matrix(a, b[:, :4])
    b[1, 3] = math.nan
    with pytest.raises(ValueError, match="b contains NaN or Inf"):
        shipped.cosine_matrix(a, b)
    a[0, 0] = -math.inf
    with pytest.raises(ValueError, match="a contains NaN or Inf"):
        shipped.cosine_matrix(a, gaussian((2, 5), seed=1))
