"""How far a logger's clock is from the host's, measured over the wire.

A logger's clock register counts whole seconds, so one read says little: the value was true at
some instant of the second it names. Reading it back to back until it ticks pins the tick to the
interval between two reads, which is a few round trips wide, not a second. Each read is timed on
the host before and after, so the round trip bounds the answer: the offset comes with the
half-width of the interval it is known to lie in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class OffsetMeasurement:
    utc_us: int  # host time of the measurement
    offset_us: int  # logger clock minus host clock
    uncertainty_us: int  # the offset lies within ± this
    rtt_us: int  # the longest round trip of the reads used
    reads: int
    edge: bool  # True: timed at a tick of the logger's clock; False: one read, ± half a step


class TickTimer:
    """The measurement itself, without I/O: fed one timed read at a time (host time before,
    the clock's value, host time after), it says when it has timed a tick. Reads stop after
    `max_wait_s` (default 1.5 steps) without one: a clock that does not tick (stopped, or too
    coarse) gets the one-read estimate, its value plus half a step, ± half a step and half the
    round trip."""

    def __init__(self, resolution_s: float = 1.0, max_wait_s: float | None = None) -> None:
        self.step_us = round(resolution_s * 1e6)
        self.wait_us = round((1.5 * resolution_s if max_wait_s is None else max_wait_s) * 1e6)
        self._first: tuple[int, float, int] | None = None
        self._last: tuple[int, float, int] | None = None
        self.rtt_us = 0
        self.reads = 0

    def add(self, before_us: int, value: float, after_us: int) -> OffsetMeasurement | None:
        """One read; the measurement once it is done (timed, or waited long enough)."""
        self.reads += 1
        self.rtt_us = max(self.rtt_us, after_us - before_us)
        previous, self._last = self._last, (before_us, value, after_us)
        if previous is None:
            self._first = self._last
        elif value != previous[1]:
            # The clock reached `value` (a whole step, as it floors) after the previous read
            # sampled it and before this one did: between `before` of that one and `after`.
            tick_us = (previous[0] + after_us) // 2
            return OffsetMeasurement(
                tick_us,
                round(value * 1e6) - tick_us,
                (after_us - previous[0] + 1) // 2,
                self.rtt_us,
                self.reads,
                True,
            )
        first = self._first
        assert first is not None
        if after_us - first[0] >= self.wait_us:
            return self.estimate()
        return None

    def estimate(self) -> OffsetMeasurement:
        """The one-read estimate, from the first read."""
        assert self._first is not None
        b0, v0, a0 = self._first
        mid = (b0 + a0) // 2
        return OffsetMeasurement(
            mid,
            round(v0 * 1e6) + self.step_us // 2 - mid,
            self.step_us // 2 + (a0 - b0 + 1) // 2,
            self.rtt_us,
            self.reads,
            False,
        )


def measure_offset(
    read_clock: Callable[[], float],
    now_us: Callable[[], int],
    resolution_s: float = 1.0,
    max_wait_s: float | None = None,
    pause_s: float = 0.005,
) -> OffsetMeasurement:
    """Measure the logger's clock offset by timing a tick of its clock (see TickTimer), with
    the daemon stopped: reads back to back, `pause_s` apart. `read_clock` reads the logger's
    clock (it floors to `resolution_s`); `now_us` is the host's UTC clock."""
    timer = TickTimer(resolution_s, max_wait_s)
    while True:
        before = now_us()
        value = read_clock()
        done = timer.add(before, value, now_us())
        if done is not None:
            return done
        if pause_s:
            time.sleep(pause_s)  # pace the reads: a tick is a second apart


async def measure_offset_queued(
    read_clock: Callable[[], Awaitable[float]],
    now_us: Callable[[], int],
    resolution_s: float = 1.0,
    max_wait_s: float | None = None,
    pause_s: float = 0.005,
) -> OffsetMeasurement:
    """As measure_offset, each read a request of its own on the device's line (`read_clock`
    queues it), so the other devices on the line take their turns between the reads."""
    timer = TickTimer(resolution_s, max_wait_s)
    while True:
        before = now_us()
        value = await read_clock()
        done = timer.add(before, value, now_us())
        if done is not None:
            return done
        if pause_s:
            await asyncio.sleep(pause_s)


def drift_ppm(
    earlier_utc_us: int, earlier_offset_us: int, later_utc_us: int, later_offset_us: int
) -> float:
    """How fast the logger's clock gains (+) or loses (-) on the host's, in parts per million."""
    span = later_utc_us - earlier_utc_us
    if span <= 0:
        raise ValueError("the later measurement must be later")
    return (later_offset_us - earlier_offset_us) / span * 1e6
