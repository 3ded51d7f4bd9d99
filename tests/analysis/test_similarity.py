import math

import pytest
import torch

from emovec import Site
from emovec.analysis._similarity import ANTONYMS, similarity, valence_pairs
from emovec.catalogue import Catalogue
from emovec.vectors import EmotionVectors


def _clustered(k: int = 4, per: int = 6, d: int = 32, noise: float = 0.15, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(k, d, generator=g), dim=-1)
    v = centres.repeat_interleave(per, 0) + noise * torch.randn(k * per, d, generator=g)
    names = [f"e{i}" for i in range(k * per)]
    return EmotionVectors(torch.nn.functional.normalize(v, dim=-1)[:, None], names, [Site(2)])


def test_kmeans_recovers_built_clusters_with_a_high_silhouette():
    s = similarity(_clustered(), 2, k=4, norms=False)
    groups = sorted(s.clusters())
    assert groups == sorted(tuple(f"e{i}" for i in range(j * 6, j * 6 + 6)) for j in range(4))
    assert s.silhouette > 0.5
    # The hierarchical order keeps each cluster contiguous.
    order = s.order.tolist()
    blocks = [order[i : i + 6] for i in range(0, 24, 6)]
    assert sorted(sorted(b) for b in blocks) == [list(range(j, j + 6)) for j in range(0, 24, 6)]
    # Nearest neighbours come from the emotion's own cluster.
    assert all(int(n[1:]) // 6 == 0 for n, _ in s.neighbours["e0"])


def test_mutation_unstructured_vectors_have_a_low_silhouette():
    g = torch.Generator().manual_seed(1)
    v = torch.nn.functional.normalize(torch.randn(24, 1, 32, generator=g), dim=-1)
    s = similarity(EmotionVectors(v, [f"e{i}" for i in range(24)], [Site(2)]), 2, k=4, norms=False)
    assert s.silhouette < 0.2


def test_opposite_pairs_from_antonyms_and_norms():
    names = ["happy", "sad", "calm", "afraid", "joyful", "miserable", "bored"]
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.normalize(torch.randn(3, 16, generator=g), dim=-1)
    rows = [base[0], -base[0], base[1], -base[1], base[2], -base[2], base[0] + base[1]]
    v = torch.nn.functional.normalize(torch.stack(rows), dim=-1)[:, None]
    s = similarity(EmotionVectors(v, names, [Site(0)]), 0, k=2)
    antonyms = {(p.positive, p.negative): p.cosine for p in s.pairs if p.source == "antonyms"}
    assert set(antonyms) == {("happy", "sad"), ("calm", "afraid"), ("joyful", "miserable")}
    assert all(c == pytest.approx(-1.0, abs=1e-6) for c in antonyms.values())
    assert s.pair_mean("antonyms") < s.mean_offdiagonal
    assert all(p.source == "norms" for p in s.pairs[3:])
    assert not math.isnan(s.pair_mean("norms"))


def test_valence_pairs_pair_extremes():
    pairs = valence_pairs(Catalogue.default().emotions, n=3)
    assert len(pairs) == 3
    from emovec.catalogue import load_norms

    norms = load_norms()
    for pos, neg in pairs:
        assert norms[pos].valence > 7 and norms[neg].valence < 2.5


def test_curated_antonyms_are_catalogue_words_with_opposite_valence():
    from emovec.catalogue import load_norms

    catalogue, norms = Catalogue.default(), load_norms()
    for pos, neg in ANTONYMS:
        assert pos in catalogue and neg in catalogue, (pos, neg)
        if pos in norms and neg in norms:
            assert norms[pos].valence > norms[neg].valence, (pos, neg)
