import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec import Site
from emovec.analysis._geometry_report import (
    geometry_report,
    pearson_columns,
    ratings_for,
    recommend_site,
    spearman_columns,
    spearman_resamples,
)
from emovec.catalogue import Catalogue, load_norms
from emovec.ops import spearman
from emovec.vectors import EmotionVectors


def _built(seed: int = 0, *, shuffle: bool = False, d: int = 48):
    """All 171 emotions; at site 1 the vectors' first axis is valence and the second arousal
    (for unrated emotions, ratings drawn from the rated ones); site 0 is pure noise."""
    g = torch.Generator().manual_seed(seed)
    names = Catalogue.default().emotions
    norms = load_norms()
    rated = [e for e in names if e in norms]
    val = {e: norms[e].valence for e in rated}
    aro = {e: norms[e].arousal for e in rated}
    pool = torch.randint(len(rated), (len(names),), generator=g).tolist()
    valence = torch.tensor([val.get(e, val[rated[i]]) for e, i in zip(names, pool, strict=True)])
    arousal = torch.tensor([aro.get(e, aro[rated[i]]) for e, i in zip(names, pool, strict=True)])
    if shuffle:  # the mutation: same vectors, labels no longer matched to their ratings
        valence = valence[torch.randperm(len(names), generator=g)]
        arousal = arousal[torch.randperm(len(names), generator=g)]
    v = torch.randn(len(names), 2, d, generator=g) * 0.1
    v[:, 1, 0] += (valence - valence.mean()) * 1.0
    v[:, 1, 1] += (arousal - arousal.mean()) * 0.6
    v = torch.nn.functional.normalize(v, dim=-1)
    meta = {"n_layers": 3}
    return EmotionVectors(v, names, [Site(0), Site(1)], meta), norms


def test_pc1_recovers_built_in_valence_and_pc2_arousal_with_intervals():
    ev, norms = _built()
    rep = geometry_report(ev, norms, n_resamples=200)
    site = rep.at(1)
    val, aro = site.corr(1, "valence"), site.corr(2, "arousal")
    assert abs(val.pearson) > 0.95 and abs(val.spearman) > 0.9
    assert abs(aro.pearson) > 0.85
    assert val.pearson_low <= val.pearson <= val.pearson_high
    assert val.spearman_low <= val.spearman <= val.spearman_high
    assert val.pearson_high - val.pearson_low < 0.1
    assert site.alignment("valence").pc == 1 and site.alignment("arousal").pc == 2
    assert abs(rep.at(0).alignment("valence").pearson) < 0.4  # the noise site
    assert rep.recommended == Site(1)
    assert len(rep.ratings.emotions) == 126 and len(rep.ratings.missing) == 45
    assert "*" in [line for line in rep.table().splitlines() if line.startswith("resid_post.1")][0]


def test_mutation_shuffled_ratings_give_no_correlation():
    ev, norms = _built(shuffle=True)
    # Use the shuffled ratings the vectors were built from as "norms" for the wrong emotions:
    # the vectors carry structure, but it no longer lines up with the names' ratings.
    rep = geometry_report(ev, norms, n_resamples=100)
    site = rep.at(1)
    assert abs(site.corr(1, "valence").pearson) < 0.3
    ci = site.corr(1, "valence")
    assert ci.pearson_low < 0 < ci.pearson_high or abs(ci.pearson) < 0.3


def test_variance_counts_and_explained_ratios():
    ev, norms = _built()
    site = geometry_report(ev, norms, n_resamples=20).at(1)
    cum = np.cumsum(site.explained)
    for level, n in site.n_for_variance.items():
        assert cum[n - 1] >= level - 1e-9 and (n == 1 or cum[n - 2] < level)
    assert site.explained[0] > 0.5  # the built-in valence axis dominates
    assert math.isclose(sum(site.explained), 1.0, rel_tol=1e-6)


