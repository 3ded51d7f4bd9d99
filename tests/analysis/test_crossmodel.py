"""Cross-model geometry: RSA, Procrustes error and depth pairing on bundles of any width."""

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec._site import Site
from emovec.analysis import compare_models, procrustes_error
from emovec.analysis._crossmodel import null_procrustes_error, pair_by_depth
from emovec.catalogue import load_norms
from emovec.cli import main
from emovec.vectors import EmotionVectors

NAMES = tuple(sorted(load_norms())[:12])  # rated emotions, so valence alignment has norms


def make(v: torch.Tensor, n_layers: int, layers) -> EmotionVectors:
    return EmotionVectors(v, NAMES, [Site(n) for n in layers], {"n_layers": n_layers})


@given(seed=st.integers(0, 10_000), d=st.integers(4, 24), scale=st.floats(0.1, 10.0))
def test_procrustes_error_of_a_rotated_scaled_shifted_copy_is_zero(seed, d, scale):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(9, d, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    assert procrustes_error(a, scale * a @ q + 3.0) == pytest.approx(0.0, abs=1e-9)


@given(seed=st.integers(0, 10_000))
def test_procrustes_error_across_widths_and_against_shuffles(seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(20, 6, generator=g, dtype=torch.float64)
    embed = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))[0][:6]
    wide = a @ embed  # the same configuration in a 16-wide space
    assert procrustes_error(a, wide) == pytest.approx(0.0, abs=1e-9)
    other = torch.randn(20, 16, generator=g, dtype=torch.float64)
    err = procrustes_error(a, other)
    assert 0.0 < err <= 1.0
    assert null_procrustes_error(a, wide, permutations=20) > 0.2


def test_rsa_of_a_bundle_with_itself_is_one_and_depths_pair_up():
    g = torch.Generator().manual_seed(0)
    a = make(torch.randn(len(NAMES), 4, 8, generator=g), 8, [1, 3, 5, 7])
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g))
    wide = torch.cat([a.vectors, torch.zeros(len(NAMES), 4, 4)], dim=-1) @ q
    b = make(wide, 8, [1, 3, 5, 7])
    result = compare_models(a, b, permutations=5)
    for pair in result.pairs:
        assert pair.rsa == pytest.approx(1.0)
        assert pair.procrustes_error == pytest.approx(0.0, abs=1e-9)
        assert abs(pair.valence_a) == pytest.approx(abs(pair.valence_b))  # PC signs are arbitrary
    deep = make(torch.randn(len(NAMES), 24, 8, generator=g), 24, range(24))
    pairs = pair_by_depth(deep, a)  # a has fewer sites: each meets the same relative depth
    assert [(x.layer, y.layer) for x, y in pairs] == [(5, 1), (11, 3), (17, 5), (23, 7)]


def test_unrelated_bundles_score_low_and_few_shared_emotions_are_refused():
    g = torch.Generator().manual_seed(1)
    a = make(torch.randn(len(NAMES), 2, 8, generator=g), 4, [1, 3])
    b = make(torch.randn(len(NAMES), 2, 10, generator=g), 4, [1, 3])
    result = compare_models(a, b, permutations=10)
    assert all(abs(p.rsa) < 0.5 for p in result.pairs)
    assert all(p.procrustes_error > 0.3 for p in result.pairs)
    small = EmotionVectors(torch.randn(3, 1, 8), NAMES[:3], [Site(1)])
    with pytest.raises(ValueError, match="share 3 emotions"):
        compare_models(small, b)


def test_cli_writes_json_table_and_reads_heldout(tmp_path, capsys):
    g = torch.Generator().manual_seed(2)
    a = make(torch.randn(len(NAMES), 2, 8, generator=g), 4, [1, 3])
    b = make(a.vectors + 0.05 * torch.randn(len(NAMES), 2, 8, generator=g), 4, [1, 3])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a.normalized().save(tmp_path / "a" / "emotion_vectors.safetensors")
    b.normalized().save(tmp_path / "b" / "emotion_vectors.safetensors")
    held = {"chance": 1 / 12, "rows": [{"site": "resid_post.3", "story_top1": 0.5}]}
    (tmp_path / "a" / "heldout.json").write_text(json.dumps(held))
    code = main(
        [
            "compare-models",
            str(tmp_path / "a"),
            str(tmp_path / "b"),
            "--out",
            str(tmp_path / "out"),
            "--permutations",
            "5",
            "--label-a",
            "A",
            "--label-b",
            "B",
        ]
    )
    assert code == 0
    numbers = json.loads((tmp_path / "out" / "crossmodel.json").read_text())
    assert numbers["a"] == "A" and numbers["best"]["rsa"] > 0.9
    assert numbers["pairs"][1]["heldout_a"] == 0.5 and numbers["pairs"][1]["heldout_b"] is None
    assert "| depth |" in (tmp_path / "out" / "crossmodel.md").read_text()
