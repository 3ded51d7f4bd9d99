"""steer, clamp, patch_projection, ablate: one invariant per test, plus mutants."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec.ops import ablate, clamp, patch_projection, project, reject, steer

from .strategies import F64, SubspaceCase, gaussian, haar_orthogonal, seeds, subspace_cases

TOL = 1e-10
amounts = st.floats(-100.0, 100.0)


def _atol(*ts: torch.Tensor) -> float:
    return TOL * (1.0 + max(float(t.abs().max()) for t in ts if t.numel()))


def _direction(case: SubspaceCase, seed: int) -> torch.Tensor:
    """A non-unit, non-zero direction of the case's width."""
    d = case.x.shape[-1]
    v = gaussian((d,), seed=seed, scale=3.0)
    return v if float(v.norm()) > 1e-3 else torch.ones(d, dtype=F64)


def _fixed(d: int = 6, k: int = 2, seed: int = 0) -> SubspaceCase:
    g = torch.Generator().manual_seed(seed)
    basis = haar_orthogonal(d, g)[:k]
    return SubspaceCase(
        gaussian((3, 4, d), seed=seed + 1),
        basis,
        haar_orthogonal(k, g) @ basis,
        haar_orthogonal(d, g),
    )


# -- mutants ------------------------------------------------------------------------------------
def steer_without_normalising(x, direction, strength, *, relative_to=None):
    return x + strength * (relative_to or 1.0) * direction


def clamp_that_adds(x, direction, value):
    return x + value * direction / direction.norm()


def patch_without_removing_x(x, source, basis):
    return x + project(source, basis)


def patch_leading_axes(x, source, basis):
    """Copies the source's first k coordinates: a subspace patch, of the wrong subspace."""
    out = x.clone()
    k = basis.shape[0]
    out[..., :k] = torch.broadcast_to(source, x.shape)[..., :k]
    return out


def ablate_by_reflection(x, basis, *, mean=None):
    """A sign slip: subtracts the projection twice, which flips the component instead."""
    return x - 2.0 * project(x, basis) + (0.0 if mean is None else 2.0 * project(mean, basis))


def ablate_first_vector_only(x, basis, *, mean=None):
    b = basis[:1]
    return reject(x, b) if mean is None else reject(x, b) + project(mean, b)


def mean_ablate_to_the_mean(x, basis, *, mean=None):
    return torch.zeros_like(x) + mean


# -- checkers -----------------------------------------------------------------------------------
def assert_steps_along_unit(op, x, direction, strength, relative_to):
    unit = direction / direction.norm()
    step = strength * (1.0 if relative_to is None else relative_to)
    delta = op(x, direction, strength, relative_to=relative_to) - x
    assert torch.allclose(delta, (step * unit).expand_as(x), atol=_atol(x, delta))


def assert_clamp_sets_projection(op, x, direction, value):
    unit = direction / direction.norm()
    out = op(x, direction, value)
    along = out @ unit
    assert torch.allclose(along, torch.full_like(along, value), atol=_atol(x, along))
    orth_in = x - (x @ unit)[..., None] * unit
    assert torch.allclose(out - along[..., None] * unit, orth_in, atol=_atol(x, out))


def assert_patch_sets_subspace(op, x, source, basis):
    out = op(x, source, basis)
    src = torch.broadcast_to(source, x.shape)
    assert torch.allclose(project(out, basis), project(src, basis), atol=_atol(x, src))
    assert torch.allclose(reject(out, basis), reject(x, basis), atol=_atol(x, src))


def assert_mean_ablation(op, x, basis, mean):
    out = op(x, basis, mean=mean)
    expected = project(mean, basis).expand_as(x)
    assert torch.allclose(project(out, basis), expected, atol=_atol(x, mean))
    assert torch.allclose(reject(out, basis), reject(x, basis), atol=_atol(x, mean))


def assert_patch_rotation_equivariant(op, x, source, case):
    r = case.rotation
    got = op(x @ r, source @ r, case.basis @ r)
    assert torch.allclose(got, op(x, source, case.basis) @ r, atol=_atol(x, source))


def assert_ablate_idempotent(op, x, basis, mean):
    once = op(x, basis, mean=mean)
    assert torch.allclose(op(once, basis, mean=mean), once, atol=_atol(x, once))


def assert_orthogonal_to_basis(op, x, basis):
    out = op(x, basis)
    assert torch.allclose(out @ basis.mT, torch.zeros((), dtype=x.dtype), atol=_atol(x))


# -- steer --------------------------------------------------------------------------------------
@given(subspace_cases(), seeds, amounts, st.none() | st.floats(0.1, 100.0))
def test_steer_steps_along_unit_direction(case, seed, strength, relative_to):
    assert_steps_along_unit(steer, case.x, _direction(case, seed), strength, relative_to)


def test_steer_mutant_fails_without_normalising():
    case = _fixed()
    with pytest.raises(AssertionError):
        assert_steps_along_unit(steer_without_normalising, case.x, _direction(case, 1), 2.0, 5.0)


