"""orthogonalize_set (Gram-Schmidt and symmetric) and orthogonalize_against, plus mutants."""

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from emovec.ops import orthogonalize_against, orthogonalize_set, orthonormalize

from .strategies import (
    F64,
    from_svd,
    full_rank,
    gaussian,
    haar_orthogonal,
    rank_deficient,
    seeds,
    spectrum,
)

TOL = 1e-10


def _fixed(k: int = 4, d: int = 7, seed: int = 0) -> torch.Tensor:
    return from_svd(k, d, spectrum(k, condition=20.0, scale=2.0), seed=seed)


def symmetric(v):
    return orthogonalize_set(v, method="symmetric")


# -- mutants ------------------------------------------------------------------------------------
def symmetric_but_gram_schmidt(v):
    return orthonormalize(v)


def symmetric_without_rank_check(v):
    u, _, vh = torch.linalg.svd(v, full_matrices=False)
    return u @ vh


def against_first_basis_vector_only(vectors, basis):
    q = orthonormalize(basis)[0]
    out = vectors - (vectors @ q)[..., None] * q
    return out, out.norm(dim=-1) / vectors.norm(dim=-1)


def against_with_raw_basis(vectors, basis):
    """Projects with the rows as given, as if they were orthonormal."""
    out = vectors - (vectors @ basis.mT) @ basis
    return out, out.norm(dim=-1) / vectors.norm(dim=-1)


def against_leading_axes(vectors, basis):
    """Zeroes the first k coordinates: an orthogonal split, but of the wrong subspace."""
    out = vectors.clone()
    out[..., : basis.shape[0]] = 0.0
    return out, out.norm(dim=-1) / vectors.norm(dim=-1)


def against_with_squared_survival(vectors, basis):
    out, kept = orthogonalize_against(vectors, basis)
    return out, kept**2


# -- checkers -----------------------------------------------------------------------------------
def assert_orthonormal(q):
    assert torch.allclose(q @ q.mT, torch.eye(q.shape[0], dtype=q.dtype), atol=TOL)


def assert_same_span(q, v):
    assert q.shape == v.shape
    assert torch.allclose(v @ q.mT @ q, v, atol=1e-8 * float(v.abs().max()))


def assert_closest_orthonormal(op, v):
    """W is the orthonormal matrix nearest to V (Frobenius) iff W is orthonormal and V W^T is
    symmetric positive semidefinite (the polar decomposition's optimality condition)."""
    w = op(v)
    assert_orthonormal(w)
    m = v @ w.mT
    assert torch.allclose(m, m.mT, atol=1e-9 * float(v.abs().max()))
    assert float(torch.linalg.eigvalsh((m + m.mT) / 2).min()) >= -1e-9 * float(v.abs().max())


def assert_rejects_dependent(op, v):
    with pytest.raises(ValueError, match="linearly dependent"):
        op(v)


def assert_orthogonal_to_span(op, vectors, basis):
    out, _ = op(vectors, basis)
    q = torch.linalg.qr(basis.mT)[0].mT
    assert torch.allclose(out @ q.mT, torch.zeros((), dtype=out.dtype), atol=1e-8)


def assert_against_pythagoras(op, vectors, basis):
    """The removed part and the rest are orthogonal: |v|^2 = |v - out|^2 + |out|^2."""
    out, _ = op(vectors, basis)
    removed = vectors - out
    sq = (vectors * vectors).sum(-1)
    got = (removed * removed).sum(-1) + (out * out).sum(-1)
    assert torch.allclose(got, sq, atol=1e-9 * (1.0 + float(sq.max())))


def assert_against_basis_choice_invariant(op, vectors, basis, mix):
    """Any basis of the same span (here `mix @ basis`, mix invertible) gives the same result."""
    a, b = op(vectors, basis)[0], op(vectors, mix @ basis)[0]
    assert torch.allclose(a, b, atol=1e-8 * (1.0 + float(vectors.abs().max())))


def assert_against_rotation_equivariant(op, vectors, basis, rotation):
    a, b = op(vectors @ rotation, basis @ rotation)[0], op(vectors, basis)[0] @ rotation
    assert torch.allclose(a, b, atol=1e-8 * (1.0 + float(vectors.abs().max())))


def assert_against_idempotent(op, vectors, basis):
    once = op(vectors, basis)[0]
    assert torch.allclose(op(once, basis)[0], once, atol=1e-8 * (1.0 + float(once.abs().max())))


def assert_surviving_norm_is_the_norm_ratio(op, vectors, basis):
    out, kept = op(vectors, basis)
    assert torch.allclose(kept, out.norm(dim=-1) / vectors.norm(dim=-1), atol=TOL)
    assert bool(((kept >= 0) & (kept <= 1 + TOL)).all())


