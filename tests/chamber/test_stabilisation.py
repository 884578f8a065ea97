"""Stabilisation and ramp rates on series whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loggerd.chamber import ramp_rate, stabilisation
from loggerd.chamber.stabilisation import trailing_slopes

# Every 60 s. With a trailing window of 120 s a fitted slope is (x[i] - x[i-2]) / 120 s, so
# 2 K/h is a change of at most 1/15 K over two steps.
TIMES = np.arange(11) * 60.0
POINT_A = [-60, -65, -68, -69.5, -69.8, -69.9, -69.95, -70.0, -70.0, -70.0, -70.0]
POINT_B = [-62, -66, -69, -69.6, -69.7, -69.72, -69.74, -69.75, -69.76, -69.76, -69.76]


def test_stable_when_every_point_is_within_tolerance_and_flat() -> None:
    """Both points are within 0.5 K from row 3; B is flat from row 6 (0.04 K over two steps),
    A only from row 8 (row 7 still moved 0.1 K): stable at row 8, 480 s."""
    s = stabilisation(TIMES, np.column_stack([POINT_A, POINT_B]), -70.0, 0.5, 2.0, 120.0)
    assert (s.index, s.time_s) == (8, 480.0)
    assert (s.tolerance, s.slope_limit_per_h, s.trailing_s) == (0.5, 2.0, 120.0)


def test_a_missing_sample_is_not_taken_for_a_stable_one() -> None:
    b = np.array(POINT_B, dtype=float)
    b[8] = math.nan
    s = stabilisation(TIMES, np.column_stack([POINT_A, b]), -70.0, 0.5, 2.0, 120.0)
    assert s.index == 9


def test_never_stable_says_so() -> None:
    s = stabilisation(TIMES, np.column_stack([POINT_A, POINT_B]), -70.0, 0.1, 2.0, 120.0)
    assert s.index is None and s.time_s is None  # B stays 0.24 K off


def test_trailing_slopes_match_a_fit_of_each_window() -> None:
    """Against numpy's polyfit over each window, with missing samples, on a noisy series."""
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(20, 80, 300))
    x = np.column_stack([np.sin(t / 900) * 5 + rng.normal(0, 0.1, t.size) for _ in range(3)])
    x[rng.random(x.shape) < 0.1] = math.nan
    slopes = trailing_slopes(t, x, 1800.0)
    for i in range(t.size):
        for j in range(3):
            window = (t >= t[i] - 1800.0) & (t <= t[i]) & ~np.isnan(x[:, j])
            if t[i] - t[0] < 1800.0 or window.sum() < 2:
                assert math.isnan(slopes[i, j])
            else:
                expected = np.polyfit(t[window], x[window, j], 1)[0]
                assert slopes[i, j] == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_ramp_rates_over_the_10_to_90_percent_span() -> None:
    """10 min at 20 °C, then 1 K/min down to -25 °C and 2 K/min on to -70 °C. The change is
    90 K: 10 % is 11 °C (at 1140 s), 90 % is -61 °C (at 4380 s)."""
    t = np.arange(0, 6000, 60.0)
    x = np.select(
        [t < 600, t < 3300, t < 4650],
        [20.0, 20 - (t - 600) / 60, -25 - (t - 3300) / 30],
        -70.0,
    )
    r = ramp_rate(t, x, 20.0, -70.0)
    assert (r.t10_s, r.t90_s) == (1140.0, 4380.0)
    assert r.span_rate_per_min == pytest.approx(-72 / (4380 - 1140) * 60)
    assert r.max_rate_per_min == pytest.approx(-2.0)  # steepest, signed as the ramp
    assert -2.0 < r.mean_rate_per_min < -1.0  # type: ignore[operator]
    assert r.windows == (4380 - 1140) // 60 + 1 - 5  # windows wholly inside the span


def test_a_ramp_that_never_reaches_90_percent_has_no_rate() -> None:
    t = np.arange(0, 3600, 60.0)
    r = ramp_rate(t, 20 - t / 120, 20.0, -70.0)  # 30 K of 90 in the hour
    assert r.t10_s is not None and r.t90_s is None and r.span_rate_per_min is None
