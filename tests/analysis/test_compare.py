import math

import pytest
import torch

from emovec import Site
from emovec.analysis._compare import compare_bundles, layer_rsa
from emovec.vectors import EmotionVectors

NAMES = [f"e{i}" for i in range(40)]


def _bundle(seed: int = 0, d: int = 16, sites=(0, 1, 2)):
    g = torch.Generator().manual_seed(seed)
    v = torch.nn.functional.normalize(torch.randn(40, len(sites), d, generator=g), dim=-1)
    return EmotionVectors(v, NAMES, [Site(s) for s in sites])


def _rotated(ev: EmotionVectors, seed: int = 5) -> EmotionVectors:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(ev.d_model, ev.d_model, generator=g))
    return EmotionVectors(ev.vectors @ q, ev.emotions, ev.sites)


def test_layer_rsa_is_one_on_the_diagonal_and_symmetric():
    m = layer_rsa(_bundle()).matrix
    assert torch.allclose(m.diagonal(), torch.ones(3, dtype=m.dtype))
    assert torch.allclose(m, m.T)
    assert m[0, 1].abs() < 0.3  # independent random sites share no geometry


def test_a_bundle_compared_with_itself():
    ev = _bundle()
    cmp = compare_bundles(ev, ev)
    for row in cmp.rows:
        assert row.rsa == pytest.approx(1.0)
        assert row.raw_cosine == pytest.approx(1.0)
        assert row.aligned_cosine == pytest.approx(1.0)


def test_procrustes_recovers_a_rotated_copy_and_raw_cosine_does_not():
    ev = _bundle()
    cmp = compare_bundles(ev, _rotated(ev))
    for row in cmp.rows:
        assert row.rsa == pytest.approx(1.0)
        assert row.aligned_cosine == pytest.approx(1.0, abs=1e-6)
        assert row.crossfit_cosine == pytest.approx(1.0, abs=1e-6)
        assert row.raw_cosine < 0.5
    assert set(cmp.per_emotion) == set(NAMES)


def test_mutation_shuffled_partners_break_rsa_and_crossfit():
    ev = _bundle()
    rotated = _rotated(ev)
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(3))
    shuffled = EmotionVectors(rotated.vectors[perm], NAMES, ev.sites)
    for row in compare_bundles(ev, shuffled).rows:
        assert abs(row.rsa) < 0.3
        assert row.crossfit_cosine < 0.5


def test_different_widths_compare_by_rsa_only_and_bad_overlap_is_refused():
    a = _bundle(d=16)
    b = EmotionVectors(torch.cat([_rotated(a).vectors, torch.zeros(40, 3, 4)], -1), NAMES, a.sites)
    row = compare_bundles(a, b).rows[0]
    assert row.rsa == pytest.approx(1.0) and row.aligned_cosine is None
    other = EmotionVectors(a.vectors[:2], ["x", "y"], a.sites)
    with pytest.raises(ValueError, match="share 0 emotions"):
        compare_bundles(a, other)
    with pytest.raises(ValueError, match="share no site"):
        compare_bundles(a, _bundle(sites=(5,)))


def test_crossfit_is_nan_with_too_few_emotions_and_rsa_nan_when_undefined():
    v = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])[:, None]
    ev = EmotionVectors(v, ["a", "b", "c"], [0])
    assert math.isnan(compare_bundles(ev, ev).rows[0].crossfit_cosine)
    flat = EmotionVectors(torch.eye(3)[:, None], ["a", "b", "c"], [0])  # all cosines 0
    assert math.isnan(compare_bundles(flat, flat).rows[0].rsa)
