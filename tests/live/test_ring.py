"""The live ring buffer: fixed size, newest wins, windows come back oldest first."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.live.ring import ChannelRing, RingBuffer


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


@given(size=st.integers(1, 40), n=st.integers(0, 120), start=st.integers(-5, 130))
def test_since_is_a_binary_search_across_the_wrap(size: int, n: int, start: int) -> None:
    ring = ChannelRing(size)
    for i in range(n):
        ring.append(sample(i))
    held = list(range(max(0, n - size), n))
    assert ring.since(start * 1000).timestamp_us.tolist() == [i * 1000 for i in held if i >= start]


def test_backfill_is_not_kept_and_windows_stay_sorted() -> None:
    ring = ChannelRing(10)
    assert ring.append(sample(5))
    assert not ring.append(sample(3))  # older than the newest: history only
    assert not ring.append(sample(5))
    assert ring.append(sample(6))
    assert ring.last().timestamp_us.tolist() == [5000, 6000]


def test_extend_and_last_seconds_are_vectorised() -> None:
    ring = ChannelRing(1000)
    ts = np.arange(0, 5000) * 1_000_000  # 5000 s at 1 Hz into a ring of 1000
    assert ring.extend(ts, ts / 1e6) == 1000
    assert len(ring) == 1000 and ring.latest().timestamp_us.tolist() == [4999 * 1_000_000]
    window = ring.last_seconds(10)
    assert window.timestamp_us.tolist() == [t * 1_000_000 for t in range(4989, 5000)]
    assert window.value.tolist() == [float(t) for t in range(4989, 5000)]
    assert ring.extend(ts[:10], ts[:10]) == 0  # all older: nothing kept
    assert ring.extend([5000 * 1_000_000], [1.5], quality=Quality.OUT_OF_RANGE) == 1
    assert ring.latest().quality == [Quality.OUT_OF_RANGE]


def test_a_sample_costs_17_bytes() -> None:
    ring = RingBuffer(size=86_400)
    for i in range(100):
        ring.add_channel("c", f"ch{i}")
    assert ring.nbytes == 100 * 86_400 * 17
