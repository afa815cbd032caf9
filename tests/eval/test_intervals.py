"""Bootstrap intervals: a planted difference is found, no difference is not claimed."""

import math

import numpy as np
import pytest

from slmtui.eval.intervals import (
    paired_interval,
    percentile_interval,
    ppl_change_interval,
    ppl_interval,
)


def passages(losses: np.ndarray, tokens: np.ndarray) -> list[tuple[float, int]]:
    """(summed loss, tokens) per passage, from a mean loss per token and a length."""
    return [(float(loss * n), int(n)) for loss, n in zip(losses, tokens, strict=True)]


@pytest.fixture
def base_and_lengths():
    rng = np.random.default_rng(1)
    base = rng.normal(3.4, 0.35, size=30)  # passages differ a lot in difficulty
    tokens = rng.integers(120, 400, size=30)
    return base, tokens, rng


def test_a_planted_gain_is_inside_the_interval_and_the_interval_excludes_zero(base_and_lengths):
    base, tokens, rng = base_and_lengths
    tuned = base - 0.3 + rng.normal(0, 0.05, size=30)  # exp(-0.3) - 1: about 26% lower
    interval = ppl_change_interval(passages(base, tokens), passages(tuned, tokens))
    assert interval.high < 0
    assert interval.contains(math.exp(-0.3) - 1)
    assert interval.high - interval.low < 0.1  # paired: passage difficulty cancels out


def test_no_difference_gives_an_interval_around_zero(base_and_lengths):
    base, tokens, rng = base_and_lengths
    tuned = base + rng.normal(0, 0.05, size=30)
    interval = ppl_change_interval(passages(base, tokens), passages(tuned, tokens))
    assert interval.contains(0.0)


def test_unpaired_perplexity_interval_is_wide_and_holds_the_estimate(base_and_lengths):
    base, tokens, _ = base_and_lengths
    rows = passages(base, tokens)
    estimate = math.exp(sum(loss for loss, _ in rows) / sum(n for _, n in rows))
    interval = ppl_interval(rows)
    assert interval.low < estimate < interval.high
    assert interval.high / interval.low > 1.1  # passage difficulty is not cancelled here


def test_intervals_are_reproducible_and_refuse_mismatched_passages(base_and_lengths):
    base, tokens, _ = base_and_lengths
    rows = passages(base, tokens)
    assert ppl_interval(rows) == ppl_interval(rows)
    with pytest.raises(ValueError):
        ppl_change_interval(rows, rows[:-1])
    values = np.arange(20, dtype=float)
    first = paired_interval(lambda idx: float(values[idx].mean()), 20)
    assert first == paired_interval(lambda idx: float(values[idx].mean()), 20)
    assert first.contains(values.mean())
    assert math.isnan(percentile_interval([math.nan]).low)