# -- orthogonalize_set --------------------------------------------------------------------------
@given(full_rank())
def test_symmetric_output_orthonormal(v):
    assert_orthonormal(symmetric(v))


@given(full_rank())
def test_symmetric_preserves_span(v):
    assert_same_span(symmetric(v), v)


@given(full_rank())
def test_symmetric_is_closest_orthonormal_set(v):
    assert_closest_orthonormal(symmetric, v)


def test_symmetric_mutant_fails_closeness():
    with pytest.raises(AssertionError):
        assert_closest_orthonormal(symmetric_but_gram_schmidt, _fixed())


@given(full_rank())
def test_symmetric_beats_or_ties_gram_schmidt(v):
    sym = torch.linalg.matrix_norm(symmetric(v) - v)
    gs = torch.linalg.matrix_norm(orthogonalize_set(v, method="gram_schmidt") - v)
    assert float(sym) <= float(gs) * (1 + 1e-12) + 1e-12


@given(full_rank())
def test_symmetric_idempotent(v):
    w = symmetric(v)
    assert torch.allclose(symmetric(w), w, atol=TOL)


@given(full_rank())
def test_symmetric_permutes_with_rows(v):
    perm = torch.randperm(v.shape[0], generator=torch.Generator().manual_seed(0))
    assert torch.allclose(symmetric(v[perm]), symmetric(v)[perm], atol=1e-8)


@given(rank_deficient())
def test_symmetric_rejects_dependent(v):
    assert_rejects_dependent(symmetric, v)


def test_symmetric_mutant_fails_dependence_check():
    with pytest.raises(pytest.fail.Exception):
        assert_rejects_dependent(symmetric_without_rank_check, torch.ones(2, 3, dtype=F64))


@given(full_rank())
def test_gram_schmidt_method_is_orthonormalize(v):
    assert torch.equal(orthogonalize_set(v, method="gram_schmidt"), orthonormalize(v))


def test_orthogonalize_set_float32_smoke():
    v = _fixed(k=30, d=96).float()
    for method in ("gram_schmidt", "symmetric"):
        w = orthogonalize_set(v, method=method)
        assert w.dtype == torch.float32
        assert torch.allclose(w @ w.mT, torch.eye(30), atol=1e-5)


def test_orthogonalize_set_is_pure():
    v = _fixed()
    before = v.clone()
    symmetric(v)
    assert torch.equal(v, before)


def test_orthogonalize_set_names_bad_input(shipped):
    with pytest.raises(ValueError, match="method must be"):
        shipped.orthogonalize_set(_fixed(), method="lowdin")
    for method in ("symmetric", "gram_schmidt"):
        bad = _fixed()
        bad[1, 2] = math.nan
        with pytest.raises(ValueError, match="vectors contains NaN or Inf"):
            shipped.orthogonalize_set(bad, method=method)
        with pytest.raises(ValueError, match="vectors has no rows"):
            shipped.orthogonalize_set(torch.zeros(0, 3), method=method)


# -- orthogonalize_against ----------------------------------------------------------------------
basis_and_seed = st.integers(1, 8).flatmap(lambda d: st.tuples(full_rank(cols=d), seeds))


@given(basis_and_seed)
def test_against_is_orthogonal_to_span(case):
    basis, seed = case
    vectors = gaussian((3, basis.shape[1]), seed=seed)
    assert_orthogonal_to_span(orthogonalize_against, vectors, basis)


def test_against_mutant_fails_orthogonality():
    basis, vectors = _fixed(k=3, d=7), gaussian((4, 7), seed=9)
    with pytest.raises(AssertionError):
        assert_orthogonal_to_span(against_first_basis_vector_only, vectors, basis)


@given(basis_and_seed)
def test_against_surviving_norm_is_the_norm_ratio(case):
    basis, seed = case
    vectors = gaussian((5, basis.shape[1]), seed=seed, scale=3.0)
    assert_surviving_norm_is_the_norm_ratio(orthogonalize_against, vectors, basis)


def test_against_mutant_squared_surviving_norm_fails():
    basis, vectors = _fixed(k=3, d=7), gaussian((4, 7), seed=9)
    with pytest.raises(AssertionError):
        assert_surviving_norm_is_the_norm_ratio(against_with_squared_survival, vectors, basis)


@given(basis_and_seed)
def test_against_pythagoras(case):
    basis, seed = case
    vectors = gaussian((2, 3, basis.shape[1]), seed=seed, scale=3.0)
    assert_against_pythagoras(orthogonalize_against, vectors, basis)


def test_against_mutant_raw_basis_fails_pythagoras():
    with pytest.raises(AssertionError):
        assert_against_pythagoras(against_with_raw_basis, gaussian((4, 7), seed=9), _fixed(3, 7))


