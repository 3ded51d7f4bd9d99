"""principal_angles (in emovec/ops/_subspace.py): one invariant per test, plus mutants."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec.ops import orthonormalize, principal_angles

from .strategies import F64, from_svd, full_rank, gaussian, haar_orthogonal, seeds, spectrum


# -- mutants: plausible mistakes -------------------------------------------------------------
def angles_without_orthonormalizing(a, b, **_):
    return torch.acos(torch.linalg.svdvals(a @ b.mT).clamp(0.0, 1.0))


def angles_from_cosines_only(a, b, **_):
    qa, qb = orthonormalize(a), orthonormalize(b)
    return torch.acos(torch.linalg.svdvals(qa @ qb.mT).clamp(0.0, 1.0))


def angles_normalising_columns(a, b, **_):
    """Normalises along the wrong axis (per coordinate, not per vector) before the SVD."""
    qa, qb = a / a.norm(dim=0, keepdim=True), b / b.norm(dim=0, keepdim=True)
    return torch.acos(torch.linalg.svdvals(qa @ qb.mT).clamp(0.0, 1.0)).sort().values


# -- checkers ---------------------------------------------------------------------------------
def assert_known_angles(op, thetas, seed):
    """Angles between span(a) and span(b) built at `thetas`, each given by a mixed basis."""
    k = len(thetas)
    g = torch.Generator().manual_seed(seed)
    e = haar_orthogonal(2 * k + 1, g)
    t = torch.tensor(thetas, dtype=F64)
    a = e[:k]
    b = torch.cos(t)[:, None] * e[:k] + torch.sin(t)[:, None] * e[k : 2 * k]
    mix_a = from_svd(k, k, spectrum(k, condition=10.0, scale=1.0), seed=seed + 1)
    mix_b = from_svd(k, k, spectrum(k, condition=10.0, scale=2.0), seed=seed + 2)
    got = op(mix_a @ a, mix_b @ b)
    assert torch.allclose(got, t.sort().values, atol=1e-9), (got, t)


def assert_rotation_invariant(op, a, b, rotation):
    """Rotating both sets by the same orthogonal matrix leaves every angle unchanged."""
    assert torch.allclose(op(a @ rotation, b @ rotation), op(a, b), atol=1e-8)


# -- principal_angles ---------------------------------------------------------------------------
angle_lists = st.lists(st.floats(0.0, math.pi / 2), min_size=1, max_size=4)


@given(angle_lists, st.integers(0, 2**16))
def test_principal_angles_known(thetas, seed):
    assert_known_angles(principal_angles, thetas, seed)


def test_principal_angles_mutant_without_orthonormalizing_fails():
    with pytest.raises(AssertionError):
        assert_known_angles(angles_without_orthonormalizing, [0.3, 1.0], seed=0)


def test_principal_angles_small_angles_accurate():
    assert_known_angles(principal_angles, [1e-7, 0.5], seed=1)
    with pytest.raises(AssertionError):
        assert_known_angles(angles_from_cosines_only, [1e-7, 0.5], seed=1)


same_width_pairs = st.integers(1, 8).flatmap(
    lambda d: st.tuples(full_rank(max_rows=4, cols=d), full_rank(max_rows=4, cols=d))
)


@given(same_width_pairs)
def test_principal_angles_symmetric(pair):
    a, b = pair
    assert torch.allclose(principal_angles(a, b), principal_angles(b, a), atol=1e-9)


@given(same_width_pairs)
def test_principal_angles_count_and_range(pair):
    a, b = pair
    angles = principal_angles(a, b)
    assert angles.shape == (min(a.shape[0], b.shape[0]),)
    assert bool((angles >= 0).all() and (angles <= math.pi / 2 + 1e-12).all())


def test_principal_angles_float32_smoke():
    a = from_svd(3, 16, spectrum(3, condition=3.0, scale=1.0), seed=4)
    got = principal_angles(a.float(), (a + 0.01 * gaussian((3, 16), seed=5)).float())
    assert got.dtype == torch.float32 and float(got.max()) < 0.1


def test_principal_angles_names_bad_input(shipped):
    with pytest.raises(ValueError, match="same d_model"):
        shipped.principal_angles(torch.eye(3), torch.eye(4))
    with pytest.raises(ValueError, match="a contains NaN or Inf"):
        shipped.principal_angles(torch.tensor([[1.0, math.nan]]), torch.eye(2))
    with pytest.raises(ValueError, match="b contains NaN or Inf"):
        shipped.principal_angles(torch.eye(2), torch.tensor([[math.inf, 0.0]]))
    with pytest.raises(ValueError, match="b has 2 linearly dependent rows"):
        shipped.principal_angles(torch.eye(3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="a has no rows"):
        shipped.principal_angles(torch.zeros(0, 3), torch.eye(3))


@given(same_width_pairs, seeds)
def test_principal_angles_rotation_invariant(pair, seed):
    a, b = pair
    rotation = haar_orthogonal(a.shape[1], torch.Generator().manual_seed(seed))
    assert_rotation_invariant(principal_angles, a, b, rotation)


def test_principal_angles_mutant_fails_rotation_invariance():
    a, b = (from_svd(2, 5, spectrum(2, condition=3.0, scale=1.0), seed=s) for s in (6, 7))
    rotation = haar_orthogonal(5, torch.Generator().manual_seed(8))
    with pytest.raises(AssertionError):
        assert_rotation_invariant(angles_normalising_columns, a, b, rotation)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, F64])
def test_principal_angles_keep_the_input_dtype(dtype):
    a = from_svd(3, 8, spectrum(3, condition=3.0, scale=1.0), seed=9)
    got = principal_angles(a.to(dtype), (a + 0.5 * gaussian((3, 8), seed=10)).to(dtype))
    want = principal_angles(a, a + 0.5 * gaussian((3, 8), seed=10))
    assert got.dtype == dtype
    assert torch.allclose(got.double(), want, atol=2e-2)
