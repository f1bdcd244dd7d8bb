"""Evaluation statistics: the unbiased pass@k estimator and bootstrap confidence intervals over questions.

pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", section 2.1): with n samples of
which c are correct, pass@k = 1 - C(n-c, k) / C(n, k), computed as the product 1 - prod_{i=n-c+1}^{n} (1 - k/i)
so that no binomial coefficient is ever formed (they overflow floats for n in the hundreds).

Confidence intervals: the percentile bootstrap over questions (resample questions with replacement, recompute the
statistic), as benchmark reports do when the question set is the main source of variance.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def _check(n: int, c: int, k: int) -> None:
    for name, v in (("n", n), ("c", c), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if n < 0 or c < 0 or k < 1:
        raise ValueError(f"need n >= 0, c >= 0, k >= 1; got n={n}, c={c}, k={k}")
    if c > n:
        raise ValueError(f"c={c} correct samples out of n={n}")
    if k > n:
        raise ValueError(f"pass@{k} is undefined with n={n} samples (need k <= n)")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: the probability that at least one of k samples drawn without replacement is correct."""
    _check(n, c, k)
    if n - c < k:  # every k-subset holds a correct sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_array(n, c, k: int) -> np.ndarray:
    """pass_at_k over arrays of n and c (broadcast together; a scalar n is common), one k."""
    n_arr, c_arr = np.broadcast_arrays(np.asarray(n), np.asarray(c))
    if n_arr.size and not (np.issubdtype(n_arr.dtype, np.integer) and np.issubdtype(c_arr.dtype, np.integer)):
        raise ValueError("n and c must be integer arrays")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if n_arr.size:
        if (n_arr < 0).any() or (c_arr < 0).any():
            raise ValueError("n and c must be non-negative")
        if (c_arr > n_arr).any():
            raise ValueError("c > n for some entries")
        if (n_arr < k).any():
            raise ValueError(f"pass@{k} needs n >= {k} for every entry")
    n_f, c_f = n_arr.astype(np.float64).ravel(), c_arr.astype(np.float64).ravel()
    out = np.ones_like(n_f)
    # prod_{j=0}^{k-1} (n-c-j)/(n-j) = C(n-c, k)/C(n, k); k terms per entry, clipped at 0 once n-c-j hits 0
    for j in range(int(k)):
        out *= np.clip((n_f - c_f - j) / (n_f - j), 0.0, None)
    return (1.0 - out).reshape(n_arr.shape)


def bootstrap_ci(values, stat: Callable = np.mean, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
                 ) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval of ``stat`` (scalar-valued) over the first axis of ``values``:
    one entry (or row) per question."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0 or len(arr) == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0 < alpha < 1 or n_boot < 1:
        raise ValueError(f"need 0 < alpha < 1 and n_boot >= 1; got alpha={alpha}, n_boot={n_boot}")
    if np.isnan(arr).any():
        raise ValueError("values contain NaN; drop or impute them first")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(arr), size=(n_boot, len(arr)))
    if stat is np.mean and arr.ndim == 1:  # the common case, vectorised
        stats = arr[idx].mean(axis=1)
    else:
        stats = np.array([stat(arr[i]) for i in idx], dtype=np.float64)
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2], axis=0)
    return float(low), float(high)


def slope_ci(x, y, alpha: float = 0.05) -> tuple[float | None, float | None, float | None]:
    """Least-squares slope of ``y`` on ``x`` and its (1 - alpha) t-interval; (None, None, None) with fewer than 3
    finite points or no spread in ``x``. For a training curve: is the reward trending, and is 0 inside the CI?"""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0:
        return None, None, None
    fit = stats.linregress(x, y)
    half = stats.t.ppf(1 - alpha / 2, len(x) - 2) * fit.stderr
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)


def trend_residual_sd(x, y) -> float:
    """Standard deviation of ``y`` around its least-squares line on ``x`` (n - 2 degrees of freedom); NaN under 3
    finite points: the step-to-step noise of a training curve once its trend is taken out."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0:
        return float("nan")
    fit = np.polyfit(x, y, 1)
    return float(np.sqrt(np.sum((y - np.polyval(fit, x)) ** 2) / (len(x) - 2)))


def steps_to_detect(sd: float, slope: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """The fewest equally spaced steps T at which a true slope ``slope`` per step, under step-to-step noise of
    standard deviation ``sd`` around the trend, gives a least-squares slope whose two-sided (1 - alpha) interval
    excludes 0 with probability ``power`` (normal approximation: the slope's standard error over T steps is
    sd * sqrt(12 / (T (T^2 - 1))), so T (T^2 - 1) >= 12 ((z_alpha + z_power) sd / slope)^2). None for a slope <= 0
    or no noise estimate."""
    from scipy import stats

    if not slope > 0 or not sd == sd or sd < 0:
        return None
    need = 12 * ((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * sd / slope) ** 2
    t = max(3, int(round(need ** (1 / 3))) - 1)
    while t * (t * t - 1) < need:
        t += 1
    return t


def verdict(label: str, value, low, high, reference: float, reference_name: str, percent: bool = True) -> str:
    """One sentence from the numbers: the estimate, its 95% CI, and where the CI lies against ``reference``, e.g.
    "held-out accuracy 53.6% [35.7%, 71.4%]: not distinguishable from chance (50.0%)". What a notebook's "What we
    saw" opens with, so the conclusion cannot be written to fit any outcome."""
    def fmt(v):
        return f"{v:.1%}" if percent else f"{v:+.4f}"

    if value is None or value != value:
        return f"{label}: not measured"
    if low is None or high is None or low != low or high != high:
        return f"{label} {fmt(value)} (no confidence interval: too few points)"
    where = (f"above {reference_name}" if low > reference else f"below {reference_name}" if high < reference
             else f"not distinguishable from {reference_name}")
    return f"{label} {fmt(value)} [{fmt(low)}, {fmt(high)}]: {where} ({fmt(reference)})"

