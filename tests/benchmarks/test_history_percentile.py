"""The history benchmark's percentile: nearest rank, as numpy's "inverted_cdf" method has it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.history import percentile


def test_p95_of_twenty_is_the_nineteenth_smallest() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 95) == 19.0  # not the 18th, as int(0.95 * n) - 1 took
    assert percentile(values, 50) == 10.0
    assert percentile(values, 100) == 20.0


def test_p95_of_thirty_is_the_twenty_ninth_smallest() -> None:
    values = [float(v) for v in range(30, 0, -1)]  # order does not matter
    assert percentile(values, 95) == 29.0


def test_nothing_or_a_percentile_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([], 95)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=200),
    st.integers(min_value=1, max_value=100),
)
def test_agrees_with_numpy_nearest_rank(values: list[float], p: int) -> None:
    expected = np.percentile(values, p, method="inverted_cdf")
    assert percentile(values, p) == expected
