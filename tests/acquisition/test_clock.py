"""The clock offset is timed at a tick of the logger's clock in a bounded number of reads, and
says how well it is known."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loggerd.acquisition.clock import (
    MAX_READS,
    TickBisector,
    drift_ppm,
    measure_offset_queued,
    timed_read,
)
from loggerd.link.worker import LineWorker, Priority


class FakeLine:
    """A host clock that moves only when the line is used (a request takes `rtt_us`, the
    logger answering halfway) or when a reader waits for a moment, and a logger clock
    `offset_us` ahead that floors to whole seconds (or stands still)."""

    def __init__(self, start_us: int, offset_us: int, rtt_us: int, stopped: bool = False) -> None:
        self.now = start_us
        self.offset_us = offset_us
        self.rtt_us = rtt_us
        self.stopped = stopped
        self.reads = 0

    def now_us(self) -> int:
        return self.now

    def wait_until(self, at_us: int | None) -> None:
        if at_us is not None:
            self.now = max(self.now, at_us)

    def read_clock(self) -> float:
        self.reads += 1
        self.now += self.rtt_us // 2
        value = 1_000_000.0 if self.stopped else math.floor((self.now + self.offset_us) / 1e6)
        self.now += self.rtt_us - self.rtt_us // 2
        return float(value)

    def measure(self, bisector: TickBisector) -> object:
        while True:
            self.wait_until(bisector.next_at_us(self.now))
            done = bisector.add(*timed_read(self.read_clock, self.now_us))
            if done is not None:
                return done


@given(
    offset_us=st.integers(-(10**12), 10**12),
    start_us=st.integers(1_700_000_000_000_000, 1_800_000_000_000_000),
    rtt_us=st.integers(200, 40_000),
)
def test_the_true_offset_lies_within_the_stated_uncertainty_in_few_reads(
    offset_us: int, start_us: int, rtt_us: int
) -> None:
    line = FakeLine(start_us, offset_us, rtt_us)
    m = line.measure(TickBisector())
    assert m.edge  # type: ignore[attr-defined]
    assert abs(m.offset_us - offset_us) <= m.uncertainty_us  # type: ignore[attr-defined]
    assert line.reads <= MAX_READS
    # Timed at a tick: known to a few round trips (or the 5 ms it aims at), not to a second.
    assert m.uncertainty_us <= max(2 * rtt_us, 5_000)  # type: ignore[attr-defined]


def test_it_takes_a_handful_of_reads_not_one_every_few_milliseconds() -> None:
    line = FakeLine(1_780_000_000_123_456, 250_000, 2_000)
    m = line.measure(TickBisector())
    assert m.edge and line.reads <= MAX_READS  # type: ignore[attr-defined]
    assert m.uncertainty_us <= 3_000  # type: ignore[attr-defined]


def test_a_clock_that_does_not_tick_gets_the_one_read_estimate() -> None:
    line = FakeLine(1_780_000_000_000_000, 0, 1000, stopped=True)
    m = line.measure(TickBisector())
    assert not m.edge and 1 < line.reads <= MAX_READS  # type: ignore[attr-defined]
    # One read of a whole-second clock: ± half a second and half the round trip.
    assert m.uncertainty_us == 500_000 + 500  # type: ignore[attr-defined]
    true_offset = 1_000_000_000_000 - 1_780_000_000_000_000
    assert abs(m.offset_us - true_offset) <= m.uncertainty_us  # type: ignore[attr-defined]


def test_a_clock_set_during_the_check_starts_it_again() -> None:
    line = FakeLine(1_780_000_000_000_000, 0, 1000)
    bisector = TickBisector()
    line.wait_until(bisector.next_at_us(line.now))
    bisector.add(*timed_read(line.read_clock, line.now_us))
    line.offset_us = 3_600_400_000  # someone set the logger's clock an hour on
    m = line.measure(bisector)
    assert m.edge and abs(m.offset_us - 3_600_400_000) <= m.uncertainty_us  # type: ignore[attr-defined]


def test_drift_in_ppm() -> None:
    # 36 ms gained in an hour: 10 ppm.
    assert drift_ppm(0, 0, 3_600_000_000, 36_000) == pytest.approx(10.0)
    assert drift_ppm(0, 5_000, 1_000_000_000, 4_000) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="later"):
        drift_ppm(10, 0, 10, 0)


async def test_each_read_of_a_clock_check_is_a_request_of_its_own_on_the_line() -> None:
    """On a shared line the other devices' requests take their turns between a clock check's
    reads, which are timed where they run (the queue's wait is no round trip)."""
    worker = LineWorker("rs485")
    order: list[str] = []
    loop = asyncio.get_running_loop()

    def now_us() -> int:
        return round(loop.time() * 1e6)

    def read_clock() -> float:
        order.append("clock")
        return math.floor((now_us() + 250_000) / 1e6)

    try:
        check = asyncio.ensure_future(
            measure_offset_queued(
                lambda: worker.call(Priority.CLOCK, timed_read, read_clock, now_us), now_us
            )
        )
        while not order:  # the check is under way
            await asyncio.sleep(0)  # sync-ok: let the check queue its first read
        await worker.call(Priority.LIVE, order.append, "live poll")
        m = await check
    finally:
        worker.stop()
    assert m.edge and abs(m.offset_us - 250_000) <= m.uncertainty_us
    assert 2 <= order.count("clock") <= MAX_READS
    assert order.index("live poll") < len(order) - 1  # it ran between two of the clock's reads
