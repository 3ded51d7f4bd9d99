"""The leave-one-emotion-out ridge readout: no leakage, recovers linear signal, clear errors."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emovec.analysis import loo_ridge_predictions, loo_ridge_r


def _data(seed: int, n: int = 24, d: int = 40):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), g


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), row=st.integers(0, 23), shift=st.floats(-50, 50))
def test_a_rows_own_target_never_reaches_its_prediction(seed, row, shift):
    x, g = _data(seed)
    y = torch.randn(24, generator=g, dtype=torch.float64)
    moved = y.clone()
    moved[row] += shift
    a, b = loo_ridge_predictions(x, y), loo_ridge_predictions(x, moved)
    assert float(a[row]) == pytest.approx(float(b[row]), abs=1e-9)


def test_a_leaky_readout_would_be_caught():
    # The same check rejects a readout fitted on every row (the mutant the test guards against).
    x, g = _data(3)
    y = torch.randn(24, generator=g, dtype=torch.float64)

    def leaky(x, y):
        coef = torch.linalg.lstsq(x, y).solution
        return x @ coef

    moved = y.clone()
    moved[0] += 10
    assert abs(float(leaky(x, y)[0] - leaky(x, moved)[0])) > 1e-3


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100))
def test_scale_and_rotation_do_not_change_the_readout(seed, scale):
    x, g = _data(seed)
    y = x[:, 0] - 0.5 * x[:, 1] + 0.3 * torch.randn(24, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(40, 40, generator=g, dtype=torch.float64))
    base = loo_ridge_r(x, y)
    assert loo_ridge_r(scale * x @ q, y) == pytest.approx(base, abs=1e-6)


def test_recovers_a_linear_rating_and_not_noise():
    x, g = _data(0, n=60, d=20)
    signal = x @ torch.randn(20, generator=g, dtype=torch.float64)
    assert loo_ridge_r(x, signal) > 0.95
    noise = [loo_ridge_r(x, torch.randn(60, generator=g, dtype=torch.float64)) for _ in range(20)]
    # Leave-one-out errs low on noise (a shrunk prediction leans towards the fold mean, which
    # moves against the left-out value), never towards a spurious positive r.
    assert max(noise) < 0.4


def test_bad_input_names_the_problem():
    x, _ = _data(0)
    with pytest.raises(ValueError, match="x must be"):
        loo_ridge_r(x, torch.zeros(5))
    with pytest.raises(ValueError, match="at least 4 rows"):
        loo_ridge_r(x[:3], torch.zeros(3))
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        loo_ridge_r(bad, torch.zeros(24))


def test_several_targets_equal_one_at_a_time():
    x, g = _data(5)
    ys = torch.randn(24, 3, generator=g, dtype=torch.float64)
    ys[:, 0] += x[:, 2]
    together = loo_ridge_predictions(x, ys)
    for i in range(3):
        torch.testing.assert_close(together[:, i], loo_ridge_predictions(x, ys[:, i]))
