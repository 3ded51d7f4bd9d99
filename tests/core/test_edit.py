"""Edit semantics: each constructor does what its name says, and nothing else."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec import Edit, Site
from emovec.ops import steer

SITE = Site(0)


def acts(seed: int, d: int = 16) -> torch.Tensor:
    return torch.randn(2, 5, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def orthonormal(seed: int, d: int, k: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(d, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    return q.T


@given(st.integers(0, 10_000), st.floats(-50, 50))
def test_steer_adds_the_scaled_unit_direction(seed, strength):
    x, v = acts(seed), acts(seed + 1)[0, 0]
    out = Edit.steer(SITE, v, strength).apply(x)
    torch.testing.assert_close(out, x + strength * v / v.norm())


@given(st.integers(0, 10_000), st.floats(-50, 50), st.floats(0.01, 1e4))
def test_steer_is_the_same_formula_as_the_op(seed, strength, length):
    # One steering formula: the Edit adapters apply and the pure op agree for any direction length.
    x, v = acts(seed), acts(seed + 1)[0, 0]
    v = v / v.norm() * length
    torch.testing.assert_close(Edit.steer(SITE, v, strength).apply(x), steer(x, v, strength))


@pytest.mark.parametrize("who", [Edit.steer, Edit.clamp])
def test_a_zero_direction_is_an_error_not_a_no_op(who):
    with pytest.raises(ValueError, match="all zeros, so the edit would do nothing"):
        who(SITE, torch.zeros(16), 1.0)


@given(st.integers(0, 10_000), st.floats(-50, 50))
def test_clamp_sets_projection_and_keeps_the_rest(seed, value):
    x, v = acts(seed), acts(seed + 1)[0, 0]
    unit = v / v.norm()
    out = Edit.clamp(SITE, v, value).apply(x)
    torch.testing.assert_close(out @ unit, torch.full(x.shape[:2], value, dtype=x.dtype))
    rest = lambda t: t - (t @ unit)[..., None] * unit  # noqa: E731
    torch.testing.assert_close(rest(out), rest(x))


@given(st.integers(0, 10_000), st.integers(1, 4))
def test_ablate_removes_the_whole_subspace(seed, k):
    x, basis = acts(seed), orthonormal(seed, 16, k)
    out = Edit.ablate(SITE, basis).apply(x)
    torch.testing.assert_close(
        out @ basis.T, torch.zeros(2, 5, k, dtype=x.dtype), atol=1e-12, rtol=0
    )
    # mutation check: ablating only the first basis vector leaves the others behind
    if k > 1:
        wrong = Edit.ablate(SITE, basis[:1]).apply(x)
        assert (wrong @ basis.T).abs().max() > 1e-6


@given(st.integers(0, 10_000))
def test_mean_ablation_sets_the_mean_component(seed):
    x, basis, mean = acts(seed), orthonormal(seed, 16, 2), acts(seed + 2)[0, 0]
    out = Edit.ablate(SITE, basis, mean=mean).apply(x)
    torch.testing.assert_close(out @ basis.T, (mean @ basis.T).expand(2, 5, 2))


@given(st.integers(0, 10_000))
def test_patch_with_own_source_is_identity(seed):
    x, basis = acts(seed), orthonormal(seed, 16, 3)
    torch.testing.assert_close(Edit.patch(SITE, basis, x).apply(x), x)


@given(st.integers(0, 10_000))
def test_patch_takes_source_component_and_keeps_target_rest(seed):
    x, src, basis = acts(seed), acts(seed + 7), orthonormal(seed, 16, 3)
    out = Edit.patch(SITE, basis, src).apply(x)
    torch.testing.assert_close(out @ basis.T, src @ basis.T)
    torch.testing.assert_close(out - (out @ basis.T) @ basis, x - (x @ basis.T) @ basis)


def test_mask_limits_positions():
    x = acts(0)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[1, 2] = True
    out = Edit.steer(SITE, torch.ones(16, dtype=torch.float64), 1.0).apply(x, mask)
    changed = (out != x).any(-1)
    assert changed.tolist() == mask.tolist()


def test_apply_never_mutates_its_input():
    x = acts(0)
    before = x.clone()
    Edit.clamp(SITE, torch.ones(16), 2.0).apply(x)
    assert torch.equal(x, before)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Edit.steer(SITE, torch.ones(2, 4), 1.0), "1-d"),
        (lambda: Edit.clamp(SITE, torch.zeros(4), 1.0), "zero"),
        (lambda: Edit.steer(SITE, torch.tensor([1.0, float("inf")]), 1.0), "NaN or Inf"),
        (lambda: Edit.steer(SITE, torch.ones(4), 1.0, positions="middle"), "positions must be"),
        (lambda: Edit.steer(SITE, torch.ones(4), 1.0, positions=torch.ones(2, 3)), "bool tensor"),
    ],
)
def test_invalid_edits_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_width_activation():
    with pytest.raises(ValueError, match="made for another model"):
        Edit.steer(SITE, torch.ones(8), 1.0).apply(torch.zeros(1, 2, 4))
