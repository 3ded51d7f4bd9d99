"""RunningMean and RunningCovariance: equal to the two-pass result under any split and merge."""

import math
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from emovec.ops import RunningCovariance, RunningMean

from .strategies import F64, gaussian, seeds

TOL = 1e-10


@dataclass(frozen=True)
class Split:
    """Rows cut into parts (some may be empty), and the order and shape of the merges."""

    rows: torch.Tensor
    parts: list[torch.Tensor]
    order: list[int]
    tree: bool

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """`(start, stop)` row offsets of each part."""
        stops = torch.tensor([p.shape[0] for p in self.parts]).cumsum(0).tolist()
        return list(zip([0, *stops[:-1]], stops, strict=True))


@st.composite
def splits(draw: st.DrawFn) -> Split:
    d, n, seed = draw(st.integers(1, 6)), draw(st.integers(2, 40)), draw(seeds)
    scale = 10.0 ** draw(st.floats(-1.0, 1.0))
    # A large common offset is where one-pass sum-of-squares formulas lose every digit.
    offset = draw(st.floats(-1e3, 1e3)) * gaussian((d,), seed=seed + 1)
    rows = gaussian((n, d), seed=seed, scale=scale) + offset
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    parts = [rows[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    return Split(rows, parts, draw(st.permutations(range(len(parts)))), draw(st.booleans()))


def _accumulate(make, split: Split, merge, feed=None):
    """Parts fed in `split.order` (each in two updates), then merged in a chain or a tree.

    `feed(acc, start, stop)` folds rows `start:stop` in (default: plain `update`)."""
    if feed is None:

        def feed(acc, start, stop):
            acc.update(split.rows[start:stop])

    accs = []
    for i in split.order:
        acc, (start, stop) = make(), split.bounds[i]
        feed(acc, start, (start + stop) // 2)  # two updates per part: `update` merges too
        feed(acc, (start + stop) // 2, stop)
        accs.append(acc)
    while len(accs) > 1:
        if split.tree:
            pairs = [merge(a, b) for a, b in zip(accs[::2], accs[1::2], strict=False)]
            accs = pairs + ([accs[-1]] if len(accs) % 2 else [])
        else:
            accs = [merge(accs[0], accs[1]), *accs[2:]]
    return accs[0]


def _close(got: torch.Tensor, ref: torch.Tensor) -> bool:
    return torch.allclose(got, ref, rtol=TOL, atol=TOL * (1.0 + float(ref.abs().max())))


# -- mutants: merges that forget the counts or the between-part term ----------------------------
def merge_means_without_weights(a, b):
    return RunningMean.from_state_dict({"count": a.count + b.count, "mean": (a.mean + b.mean) / 2})


def merge_means_with_swapped_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    n = sa["count"] + sb["count"]
    mean = (sa["mean"] * sb["count"] + sb["mean"] * sa["count"]) / n
    return RunningMean.from_state_dict({"count": n, "mean": mean})


def merge_groups_with_pooled_weights(a, b):
    """Weighs each side by its total over all groups instead of each group's own weight."""
    sa, sb = a.state_dict(), b.state_dict()
    wa, wb = sa["count"].sum(), sb["count"].sum()
    mean = (sa["mean"] * wa + sb["mean"] * wb) / (wa + wb)
    return RunningMean.from_state_dict({"count": sa["count"] + sb["count"], "mean": mean})


def merge_covariances_without_delta(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    n = sa["count"] + sb["count"]
    mean = (sa["mean"] * sa["count"] + sb["mean"] * sb["count"]) / n
    return RunningCovariance.from_state_dict({"count": n, "mean": mean, "m2": sa["m2"] + sb["m2"]})


# -- checkers -----------------------------------------------------------------------------------
def assert_mean_matches_two_pass(split: Split, merge=lambda a, b: a.merge(b)):
    acc = _accumulate(lambda: RunningMean(split.rows.shape[1]), split, merge)
    assert _close(acc.mean, split.rows.mean(0))
    assert float(acc.count) == split.rows.shape[0]


def assert_covariance_matches_two_pass(split: Split, merge=lambda a, b: a.merge(b)):
    acc = _accumulate(lambda: RunningCovariance(split.rows.shape[1]), split, merge)
    rows = split.rows
    assert acc.count == rows.shape[0]
    assert _close(acc.mean, rows.mean(0))
    assert _close(acc.covariance(), torch.cov(rows.T, correction=1).reshape(acc.covariance().shape))
    population = torch.cov(rows.T, correction=0).reshape(acc.covariance().shape)
    assert _close(acc.covariance(unbiased=False), population)


def _weights(n: int, seed: int) -> torch.Tensor:
    """Positive, log-normal row weights: some rows count ~20x more than others."""
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64).exp()


def assert_weighted_mean_matches_two_pass(split, weights, merge=lambda a, b: a.merge(b)):
    def feed(acc, start, stop):
        acc.update(split.rows[start:stop], weight=weights[start:stop])

    acc = _accumulate(lambda: RunningMean(split.rows.shape[1]), split, merge, feed)
    ref = (weights[:, None] * split.rows).sum(0) / weights.sum()
    assert _close(acc.mean, ref)
    assert _close(acc.count, weights.sum())


def assert_grouped_mean_matches_two_pass(
    split, weights, labels, groups, merge=lambda a, b: a.merge(b)
):
    def feed(acc, start, stop):
        acc.update(split.rows[start:stop], weight=weights[start:stop], group=labels[start:stop])

    make = lambda: RunningMean(split.rows.shape[1], groups=groups)  # noqa: E731
    state = _accumulate(make, split, merge, feed).state_dict()
    for g in range(groups):
        w, rows = weights[labels == g], split.rows[labels == g]
        if rows.shape[0]:
            assert _close(state["mean"][g], (w[:, None] * rows).sum(0) / w.sum())
        assert _close(state["count"][g], w.sum())


def _fixed_split() -> Split:
    rows = gaussian((30, 4), seed=0) + 50.0
    parts = [rows[:3], rows[3:20], rows[20:]]
    return Split(rows, parts, [2, 0, 1], tree=False)


@given(splits())
def test_running_mean_matches_two_pass(split):
    assert_mean_matches_two_pass(split)


def test_running_mean_mutant_merge_fails():
    with pytest.raises(AssertionError):
        assert_mean_matches_two_pass(_fixed_split(), merge_means_without_weights)


@given(splits())
def test_running_covariance_matches_two_pass(split):
    assert_covariance_matches_two_pass(split)


def test_running_covariance_mutant_merge_fails():
    with pytest.raises(AssertionError):
        assert_covariance_matches_two_pass(_fixed_split(), merge_covariances_without_delta)


@given(splits(), seeds)
def test_weighted_mean_any_split_and_merge_order(split, seed):
    assert_weighted_mean_matches_two_pass(split, _weights(split.rows.shape[0], seed))


def test_weighted_mean_mutant_swapped_merge_weights_fails():
    split = _fixed_split()
    with pytest.raises(AssertionError):
        assert_weighted_mean_matches_two_pass(
            split, _weights(30, 0), merge_means_with_swapped_weights
        )


@given(splits(), seeds, st.integers(1, 4))
def test_grouped_weighted_mean_any_split_and_merge_order(split, seed, groups):
    n = split.rows.shape[0]
    labels = torch.randint(0, groups, (n,), generator=torch.Generator().manual_seed(seed))
    assert_grouped_mean_matches_two_pass(split, _weights(n, seed + 1), labels, groups)


def test_grouped_mean_mutant_pooled_merge_weights_fails():
    split, labels = _fixed_split(), torch.arange(30) % 3
    for weights in (torch.ones(30, dtype=F64), _weights(30, 1)):
        with pytest.raises(AssertionError):
            assert_grouped_mean_matches_two_pass(
                split, weights, labels, 3, merge_groups_with_pooled_weights
            )


@given(splits(), seeds)
def test_weighted_mean_matches_two_pass(split, seed):
    n = split.rows.shape[0]
    weights = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=F64) + 0.1
    acc = RunningMean(split.rows.shape[1])
    start = 0
    for part in split.parts:
        acc.update(part, weight=weights[start : start + part.shape[0]])
        start += part.shape[0]
    ref = (weights[:, None] * split.rows).sum(0) / weights.sum()
    assert _close(acc.mean, ref) and math.isclose(float(acc.count), float(weights.sum()))


def test_integer_weights_equal_repeated_rows():
    rows = gaussian((5, 3), seed=1)
    weighted, repeated = RunningMean(3), RunningMean(3)
    weighted.update(rows, weight=torch.tensor([1.0, 2.0, 0.0, 3.0, 1.0]))
    repeated.update(rows[[0, 1, 1, 3, 3, 3, 4]])
    assert _close(weighted.mean, repeated.mean)


@given(splits(), seeds, st.integers(1, 4))
def test_grouped_mean_matches_per_group_two_pass(split, seed, groups):
    n, d = split.rows.shape
    labels = torch.randint(0, groups, (n,), generator=torch.Generator().manual_seed(seed))
    acc, start = RunningMean(d, groups=groups), 0
    for part in split.parts:
        acc.update(part, group=labels[start : start + part.shape[0]])
        start += part.shape[0]
    for g in range(groups):
        if bool((labels == g).any()):
            assert _close(acc.state_dict()["mean"][g], split.rows[labels == g].mean(0))
    assert torch.equal(acc.count, torch.bincount(labels, minlength=groups).to(F64))


def test_grouped_merge_is_exact():
    rows, labels = gaussian((20, 3), seed=2), torch.tensor([0, 1, 2, 1] * 5)
    a, b, whole = RunningMean(3, groups=3), RunningMean(3, groups=3), RunningMean(3, groups=3)
    a.update(rows[:7], group=labels[:7])
    b.update(rows[7:], group=labels[7:])
    whole.update(rows, group=labels)
    assert _close(b.merge(a).mean, whole.mean)


def test_state_dict_round_trips_through_safetensors(tmp_path):
    rows = gaussian((50, 4), seed=3) + 10.0
    cov, mean = RunningCovariance(4), RunningMean(4, groups=2)
    cov.update(rows[:30])
    mean.update(rows[:30], group=torch.arange(30) % 2)
    save_file(cov.state_dict(), tmp_path / "cov.safetensors")
    save_file(mean.state_dict(), tmp_path / "mean.safetensors")
    cov2 = RunningCovariance.from_state_dict(load_file(tmp_path / "cov.safetensors"))
    mean2 = RunningMean.from_state_dict(load_file(tmp_path / "mean.safetensors"))
    for acc in (cov, cov2):  # a resumed extraction ends where an uninterrupted one does
        acc.update(rows[30:])
    for acc in (mean, mean2):
        acc.update(rows[30:], group=torch.arange(20) % 2)
    assert torch.equal(cov2.covariance(), cov.covariance()) and torch.equal(mean2.mean, mean.mean)


def test_memory_does_not_grow_with_rows():
    acc = RunningCovariance(8)
    sizes = []
    for _ in range(3):
        acc.update(gaussian((100, 8), seed=len(sizes)))
        sizes.append(sum(t.nbytes for t in acc.state_dict().values()))
    assert sizes == [8 * (1 + 8 + 64)] * 3


def test_float32_rows_accumulate_in_float64():
    rows = torch.randn(1000, 16) * 0.01 + 1000.0
    acc = RunningCovariance(16)
    for chunk in rows.split(100):
        acc.update(chunk)
    assert acc.covariance().dtype == F64
    assert torch.allclose(acc.covariance(), torch.cov(rows.double().T), atol=1e-10)


def test_update_and_merge_are_pure():
    rows = gaussian((6, 3), seed=4)
    before = rows.clone()
    a, b = RunningCovariance(3), RunningCovariance(3)
    a.update(rows)
    b.update(rows[:2])
    state_a, state_b = a.state_dict(), b.state_dict()
    a.merge(b)
    assert torch.equal(rows, before)
    assert all(torch.equal(state_a[k], a.state_dict()[k]) for k in state_a)
    assert all(torch.equal(state_b[k], b.state_dict()[k]) for k in state_b)


def test_streaming_names_bad_input(shipped):
    acc, grouped = shipped.RunningCovariance(3), shipped.RunningMean(3, groups=2)
    with pytest.raises(ValueError, match="same d_model"):
        acc.update(torch.ones(2, 4))
    with pytest.raises(ValueError, match="x contains NaN"):
        acc.update(torch.tensor([[1.0, math.nan, 0.0]]))
    with pytest.raises(ValueError, match="No rows"):
        _ = acc.mean
    acc.update(torch.ones(1, 3))
    with pytest.raises(ValueError, match="too few"):
        acc.covariance()
    with pytest.raises(ValueError, match="exactly when"):
        grouped.update(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"lie in \[0, 2\)"):
        grouped.update(torch.ones(2, 3), group=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="non-negative"):
        shipped.RunningMean(3).update(torch.ones(2, 3), weight=torch.tensor([1.0, -1.0]))
    grouped.update(torch.ones(1, 3), group=torch.tensor([1]))
    with pytest.raises(ValueError, match=r"groups \[0\]"):
        _ = grouped.mean
