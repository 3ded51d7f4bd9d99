"""project, reject, orthonormalize: one invariant per test, plus mutants (principal_angles:
test_principal_angles.py).

Each invariant is a checker (raising AssertionError) applied to the real op, which passes, and
to a deliberately wrong op, which must fail it: a checker that cannot tell them apart is not
testing anything.
"""

import math

import pytest
import torch
from hypothesis import given

from emovec.ops import orthonormalize, project, reject

from .strategies import (
    F64,
    SubspaceCase,
    from_svd,
    full_rank,
    gaussian,
    haar_orthogonal,
    rank_deficient,
    spectrum,
    subspace_cases,
)

TOL = 1e-10


def _atol(x: torch.Tensor) -> float:
    return TOL * (1.0 + float(x.abs().max()) if x.numel() else 1.0)


def _fixed_case(d: int = 6, k: int = 3, seed: int = 0) -> SubspaceCase:
    g = torch.Generator().manual_seed(seed)
    basis = haar_orthogonal(d, g)[:k]
    return SubspaceCase(
        gaussian((4, d), seed=seed + 1), basis, haar_orthogonal(k, g) @ basis, haar_orthogonal(d, g)
    )


# -- mutants: plausible mistakes -------------------------------------------------------------
def reject_first_only(x, basis):
    return x - (x @ basis[0])[..., None] * basis[0]


def project_first_only(x, basis):
    return (x @ basis[0])[..., None] * basis[0]


def project_with_unnormalised_basis(x, basis):
    """What `project` does with a basis that is orthogonal but not unit-length (not re-checked,
    for speed): every coefficient is scaled twice."""
    return project(x, 2.0 * basis)


def project_onto_leading_axes(x, basis):
    """Keeps the first k coordinates: idempotent and norm-reducing, but basis-blind."""
    out = torch.zeros_like(x)
    out[..., : basis.shape[0]] = x[..., : basis.shape[0]]
    return out


def qr_without_sign_fix(v, **_):
    return torch.linalg.qr(v.mT)[0].mT


def qr_without_rank_check(v, **_):
    q, r = torch.linalg.qr(v.mT)
    return (q * torch.sign(torch.diagonal(r))).mT


# -- checkers -----------------------------------------------------------------------------------
def assert_orthogonal_to_basis(op, x, basis):
    out = op(x, basis)
    assert torch.allclose(out @ basis.mT, torch.zeros(()).to(x), atol=_atol(x))


def assert_pythagoras(x, basis):
    p, r = project(x, basis), reject(x, basis)
    sq = (x * x).sum(-1)
    assert torch.allclose(sq, (p * p).sum(-1) + (r * r).sum(-1), atol=_atol(sq))


def assert_basis_choice_invariant(op, case):
    x = case.x
    assert torch.allclose(op(x, case.basis), op(x, case.other_basis), atol=_atol(x))


def assert_rotation_equivariant(op, case):
    x, r = case.x, case.rotation
    assert torch.allclose(op(x @ r, case.basis @ r), op(x, case.basis) @ r, atol=_atol(x))


def assert_idempotent(op, case):
    once = op(case.x, case.basis)
    assert torch.allclose(op(once, case.basis), once, atol=_atol(case.x))


def assert_never_increases_norm(op, case):
    out = op(case.x, case.basis)
    assert bool((out.norm(dim=-1) <= case.x.norm(dim=-1) * (1 + TOL) + TOL).all())


def assert_orthonormal(q):
    eye = torch.eye(q.shape[0], dtype=q.dtype)
    assert torch.allclose(q @ q.mT, eye, atol=TOL)


def assert_same_span(q, v):
    # Test-only d x d projector onto span(q): fine at these sizes, and independent of the op.
    assert q.shape == v.shape
    assert torch.allclose(v @ q.mT @ q, v, atol=1e-8 * float(v.abs().max()))


def assert_order_and_sign(op, v):
    q = op(v)
    for i in range(v.shape[0]):
        prefix = torch.linalg.qr(v[: i + 1].mT)[0].mT  # any orthonormal basis of rows 0..i
        assert torch.allclose(q[i] @ prefix.mT @ prefix, q[i], atol=1e-8)
        assert float(q[i] @ v[i]) > 0


def assert_rejects_dependent(op, v):
    with pytest.raises(ValueError, match="linearly dependent"):
        op(v)


# -- reject and project -------------------------------------------------------------------------
@given(subspace_cases())
def test_reject_is_orthogonal_to_basis(case):
    assert_orthogonal_to_basis(reject, case.x, case.basis)


def test_reject_mutant_fails_orthogonality():
    case = _fixed_case()
    with pytest.raises(AssertionError):
        assert_orthogonal_to_basis(reject_first_only, case.x, case.basis)


@given(subspace_cases())
def test_pythagoras(case):
    assert_pythagoras(case.x, case.basis)


@given(subspace_cases())
def test_reject_basis_choice_invariant(case):
    assert_basis_choice_invariant(reject, case)


def test_reject_mutant_fails_basis_choice():
    with pytest.raises(AssertionError):
        assert_basis_choice_invariant(reject_first_only, _fixed_case())


@given(subspace_cases())
def test_reject_rotation_equivariant(case):
    assert_rotation_equivariant(reject, case)


@given(subspace_cases())
def test_reject_never_increases_norm(case):
    assert_never_increases_norm(reject, case)


@given(subspace_cases())
def test_reject_idempotent(case):
    assert_idempotent(reject, case)


@given(subspace_cases())
def test_project_idempotent(case):
    assert_idempotent(project, case)


