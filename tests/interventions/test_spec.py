"""Specs compile to the edits their names promise (tiny model bundle; maths in float64 where possible)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec import Edit, Site, TokenBatch
from emovec.interventions import (
    Ablate,
    Clamp,
    Interventions,
    Steer,
    compile_edits,
    default_site,
    last,
    span_basis,
)
from emovec.vectors import EmotionVectors


def acts(seed: int, d: int = 64) -> torch.Tensor:
    return torch.randn(2, 5, d, generator=torch.Generator().manual_seed(seed))


@given(st.floats(-2, 2, allow_nan=False), st.sampled_from([0, 1, 2]))
def test_relative_strength_is_fraction_of_residual_norm_along_unit_vector(
    tiny_backends, tiny_bundle, strength, layer
):
    backend, site = tiny_backends["hf"], Site(layer)
    [edit] = Steer("desperate", strength, site).edits(tiny_bundle, backend)
    unit = tiny_bundle.vector("desperate", site)
    x = acts(layer)
    expected = x + strength * tiny_bundle.residual_norm(site) * unit
    torch.testing.assert_close(edit.apply(x), expected, atol=1e-6, rtol=1e-5)
    assert edit.site == site


def test_absolute_strength_and_raw_vectors_are_normalised(tiny_backends):
    backend = tiny_backends["hf"]
    v = torch.arange(64.0)
    [edit] = Steer(v, 3.0, 1, relative=False).edits(None, backend)
    x = acts(0)
    torch.testing.assert_close(edit.apply(x), x + 3.0 * v / v.norm())


def test_mutation_absolute_strength_is_not_relative(tiny_backends, tiny_bundle):
    # the two units differ: a spec that ignored `relative` would fail one of these tests
    backend = tiny_backends["hf"]
    rel = Steer("calm", 1.0, 2).edits(tiny_bundle, backend)[0]
    absolute = Steer("calm", 1.0, 2, relative=False).edits(tiny_bundle, backend)[0]
    assert float(rel.offset) == pytest.approx(tiny_bundle.residual_norm(2))
    assert float(absolute.offset) == 1.0


def test_default_site_is_nearest_two_thirds(tiny_backends, tiny_bundle):
    [edit] = Steer("calm", 0.1).edits(tiny_bundle, tiny_backends["hf"])
    assert edit.site == default_site(tiny_bundle) == Site(2)
    ev = EmotionVectors(
        torch.ones(1, 4, 3) / 3**0.5,
        ("a",),
        (Site(1), Site(9), Site(19), Site(29)),
        {"n_layers": 30},
    )
    assert default_site(ev) == Site(19)


@given(
    st.integers(0, 1000),
    st.sampled_from([["calm"], ["calm", "hostile"], ["calm", "hostile", "happy", "afraid"]]),
)
def test_ablate_removes_the_span_of_the_named_emotions(tiny_backends, tiny_bundle, seed, names):
    backend = tiny_backends["hf"]
    [edit] = Ablate(names, 1).edits(tiny_bundle, backend)
    out = edit.apply(acts(seed))
    vs = torch.stack([tiny_bundle.vector(n, 1) for n in names])
    assert (out @ vs.T).abs().max() < 1e-4
    # the orthogonal complement is untouched: Pythagoras on the removed part
    removed = acts(seed) - out
    assert ((acts(seed) * removed).sum(-1) - (removed * removed).sum(-1)).abs().max() < 1e-3


def test_mutation_ablating_unorthonormalised_vectors_misses_part_of_the_span(
    tiny_backends, tiny_bundle
):
    # what a spec that skipped orthonormalisation would compute: it leaves span components behind
    vs = torch.stack([tiny_bundle.vector(n, 1) for n in ("calm", "hostile", "happy")])
    wrong = Edit(Site(1), vs, torch.zeros(3), -torch.ones(3)).apply(acts(3))
    assert (wrong @ vs.T).abs().max() > 1e-3
    [right] = Ablate(["calm", "hostile", "happy"], 1).edits(tiny_bundle, tiny_backends["hf"])
    assert (right.apply(acts(3)) @ vs.T).abs().max() < 1e-4


def test_ablate_all_uses_the_whole_span_even_when_dependent(tiny_backends):
    backend = tiny_backends["hf"]
    base = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    rows = torch.cat([base, (base[0] + base[1])[None]])  # a dependent fourth vector
    rows = rows / rows.norm(dim=-1, keepdim=True)
    ev = EmotionVectors(rows[:, None], ("a", "b", "c", "d"), (Site(0),), {"d_model": 64})
    [edit] = Ablate("all", 0).edits(ev, backend, allow_mismatch=True)
    assert edit.basis.shape[0] == 3
    assert (edit.apply(acts(1)) @ rows.T).abs().max() < 1e-4
    assert span_basis(rows).shape == (3, 64)


def test_mean_ablation_sets_the_mean_component(tiny_backends, tiny_bundle):
    mean = torch.randn(64, generator=torch.Generator().manual_seed(5))
    [edit] = Ablate(["calm", "afraid"], 0, mean=mean).edits(tiny_bundle, tiny_backends["hf"])
    out = edit.apply(acts(2))
    torch.testing.assert_close(
        out @ edit.basis.T, (mean @ edit.basis.T).expand(2, 5, 2), atol=1e-5, rtol=1e-5
    )


@given(st.floats(-5, 5, allow_nan=False))
def test_clamp_sets_the_projection(tiny_backends, tiny_bundle, value):
    [edit] = Clamp("hostile", value, 2).edits(tiny_bundle, tiny_backends["hf"])
    unit = tiny_bundle.vector("hostile", 2)
    torch.testing.assert_close(
        edit.apply(acts(4)) @ unit, torch.full((2, 5), value), atol=1e-5, rtol=1e-5
    )
    [rel] = Clamp("hostile", value, 2, relative=True).edits(tiny_bundle, tiny_backends["hf"])
    target = value * tiny_bundle.residual_norm(2)
    torch.testing.assert_close(
        rel.apply(acts(4)) @ unit, torch.full((2, 5), target), atol=1e-5, rtol=1e-5
    )


def test_composition_keeps_order_and_flattens(tiny_backends, tiny_bundle):
    backend = tiny_backends["hf"]
    a, b, c = Steer("calm", 0.1, 0), Ablate("hostile", 1), Clamp("happy", 0.0, 2)
    combined = a + b + c
    assert isinstance(combined, Interventions) and len(combined.items) == 3
    sites = [e.site for e in combined.edits(tiny_bundle, backend)]
    assert sites == [Site(0), Site(1), Site(2)]
    assert [e.site for e in compile_edits([a, [b, c]], tiny_bundle, backend)] == sites
    assert len(sum([a, b], start=Interventions()).items) == 2


def test_multiple_sites(tiny_backends, tiny_bundle):
    edits = Steer("calm", 0.2, "0:3").edits(tiny_bundle, tiny_backends["hf"])
    assert [e.site for e in edits] == [Site(0), Site(1), Site(2)]
    for e in edits:
        assert float(e.offset) == pytest.approx(0.2 * tiny_bundle.residual_norm(e.site))


@pytest.mark.parametrize("side", ["right", "left"])
def test_index_positions_mark_each_rows_last_tokens(tiny_backends, tiny_bundle, side):
    backend = tiny_backends["hf"]
    batch = TokenBatch.from_ids([[5, 6, 7, 8], [9, 10]], pad_id=0, side=side)
    [edit] = Steer("calm", 0.1, 0, positions=last(2)).edits(tiny_bundle, backend, batch)
    mask = edit.positions
    expected = [[False, False, True, True], [True, True, False, False]]
    if side == "left":
        expected = [[False, False, True, True], [False, False, True, True]]
    assert mask.tolist() == expected
    [first] = Steer("calm", 0.1, 0, positions=0).edits(tiny_bundle, backend, batch)
    assert first.positions.sum(-1).tolist() == [1, 1]


def test_steering_a_mask_touches_only_those_tokens_in_a_forward(tiny_backends, tiny_bundle):
    backend = tiny_backends["hf"]
    batch = backend.tokenize(["the cat sat on the mat today", "hello there"])
    edits = Steer("calm", 2.0, 0, positions=last(1)).edits(tiny_bundle, backend, batch)
    site = Site(0)
    plain = backend.capture(batch, [site])[site]
    steered = backend.capture(batch, [site], edits=edits)[site]
    changed = (steered - plain).norm(dim=-1) > 1e-6
    assert changed.tolist() == edits[0].positions.tolist()
