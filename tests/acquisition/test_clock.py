"""The clock offset is timed at a tick of the logger's clock, and says how well it is known."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loggerd.acquisition.clock import drift_ppm, measure_offset


class FakeLine:
    """A host clock that moves `step_us` at each look and a logger clock `offset_us` ahead,
    read (floored to whole seconds) halfway through each request."""

    def __init__(self, start_us: int, offset_us: int, step_us: int, stopped: bool = False) -> None:
        self.now = start_us
        self.offset_us = offset_us
        self.step_us = step_us
        self.stopped = stopped
        self.reads = 0

    def now_us(self) -> int:
        self.now += self.step_us
        return self.now

    def read_clock(self) -> float:
        self.reads += 1
        self.now += self.step_us  # the request travels; the logger answers from its clock
        if self.stopped:
            return 1_000_000.0
        return float(math.floor((self.now + self.offset_us) / 1e6))


@given(
    offset_us=st.integers(-(10**12), 10**12),
    start_us=st.integers(1_700_000_000_000_000, 1_800_000_000_000_000),
    step_us=st.integers(100, 20_000),
)
def test_the_true_offset_lies_within_the_stated_uncertainty(
    offset_us: int, start_us: int, step_us: int
) -> None:
    line = FakeLine(start_us, offset_us, step_us)
    m = measure_offset(line.read_clock, line.now_us, pause_s=0)
    assert m.edge
    assert abs(m.offset_us - offset_us) <= m.uncertainty_us
    # Timed at a tick, the offset is known to about a round trip, not to a second.
    assert m.uncertainty_us <= 3 * step_us + 1
    assert m.rtt_us == 2 * step_us


def test_a_clock_that_does_not_tick_gets_the_one_read_estimate() -> None:
    line = FakeLine(1_780_000_000_000_000, 0, 1000, stopped=True)
    m = measure_offset(line.read_clock, line.now_us, max_wait_s=0.05, pause_s=0)
    assert not m.edge and line.reads > 1
    # One read of a whole-second clock: ± half a second and half the round trip.
    assert m.uncertainty_us == 500_000 + 1000
    true_offset = 1_000_000_000_000 + 500_000 - (1_780_000_000_000_000 + 2000)
    assert abs(m.offset_us - true_offset) <= m.uncertainty_us


def test_drift_in_ppm() -> None:
    # 36 ms gained in an hour: 10 ppm.
    assert drift_ppm(0, 0, 3_600_000_000, 36_000) == pytest.approx(10.0)
    assert drift_ppm(0, 5_000, 1_000_000_000, 4_000) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="later"):
        drift_ppm(10, 0, 10, 0)


async def test_each_read_of_a_clock_check_is_a_request_of_its_own_on_the_line() -> None:
    """A clock check reads back to back for up to a second and a half; on a shared line the
    other devices' live polls take their turns between its reads, not after all of them."""
    import asyncio

    from loggerd.acquisition.clock import measure_offset_queued
    from loggerd.link.worker import LineWorker, Priority

    line = FakeLine(1_780_000_000_000_000, 250_000, 1000)
    worker = LineWorker("rs485")
    order: list[str] = []

    def read_clock() -> float:
        order.append("clock")
        return line.read_clock()

    try:
        check = asyncio.ensure_future(
            measure_offset_queued(
                lambda: worker.call(Priority.CLOCK, read_clock), line.now_us, pause_s=0
            )
        )
        while len(order) < 3:  # the check is under way
            await asyncio.sleep(0)  # sync-ok: let the check queue its reads
        await worker.call(Priority.LIVE, order.append, "live poll")
        m = await check
    finally:
        worker.stop()
    assert m.edge and abs(m.offset_us - 250_000) <= m.uncertainty_us
    assert order.index("live poll") < len(order) - 1  # it ran between two of the clock's reads