@given(subspace_cases())
def test_project_rotation_equivariant(case):
    assert_rotation_equivariant(project, case)


@given(subspace_cases())
def test_project_never_increases_norm(case):
    assert_never_increases_norm(project, case)


def test_project_mutant_unnormalised_basis_fails_idempotence_and_norm():
    case = _fixed_case()
    with pytest.raises(AssertionError):
        assert_idempotent(project_with_unnormalised_basis, case)
    with pytest.raises(AssertionError):
        assert_never_increases_norm(project_with_unnormalised_basis, case)


def test_project_mutant_leading_axes_fails_rotation_equivariance():
    case = _fixed_case()
    assert_idempotent(project_onto_leading_axes, case)  # what the other checks cannot see
    with pytest.raises(AssertionError):
        assert_rotation_equivariant(project_onto_leading_axes, case)


def test_reject_mutant_fails_rotation_equivariance():
    with pytest.raises(AssertionError):
        assert_rotation_equivariant(lambda x, b: x - project_onto_leading_axes(x, b), _fixed_case())


@given(subspace_cases())
def test_project_plus_reject_is_identity(case):
    x = case.x
    assert torch.allclose(project(x, case.basis) + reject(x, case.basis), x, atol=_atol(x))


@given(subspace_cases())
def test_project_basis_choice_invariant(case):
    assert_basis_choice_invariant(project, case)


def test_project_mutant_fails_basis_choice():
    with pytest.raises(AssertionError):
        assert_basis_choice_invariant(project_first_only, _fixed_case())


def test_reject_and_project_float32_smoke():
    case = _fixed_case(d=64, k=5)
    x, basis = case.x.float(), case.basis.float()
    out = reject(x, basis)
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert float((out @ basis.mT).abs().max()) < 1e-5
    assert torch.allclose(project(x, basis) + out, x, atol=1e-5)


def test_reject_and_project_are_pure():
    case = _fixed_case()
    x, basis = case.x.clone(), case.basis.clone()
    reject(x, basis), project(x, basis)
    assert torch.equal(x, case.x) and torch.equal(basis, case.basis)


def test_reject_casts_basis_to_x():
    case = _fixed_case()
    assert reject(case.x.float(), case.basis).dtype == torch.float32


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_reject_names_non_finite_input(shipped, bad):
    case = _fixed_case()
    x = case.x.clone()
    x[1, 2] = bad
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        shipped.reject(x, case.basis)
    basis = case.basis.clone()
    basis[0, 0] = bad
    with pytest.raises(ValueError, match="basis contains NaN or Inf"):
        shipped.project(case.x, basis)


def test_reject_names_width_mismatch(shipped):
    case = _fixed_case()
    with pytest.raises(ValueError, match="same d_model"):
        shipped.reject(case.x[..., :-1], case.basis)


# -- orthonormalize -----------------------------------------------------------------------------
@given(full_rank())
def test_orthonormalize_output_orthonormal(v):
    assert_orthonormal(orthonormalize(v))


@given(full_rank())
def test_orthonormalize_preserves_span(v):
    assert_same_span(orthonormalize(v), v)


@given(full_rank())
def test_orthonormalize_keeps_order_and_sign(v):
    assert_order_and_sign(orthonormalize, v)


def test_orthonormalize_mutant_fails_order_and_sign():
    v = from_svd(5, 8, spectrum(5, condition=10.0, scale=1.0), seed=3)
    with pytest.raises(AssertionError):
        assert_order_and_sign(qr_without_sign_fix, v)


@given(full_rank())
def test_orthonormalize_idempotent(v):
    q = orthonormalize(v)
    assert torch.allclose(orthonormalize(q), q, atol=TOL)


@given(rank_deficient())
def test_orthonormalize_rejects_dependent(v):
    assert_rejects_dependent(orthonormalize, v)


def test_orthonormalize_mutant_fails_dependence_check():
    v = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]], dtype=F64)
    with pytest.raises(pytest.fail.Exception):
        assert_rejects_dependent(qr_without_rank_check, v)


def test_orthonormalize_rtol_is_relative():
    v = torch.tensor([[1.0, 0.0], [1.0, 1e-6]], dtype=F64) * 1e-8
    assert orthonormalize(v).shape == (2, 2)
    with pytest.raises(ValueError, match="linearly dependent"):
        orthonormalize(v, rtol=1e-5)


def test_orthonormalize_float32_smoke():
    v = from_svd(20, 64, spectrum(20, condition=100.0, scale=3.0), seed=1).float()
    q = orthonormalize(v)
    assert q.dtype == torch.float32
    assert torch.allclose(q @ q.mT, torch.eye(20), atol=1e-5)
    assert bool(((q * v).sum(-1) > 0).all())


def test_orthonormalize_is_pure():
    v = from_svd(3, 5, spectrum(3, condition=5.0, scale=1.0), seed=2)
    before = v.clone()
    orthonormalize(v)
    assert torch.equal(v, before)


def test_orthonormalize_names_bad_input(shipped):
    with pytest.raises(ValueError, match="NaN or Inf"):
        shipped.orthonormalize(torch.tensor([[1.0, math.nan]]))
    with pytest.raises(ValueError, match="no rows"):
        shipped.orthonormalize(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="drop redundant rows"):
        shipped.orthonormalize(torch.ones(2, 3))


def test_runtime_shape_checks_are_on():
    """The suite runs with jaxtyping + beartype on emovec (pyproject's addopts): shapes are
    checked at every call here, not in shipped code."""
    from jaxtyping import TypeCheckError

    with pytest.raises(TypeCheckError):
        reject(torch.ones(3), torch.ones(1, 4))
