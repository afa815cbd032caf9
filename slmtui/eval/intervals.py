"""How sure a figure is: bootstrap intervals over the held-out passages and requests.

A dozen passages and two dozen answers are a small sample; a 10% perplexity gain can be noise.
Each interval resamples the passages (or the requests) with replacement, recomputes the figure,
and keeps the middle 95% of the results. Base and tuned are resampled together, on the same
passages, so the interval is about the difference between them, not about the passages.
A fixed seed makes the same evaluation give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.low, self.high]

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def resampled_indices(n: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, n) indices drawn with replacement from range(n)."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def percentile_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Interval:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return Interval(math.nan, math.nan)
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return Interval(float(low), float(high))


def ppl_change_interval(
    base: Sequence[tuple[float, int]],
    tuned: Sequence[tuple[float, int]],
    resamples: int = RESAMPLES,
) -> Interval:
    """Interval of tuned perplexity / base perplexity - 1, from per-passage (loss sum, tokens),
    the passages resampled together for both models."""
    b, t = np.asarray(base, dtype=np.float64), np.asarray(tuned, dtype=np.float64)
    if len(b) != len(t) or len(b) == 0:
        raise ValueError("base and tuned must be scored on the same passages")
    idx = resampled_indices(len(b), resamples)
    base_loss = b[idx, 0].sum(axis=1) / b[idx, 1].sum(axis=1)
    tuned_loss = t[idx, 0].sum(axis=1) / t[idx, 1].sum(axis=1)
    return percentile_interval(np.exp(tuned_loss - base_loss) - 1.0)


def ppl_interval(per_text: Sequence[tuple[float, int]], resamples: int = RESAMPLES) -> Interval:
    """Interval of one model's perplexity over its per-passage (loss sum, tokens)."""
    rows = np.asarray(per_text, dtype=np.float64)
    idx = resampled_indices(len(rows), resamples)
    return percentile_interval(np.exp(rows[idx, 0].sum(axis=1) / rows[idx, 1].sum(axis=1)))


def paired_interval(
    statistic: Callable[[np.ndarray], float], n: int, resamples: int = 200
) -> Interval:
    """Interval of any figure computed from a resample of n paired items (by their indices);
    for figures that cost more than a sum, such as a style profile, hence fewer resamples."""
    return percentile_interval([statistic(idx) for idx in resampled_indices(n, resamples)])


def mean_interval(values: Sequence[float], resamples: int = RESAMPLES) -> Interval:
    """Interval of a mean (a share, for 0/1 values) over items resampled with replacement."""
    rows = np.asarray(values, dtype=np.float64)
    if rows.size == 0:
        return Interval(math.nan, math.nan)
    return percentile_interval(rows[resampled_indices(rows.size, resamples)].mean(axis=1))


def binomial_interval(successes: int, trials: int, level: float = LEVEL) -> Interval:
    """The Wilson score interval of a proportion (the blind test's share of rounds in which you
    picked yourself out): honest at a handful of trials, where the normal one falls outside
    0..1. (0, 1) when there are no trials."""
    if trials <= 0:
        return Interval(0.0, 1.0)
    z = {0.95: 1.959964, 0.9: 1.644854, 0.99: 2.575829}[level]
    share = successes / trials
    middle = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    half /= 1 + z * z / trials
    return Interval(max(0.0, middle - half), min(1.0, middle + half))