@given(basis_and_seed)
def test_against_basis_choice_invariant(case):
    basis, seed = case
    k = basis.shape[0]
    mix = from_svd(k, k, spectrum(k, condition=10.0, scale=1.0), seed=seed)
    vectors = gaussian((4, basis.shape[1]), seed=seed + 1)
    assert_against_basis_choice_invariant(orthogonalize_against, vectors, basis, mix)


def test_against_mutant_first_vector_only_fails_basis_choice():
    mix = from_svd(3, 3, spectrum(3, condition=10.0, scale=1.0), seed=1)
    with pytest.raises(AssertionError):
        assert_against_basis_choice_invariant(
            against_first_basis_vector_only, gaussian((4, 7), seed=9), _fixed(3, 7), mix
        )


@given(basis_and_seed)
def test_against_rotation_equivariant(case):
    basis, seed = case
    rotation = haar_orthogonal(basis.shape[1], torch.Generator().manual_seed(seed))
    vectors = gaussian((4, basis.shape[1]), seed=seed + 1)
    assert_against_rotation_equivariant(orthogonalize_against, vectors, basis, rotation)


def test_against_mutant_leading_axes_fails_only_rotation_equivariance():
    basis, vectors = _fixed(3, 7), gaussian((4, 7), seed=9)
    mix = from_svd(3, 3, spectrum(3, condition=10.0, scale=1.0), seed=1)
    # An orthogonal split, idempotent and basis-blind: only equivariance sees it is wrong.
    assert_against_pythagoras(against_leading_axes, vectors, basis)
    assert_against_idempotent(against_leading_axes, vectors, basis)
    assert_against_basis_choice_invariant(against_leading_axes, vectors, basis, mix)
    rotation = haar_orthogonal(7, torch.Generator().manual_seed(2))
    with pytest.raises(AssertionError):
        assert_against_rotation_equivariant(against_leading_axes, vectors, basis, rotation)


@given(basis_and_seed)
def test_against_idempotent(case):
    basis, seed = case
    # A basis spanning everything leaves zero vectors, which a second call rightly rejects.
    assume(basis.shape[0] < basis.shape[1])
    assert_against_idempotent(
        orthogonalize_against, gaussian((4, basis.shape[1]), seed=seed), basis
    )


def test_against_mutant_raw_basis_fails_idempotence():
    with pytest.raises(AssertionError):
        assert_against_idempotent(against_with_raw_basis, gaussian((4, 7), seed=9), _fixed(3, 7))


def test_against_keeps_vectors_already_orthogonal():
    e = torch.eye(4, dtype=F64)
    out = orthogonalize_against(e[2:] * 3.0, e[:2] + e[1])
    assert torch.equal(out.vectors, e[2:] * 3.0) and torch.equal(
        out.surviving_norm, torch.ones(2, dtype=F64)
    )


def test_against_float32_smoke():
    basis, vectors = _fixed(k=10, d=64).float(), gaussian((15, 64), seed=2).float()
    out = orthogonalize_against(vectors, basis)
    assert out.vectors.dtype == torch.float32 and out.surviving_norm.shape == (15,)
    assert float((out.vectors @ orthonormalize(basis).mT).abs().max()) < 1e-5


def test_against_is_pure():
    basis, vectors = _fixed(), gaussian((3, 7), seed=4)
    b0, v0 = basis.clone(), vectors.clone()
    orthogonalize_against(vectors, basis)
    assert torch.equal(basis, b0) and torch.equal(vectors, v0)


def test_against_names_bad_input(shipped):
    with pytest.raises(ValueError, match="zero-norm"):
        shipped.orthogonalize_against(torch.zeros(2, 7, dtype=F64), _fixed())
    # Each message names the guilty argument: the basis, not the vectors.
    with pytest.raises(ValueError, match="basis has 2 linearly dependent rows"):
        shipped.orthogonalize_against(gaussian((2, 7), seed=0), torch.ones(2, 7))
    with pytest.raises(ValueError, match="same d_model"):
        shipped.orthogonalize_against(gaussian((2, 6), seed=0), _fixed())
    bad = _fixed()
    bad[0, 0] = math.inf
    with pytest.raises(ValueError, match="basis contains NaN or Inf"):
        shipped.orthogonalize_against(gaussian((2, 7), seed=0), bad)
    with pytest.raises(ValueError, match="vectors contains NaN or Inf"):
        shipped.orthogonalize_against(bad.nan_to_num(posinf=math.nan), _fixed())
    with pytest.raises(ValueError, match="basis has no rows"):
        shipped.orthogonalize_against(gaussian((2, 7), seed=0), torch.zeros(0, 7))
