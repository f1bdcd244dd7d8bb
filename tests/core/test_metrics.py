"""pass@k against exact values and brute-force enumeration; bootstrap intervals; a training curve's trend noise and
the steps a slope needs to show."""
from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pytest

from acecoder_lib.core.metrics import (
    bootstrap_ci,
    pass_at_k,
    pass_at_k_array,
    slope_ci,
    steps_to_detect,
    trend_residual_sd,
)


def brute_force(n: int, c: int, k: int) -> float:
    """Fraction of k-subsets of n samples (the first c correct) holding at least one correct sample."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_known_values():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3, abs=1e-15)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 1, 10) == 1.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - comb(3, 2) / comb(5, 2))  # 0.7
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-15)
    assert pass_at_k(4, 2, 3) == 1.0  # n - c < k: every 3-subset holds a correct sample
    assert pass_at_k(1, 0, 1) == 0.0 and pass_at_k(1, 1, 1) == 1.0


@pytest.mark.parametrize("n", range(1, 9))
def test_matches_brute_force(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_1_is_the_fraction_correct_and_large_n_is_stable():
    for n, c in [(200, 37), (1000, 1), (1000, 999)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n, abs=1e-12)
    exact = 1 - comb(1000 - 7, 100) / comb(1000, 100)  # exact integer arithmetic as reference
    assert pass_at_k(1000, 7, 100) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("n,c,k", [(5, 1, 6), (5, 6, 1), (-1, 0, 1), (5, -1, 1), (5, 1, 0), (5, 1, -2), (5.0, 1, 1),
                                   (5, 1, True)])
def test_invalid_inputs(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_array_version_agrees_with_scalar():
    n = np.array([[10, 10, 5], [8, 16, 200]])
    c = np.array([[3, 0, 5], [2, 9, 37]])
    for k in (1, 2, 5):
        got = pass_at_k_array(n, c, k)
        assert got.shape == (2, 3)
        want = np.array([[pass_at_k(int(a), int(b), k) for a, b in zip(ra, rb)] for ra, rb in zip(n, c)])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pass_at_k_array(10, np.arange(11), 1), np.arange(11) / 10, atol=1e-15)
    assert pass_at_k_array(np.array([], dtype=int), np.array([], dtype=int), 3).shape == (0,)


@pytest.mark.parametrize("n,c,k", [([3], [1], 4), ([3], [4], 1), ([3], [-1], 1), ([3.0], [1], 1), ([3], [1], 0)])
def test_array_invalid_inputs(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k_array(np.array(n), np.array(c), k)


def test_bootstrap_ci():
    rng = np.random.default_rng(1)
    x = rng.normal(0.5, 0.1, size=400)
    low, high = bootstrap_ci(x)
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert low < x.mean() < high
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)  # agrees with the normal approximation
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)  # seeded: reproducible
    assert bootstrap_ci([0.7] * 20) == pytest.approx((0.7, 0.7), abs=1e-12)
    wide = bootstrap_ci(x, alpha=0.01)
    assert wide[0] < low and wide[1] > high
    med = bootstrap_ci(x, stat=np.median, n_boot=300)
    assert med[0] < np.median(x) < med[1]
    # pass/fail per question: interval of a proportion
    ok = np.array([1.0] * 30 + [0.0] * 70)
    low, high = bootstrap_ci(ok, n_boot=2000)
    assert 0.20 < low < 0.3 < high < 0.40


@pytest.mark.parametrize("kwargs", [dict(values=[]), dict(values=[1.0, float("nan")]), dict(values=[1.0], alpha=0),
                                    dict(values=[1.0], n_boot=0), dict(values=1.0)])
def test_bootstrap_invalid(kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(**kwargs)


def test_verdict_says_where_the_interval_lies():
    from acecoder_lib.core.metrics import verdict

    assert verdict("acc", 0.536, 0.357, 0.714, 0.5, "chance") == \
        "acc 53.6% [35.7%, 71.4%]: not distinguishable from chance (50.0%)"
    assert verdict("acc", 0.7, 0.6, 0.8, 0.5, "chance").endswith("above chance (50.0%)")
    assert verdict("acc", 0.3, 0.2, 0.45, 0.5, "chance").endswith("below chance (50.0%)")
    assert verdict("slope", -0.046, -0.134, 0.041, 0.0, "no trend", percent=False) == \
        "slope -0.0460 [-0.1340, +0.0410]: not distinguishable from no trend (+0.0000)"
    assert verdict("slope", 0.1, None, None, 0.0, "no trend", percent=False).endswith("too few points)")
    assert verdict("acc", float("nan"), 0, 1, 0.5, "chance") == "acc: not measured"


def test_steps_to_detect_gives_the_power_it_promises():
    assert steps_to_detect(0.2, 0.02) == 22  # T (T^2 - 1) >= 12 (2.80 x 0.2 / 0.02)^2 = 9,419: 21 -> 9,240, 22
    assert steps_to_detect(0.2, 0.0) is None and steps_to_detect(float("nan"), 0.01) is None
    assert steps_to_detect(0.1, 0.02) < steps_to_detect(0.2, 0.02) < steps_to_detect(0.2, 0.01)
    # simulated runs of that length: the slope's 95% t-interval is above 0 in about 80% of them
    rng = np.random.default_rng(0)
    t = np.arange(1, 23)
    hits = [slope_ci(t, 0.02 * t + rng.normal(0, 0.2, len(t)))[1] > 0 for _ in range(2000)]
    assert 0.72 < np.mean(hits) < 0.86


def test_trend_residual_sd_takes_the_trend_out():
    t = np.arange(1, 9)
    noise = np.array([0.1, -0.1, -0.1, 0.1] * 2)  # uncorrelated with t
    assert trend_residual_sd(t, 0.05 * t + noise) == pytest.approx((8 * 0.01 / 6) ** 0.5)
    assert trend_residual_sd(t, 0.05 * t) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(trend_residual_sd([1, 2], [0.1, 0.2]))
