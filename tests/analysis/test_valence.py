import math

import pytest
import torch

from emovec import Site
from emovec.analysis import pearson, valence_alignment
from emovec.vectors import EmotionVectors

NAMES = [f"e{i}" for i in range(12)]


def _synthetic(seed: int = 0):
    """Vectors whose first axis is valence and second arousal, plus small noise."""
    g = torch.Generator().manual_seed(seed)
    valence = torch.linspace(1, 9, 12)[torch.randperm(12, generator=g)]
    arousal = torch.linspace(2, 8, 12)[torch.randperm(12, generator=g)]
    v = torch.randn(12, 2, 32, generator=g) * 0.01
    v[:, 0, 0] += (valence - valence.mean()) * 2.0
    v[:, 0, 1] += arousal - arousal.mean()
    v[:, 1] = torch.randn(12, 32, generator=g)  # a site with no affect structure
    norms = {
        n: {"valence": float(a), "arousal": float(b)}
        for n, a, b in zip(NAMES, valence, arousal, strict=True)
    }
    return EmotionVectors(v, NAMES, [Site(3), Site(7)]), norms


def test_pc1_tracks_valence_and_pc2_arousal_where_built_in():
    ev, norms = _synthetic()
    result = valence_alignment(ev, norms)
    row = result.rows[0]
    assert abs(row.r_pc1_valence) > 0.99 and abs(row.r_pc2_arousal) > 0.95
    assert row.explained[0] > row.explained[1] > row.explained[2]
    assert result.best.site == Site(3)
    assert abs(result.rows[1].r_pc1_valence) < abs(row.r_pc1_valence)
    marked = [line for line in result.table().splitlines() if "*" in line.split()[:2]]
    assert len(marked) == 1 and marked[0].startswith("resid_post.3")


def test_the_sign_of_a_pc_does_not_change_abs_r():
    ev, norms = _synthetic()
    flipped = EmotionVectors(-ev.vectors, ev.emotions, ev.sites)
    a, b = valence_alignment(ev, norms).rows[0], valence_alignment(flipped, norms).rows[0]
    assert abs(a.r_pc1_valence) == pytest.approx(abs(b.r_pc1_valence))
    assert a.as_dict()["abs_r_pc1_valence"] == pytest.approx(abs(a.r_pc1_valence))


def test_only_normed_emotions_enter_the_correlation():
    ev, norms = _synthetic()
    partial = {k: v for k, v in list(norms.items())[:8]}
    result = valence_alignment(ev, partial)
    assert len(result.used) == 8 and len(result.missing) == 4 and result.n_emotions == 12
    with pytest.raises(ValueError, match="need at least 3"):
        valence_alignment(ev, {"e0": norms["e0"]})


def test_norms_from_the_catalogue_or_a_csv(tmp_path):
    from emovec.catalogue import load_norms

    ev, norms = _synthetic()
    path = tmp_path / "norms.csv"
    rows = "".join(f"{e},{n['valence']},{n['arousal']},5.0\n" for e, n in norms.items())
    path.write_text("emotion,valence,arousal,dominance\n" + rows)
    from_dicts = valence_alignment(ev, norms).rows[0]
    for source in (path, str(path), load_norms(path)):
        row = valence_alignment(ev, source).rows[0]
        assert row.r_pc1_valence == pytest.approx(from_dicts.r_pc1_valence)


def test_the_shipped_norms_are_the_default():
    names = ["afraid", "happy", "calm", "angry", "sad", "not-a-word"]
    v = torch.randn(6, 1, 8, generator=torch.Generator().manual_seed(0))
    result = valence_alignment(EmotionVectors(v, names, [Site(0)]))
    assert result.used == ("afraid", "happy", "calm", "angry", "sad")
    assert result.missing == ("not-a-word",)


def test_pearson():
    x = torch.randn(50, dtype=torch.float64)
    assert pearson(x, 3 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert math.isnan(pearson(x, torch.ones(50)))


def test_strongest_valence_looks_at_pc2_too():
    ev, norms = _synthetic()
    swapped = ev.vectors.clone()
    swapped[:, 0, 0] *= 0.2  # valence now has less variance than arousal: it becomes PC2
    result = valence_alignment(EmotionVectors(swapped, ev.emotions, ev.sites), norms)
    site, pc, r = result.strongest_valence
    assert (site, pc) == (Site(3), 2) and abs(r) > 0.9
    assert "(PC2 at resid_post.3)" in result.table()
