"""The live ring buffer: fixed size, newest wins, windows come back oldest first."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from loggerd.ring import ChannelRing, RingBuffer
from loggerd.samples import Quality, Sample, TimeSource


def sample(i: int, quality: Quality = Quality.GOOD) -> Sample:
    value = float(i) if quality is Quality.GOOD else math.nan
    return Sample("c", "air", i * 1000, value, value, quality, TimeSource.HOST)


@given(size=st.integers(1, 50), n=st.integers(0, 200))
def test_ring_keeps_the_newest_in_order(size: int, n: int) -> None:
    ring = ChannelRing(size)
    for i in range(n):
        ring.append(sample(i))
    window = ring.last()
    expected = list(range(max(0, n - size), n))
    assert len(ring) == len(window) == len(expected)
    assert window.timestamp_us.tolist() == [i * 1000 for i in expected]
    np.testing.assert_array_equal(window.value, np.array(expected, dtype=float))


def test_latest_since_and_quality() -> None:
    ring = RingBuffer(size=5)
    for i in range(8):
        ring.append(sample(i, Quality.MISSING if i == 6 else Quality.GOOD))
    air = ring.channel("c", "air")
    assert air.latest().timestamp_us.tolist() == [7000]
    since = air.since(5500)
    assert since.timestamp_us.tolist() == [6000, 7000]
    assert since.quality == [Quality.MISSING, Quality.GOOD]
    assert math.isnan(since.value[0])
    assert air.since(0).timestamp_us.tolist() == [3000, 4000, 5000, 6000, 7000]
    assert len(air.since(10_000)) == 0