def test_norms_without_overlap_are_refused_naming_the_file(tmp_path):
    ev, _ = _built()
    path = tmp_path / "norms.csv"
    path.write_text("emotion,valence,arousal,dominance\nbanana,5,5,5\ntable,4,4,4\n")
    with pytest.raises(ValueError, match=r"norms\.csv rate only 0 of the 171 emotions"):
        geometry_report(ev, load_norms(path))
    with pytest.raises(ValueError, match="norms.csv"):
        ratings_for(ev.emotions, path)


def test_recommendation_rule():
    # Early layers are not eligible even with the largest |r|.
    assert recommend_site([(Site(1), 0.95), (Site(15), 0.5)], 30) == Site(15)
    # Ties (within 0.02) go to the site nearest two thirds of the depth.
    assert recommend_site([(Site(12), 0.80), (Site(20), 0.79), (Site(27), 0.6)], 30) == Site(20)
    # The sign of r does not matter; NaN counts as no alignment.
    assert recommend_site([(Site(12), -0.9), (Site(20), float("nan"))], 30) == Site(12)
    # A bundle with only early sites still gets a recommendation.
    assert recommend_site([(Site(0), 0.1), (Site(2), 0.3)], 30) == Site(2)


def spearman_resamples_with_ordinal_ranks(pairs):
    """Ranks that break ties by position instead of sharing the average rank."""
    ranks = pairs.argsort(dim=-2, stable=True).argsort(dim=-2).double()
    return torch.stack([torch.corrcoef(r.T)[0, 1] for r in ranks])


def assert_resamples_match_spearman(op, stack):
    """The vectorised bootstrap statistic equals `emovec.ops.spearman` on each resample."""
    got = op(stack)
    for i in range(stack.shape[0]):
        assert abs(float(got[i]) - spearman(stack[i, :, 0], stack[i, :, 1])) < 1e-12


@given(st.integers(3, 60), st.integers(0, 2**16), st.integers(0, 2))
def test_spearman_resamples_match_ops_spearman_with_ties(n, seed, decimals):
    # Like a report: PC coordinates against ratings on a 1-9 scale given to 2 decimals; both
    # rounded further here, so many ties.
    g = torch.Generator().manual_seed(seed)
    coords = torch.randn(4, n, generator=g, dtype=torch.float64).round(decimals=decimals)
    ratings = (5 + 2 * torch.randn(4, n, generator=g, dtype=torch.float64)).round(decimals=1)
    stack = torch.stack([coords, ratings], dim=-1)
    constant = (stack.amax(1) == stack.amin(1)).any(-1)
    assert_resamples_match_spearman(spearman_resamples, stack[~constant])


def test_spearman_resamples_mutant_ordinal_ranks_fails():
    g = torch.Generator().manual_seed(0)
    stack = torch.randn(3, 30, 2, generator=g, dtype=torch.float64).round(decimals=0)
    with pytest.raises(AssertionError):
        assert_resamples_match_spearman(spearman_resamples_with_ordinal_ranks, stack)


def test_spearman_and_pearson_columns():
    x = torch.linspace(0, 1, 20, dtype=torch.float64)
    pairs = torch.stack([x, x**3], 1)
    assert spearman_columns(pairs) == pytest.approx(1.0)
    assert pearson_columns(pairs) < 0.95
    assert spearman_columns(torch.stack([x, -x], 1)) == pytest.approx(-1.0)
    assert math.isnan(pearson_columns(torch.stack([x, torch.ones(20, dtype=x.dtype)], 1)))


def test_resample_statistics_match_the_single_ones():
    from emovec.analysis._geometry_report import (
        pearson_columns,
        pearson_resamples,
        spearman_columns,
        spearman_resamples,
    )

    gen = torch.Generator().manual_seed(0)
    stack = torch.randn(5, 30, 2, generator=gen, dtype=torch.float64).round(decimals=1)  # ties
    stack[2, :, 1] = 1.0  # a constant column: NaN, as the single version gives
    p, s = pearson_resamples(stack), spearman_resamples(stack)
    for i in range(5):
        for batch, single in ((p, pearson_columns), (s, spearman_columns)):
            want = single(stack[i])
            assert (batch[i].isnan() and want != want) or float(batch[i]) == pytest.approx(want)