@given(subspace_cases(), seeds, amounts)
def test_steer_is_undone_by_opposite_strength(case, seed, strength):
    d = _direction(case, seed)
    back = steer(steer(case.x, d, strength), d, -strength)
    assert torch.allclose(back, case.x, atol=_atol(case.x) + 1e-12 * abs(strength))


@given(subspace_cases(), seeds, amounts, st.floats(0.1, 100.0))
def test_steer_relative_to_scales_strength(case, seed, strength, norm):
    d = _direction(case, seed)
    got = steer(case.x, d, strength, relative_to=norm)
    assert torch.allclose(got, steer(case.x, d, strength * norm), atol=_atol(case.x, got))


# -- clamp --------------------------------------------------------------------------------------
@given(subspace_cases(), seeds, amounts)
def test_clamp_sets_projection_and_keeps_the_rest(case, seed, value):
    assert_clamp_sets_projection(clamp, case.x, _direction(case, seed), value)


def test_clamp_mutant_that_adds_fails():
    case = _fixed()
    with pytest.raises(AssertionError):
        assert_clamp_sets_projection(clamp_that_adds, case.x, _direction(case, 2), 1.5)


@given(subspace_cases(), seeds, amounts)
def test_clamp_idempotent(case, seed, value):
    d = _direction(case, seed)
    once = clamp(case.x, d, value)
    assert torch.allclose(clamp(once, d, value), once, atol=_atol(once))


@given(subspace_cases(), seeds, amounts)
def test_clamp_depends_on_direction_not_its_length_or_sign(case, seed, value):
    d = _direction(case, seed)
    assert torch.allclose(
        clamp(case.x, d, value), clamp(case.x, -7.0 * d, -value), atol=_atol(case.x) * 10
    )


# -- patch_projection ---------------------------------------------------------------------------
@given(subspace_cases())
def test_patch_with_itself_is_identity(case):
    out = patch_projection(case.x, case.x, case.basis)
    assert torch.allclose(out, case.x, atol=_atol(case.x))


@given(subspace_cases(), seeds)
def test_patch_sets_subspace_and_keeps_complement(case, seed):
    source = gaussian(case.x.shape, seed=seed, scale=2.0)
    assert_patch_sets_subspace(patch_projection, case.x, source, case.basis)


def test_patch_mutant_without_removing_x_fails():
    case = _fixed()
    with pytest.raises(AssertionError):
        assert_patch_sets_subspace(patch_without_removing_x, case.x, case.x.flip(0), case.basis)


@given(subspace_cases(), seeds)
def test_patch_broadcasts_one_source_row(case, seed):
    source = gaussian(case.x.shape[-1:], seed=seed)
    assert_patch_sets_subspace(patch_projection, case.x, source, case.basis)


@given(subspace_cases(), seeds)
def test_patch_basis_choice_invariant(case, seed):
    source = gaussian(case.x.shape, seed=seed)
    a = patch_projection(case.x, source, case.basis)
    assert torch.allclose(a, patch_projection(case.x, source, case.other_basis), atol=_atol(a))


@given(subspace_cases(), seeds)
def test_patch_rotation_equivariant(case, seed):
    source = gaussian(case.x.shape, seed=seed, scale=2.0)
    assert_patch_rotation_equivariant(patch_projection, case.x, source, case)


def test_patch_mutant_leading_axes_fails_only_rotation_equivariance():
    case = _fixed()
    assert torch.equal(patch_leading_axes(case.x, case.x, case.basis), case.x)
    source = case.x.flip(0)
    with pytest.raises(AssertionError):
        assert_patch_rotation_equivariant(patch_leading_axes, case.x, source, case)


# -- ablate -------------------------------------------------------------------------------------
@given(subspace_cases())
def test_ablate_is_orthogonal_to_basis(case):
    assert_orthogonal_to_basis(ablate, case.x, case.basis)


def test_ablate_mutant_first_vector_only_fails():
    case = _fixed()
    with pytest.raises(AssertionError):
        assert_orthogonal_to_basis(ablate_first_vector_only, case.x, case.basis)


@given(subspace_cases())
def test_ablate_pythagoras(case):
    x, out = case.x, ablate(case.x, case.basis)
    removed = x - out
    sq = (x * x).sum(-1)
    assert torch.allclose(sq, (out * out).sum(-1) + (removed * removed).sum(-1), atol=_atol(sq))


@given(subspace_cases())
def test_ablate_basis_choice_invariant(case):
    a = ablate(case.x, case.basis)
    assert torch.allclose(a, ablate(case.x, case.other_basis), atol=_atol(case.x))


@given(subspace_cases())
def test_ablate_rotation_equivariant(case):
    x, r = case.x, case.rotation
    assert torch.allclose(ablate(x @ r, case.basis @ r), ablate(x, case.basis) @ r, atol=_atol(x))


@given(subspace_cases())
def test_ablate_never_increases_norm(case):
    out = ablate(case.x, case.basis)
    assert bool((out.norm(dim=-1) <= case.x.norm(dim=-1) * (1 + TOL) + TOL).all())


@given(subspace_cases(), seeds, st.booleans())
def test_ablate_idempotent(case, seed, with_mean):
    mean = gaussian(case.x.shape[-1:], seed=seed, scale=5.0) if with_mean else None
    assert_ablate_idempotent(ablate, case.x, case.basis, mean)


def test_ablate_mutant_reflection_fails_idempotence():
    case = _fixed()
    for mean in (None, gaussian((6,), seed=3)):
        with pytest.raises(AssertionError):
            assert_ablate_idempotent(ablate_by_reflection, case.x, case.basis, mean)


@given(subspace_cases(), seeds)
def test_mean_ablation_sets_subspace_to_mean(case, seed):
    mean = gaussian(case.x.shape[-1:], seed=seed, scale=5.0)
    assert_mean_ablation(ablate, case.x, case.basis, mean)


def test_mean_ablation_mutant_fails():
    case = _fixed()
    mean = gaussian((6,), seed=3)
    for mutant in (ablate_first_vector_only, mean_ablate_to_the_mean):
        with pytest.raises(AssertionError):
            assert_mean_ablation(mutant, case.x, case.basis, mean)


# -- all four: float32, purity, errors ----------------------------------------------------------
def _all_ops(x, direction, basis, source, mean):
    return [
        steer(x, direction, 0.5, relative_to=10.0),
        clamp(x, direction, 2.0),
        patch_projection(x, source, basis),
        ablate(x, basis),
        ablate(x, basis, mean=mean),
    ]


def test_interventions_float32_smoke():
    case = _fixed(d=64, k=4)
    x, basis = case.x.float(), case.basis.float()
    direction, source, mean = torch.randn(64), torch.randn(3, 4, 64), torch.randn(64)
    for out in _all_ops(x, direction, basis, source, mean):
        assert out.dtype == torch.float32 and out.shape == x.shape
    unit = direction / direction.norm()
    assert torch.allclose(clamp(x, direction, 2.0) @ unit, torch.full((3, 4), 2.0), atol=1e-4)
    assert float((ablate(x, basis) @ basis.mT).abs().max()) < 1e-4


def test_interventions_are_pure():
    case = _fixed()
    inputs = [case.x, _direction(case, 0), case.basis, gaussian((3, 4, 6), seed=5), case.x[0, 0]]
    before = [t.clone() for t in inputs]
    _all_ops(*inputs)
    assert all(torch.equal(a, b) for a, b in zip(inputs, before, strict=True))


def test_interventions_name_bad_directions(shipped):
    x = _fixed().x
    with pytest.raises(ValueError, match="direction is all zeros"):
        shipped.steer(x, torch.zeros(6, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="direction contains NaN"):
        shipped.clamp(x, torch.full((6,), math.nan, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="strength must be a finite"):
        shipped.steer(x, torch.ones(6, dtype=F64), math.inf)
    with pytest.raises(ValueError, match="relative_to must be a positive"):
        shipped.steer(x, torch.ones(6, dtype=F64), 1.0, relative_to=0.0)


def test_interventions_name_non_finite_activations(shipped):
    case = _fixed()
    x = case.x.clone()
    x[0, 1, 2] = math.inf
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        shipped.clamp(x, torch.ones(6, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        shipped.ablate(x, case.basis)
    with pytest.raises(ValueError, match="source contains NaN or Inf"):
        shipped.patch_projection(case.x, x, case.basis)


def test_interventions_name_shape_problems(shipped):
    case = _fixed()
    with pytest.raises(ValueError, match="same d_model"):
        shipped.steer(case.x, torch.ones(5, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        shipped.patch_projection(case.x[0], case.x, case.basis)
    with pytest.raises(ValueError, match="x has width 6 but direction has 5"):
        shipped.clamp(case.x, torch.ones(5, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="same d_model"):
        shipped.ablate(case.x, case.basis[:, :5])
    with pytest.raises(ValueError, match="mean has width 5"):
        shipped.ablate(case.x, case.basis, mean=torch.ones(5, dtype=F64))


# -- warnings for legal but almost surely mistaken steering ---------------------------------------
def test_a_step_far_beyond_the_residual_norm_warns():
    from emovec import Site
    from emovec.ops import SteeringWarning, check_steering

    with pytest.warns(SteeringWarning, match=r"1e\+09 times the site's mean residual norm"):
        check_steering(Site(20), 1e9 * 40.0, residual_norm=40.0, n_layers=30)


def test_a_usual_step_at_a_usual_site_is_silent():
    import warnings

    from emovec import Site
    from emovec.ops import check_steering

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_steering(Site(20), 0.5 * 40.0, residual_norm=40.0, n_layers=30)
        check_steering(Site(3, "resid_pre"), 4.0, residual_norm=None, n_layers=30)


@pytest.mark.parametrize("site", ["resid_pre.0", "resid_post.1", "resid_pre.2"])
def test_steering_in_the_first_tenth_warns(site):
    from emovec import Site
    from emovec.ops import SteeringWarning, check_steering

    with pytest.warns(SteeringWarning, match="first tenth of a 30-layer model"):
        check_steering(Site.parse(site), 1.0, residual_norm=None, n_layers=30)
