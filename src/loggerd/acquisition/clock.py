"""How far a logger's clock is from the host's, measured over the wire.

A logger's clock register counts whole seconds, so one read says little: the value was true at
some instant of the second it names. Timing the moment it ticks pins the offset to a few round
trips, not a second: reads aimed by bisection find the tick in a bounded number of requests.
Each read is timed on the host before and after, so the round trip bounds the answer: the
offset comes with the half-width of the interval it is known to lie in.
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


MAX_READS = 12  # a clock check's reads: bounded, whatever the line's speed
TimedRead = tuple[int, float, int]  # host µs before, the clock's value (s), host µs after


def timed_read(read_clock: Callable[[], float], now_us: Callable[[], int]) -> TimedRead:
    """One read of the logger's clock with the host's time just before and just after it (run
    where the request is made, so waiting in a line's queue is not counted as the round trip)."""
    before = now_us()
    value = read_clock()
    return before, value, now_us()


class TickBisector:
    """The measurement itself, without I/O: it says when to read next, and is fed each read.

    The logger's clock floors to whole steps (resolution_s) and ticks once a step, at the same
    moment of each step of the host's clock (a drift of ppm moves it by microseconds over a
    check). A first read at [b, a] puts its next tick T in (b, a + step]; a later read that saw
    n ticks since narrows that interval from T's side: T + (n - 1) step <= the read <= a, or
    the read < T + n step. Each read is aimed at the middle of what is left, a whole number of
    steps on if that moment has passed, so the interval halves with each read down to about a
    round trip. A check is at most `max_reads` requests, the line free for other devices
    between them, instead of reads back to back until the clock ticks.

    A clock that does not tick when it must (stopped, or coarser than said) gets the one-read
    estimate: its value plus half a step, ± half a step and half the round trip. A clock set
    during the check (its reads no longer fit one tick) starts the check again from that read.
    """

    def __init__(
        self, resolution_s: float = 1.0, max_reads: int = MAX_READS, precision_us: int = 5_000
    ) -> None:
        if max_reads < 2:
            raise ValueError(f"a tick takes at least 2 reads to time, got max_reads={max_reads}")
        self.step_us = round(resolution_s * 1e6)
        self.max_reads = max_reads
        self.precision_us = precision_us
        self.reads = 0
        self.rtt_us = 0
        self._first: TimedRead | None = None
        self._v0_us = 0  # the first read's value
        self._lo = self._hi = 0  # the first tick after the first read is in (lo, hi], host µs
        self._saw_tick = False

    def next_at_us(self, now_us: int) -> int | None:
        """When to start the next read (host µs, not before now_us); None: at once."""
        if self._first is None:
            return None
        if not self._saw_tick and self._narrow():
            at = self._hi  # look after the tick was due: did the clock move at all?
        else:
            at = (self._lo + self._hi) // 2 - self.rtt_us // 2
        if at < now_us:
            at += -(-(now_us - at) // self.step_us) * self.step_us
        return at

    def _narrow(self) -> bool:
        return self._hi - self._lo <= max(2 * self.rtt_us, self.precision_us)

    def add(self, before_us: int, value: float, after_us: int) -> OffsetMeasurement | None:
        """One read; the measurement once it is done."""
        self.reads += 1
        self.rtt_us = max(self.rtt_us, after_us - before_us)
        value_us = round(value * 1e6)
        if self._first is None:
            self._start(before_us, value, after_us)
        else:
            ticks, rest = divmod(value_us - self._v0_us, self.step_us)
            lo = max(self._lo, before_us - ticks * self.step_us)
            hi = self._hi if ticks == 0 else min(self._hi, after_us - (ticks - 1) * self.step_us)
            if ticks == 0 and before_us >= self._hi:
                return self.estimate()  # read after the tick was due, and no tick
            if rest or ticks < 0 or lo >= hi:
                self._start(before_us, value, after_us)  # set meanwhile: start again
            else:
                self._lo, self._hi = lo, hi
                self._saw_tick = self._saw_tick or ticks > 0
        if self._saw_tick and (self._narrow() or self.reads >= self.max_reads):
            tick_us = (self._lo + self._hi) // 2
            return OffsetMeasurement(
                tick_us,
                self._v0_us + self.step_us - tick_us,
                (self._hi - self._lo + 1) // 2,
                self.rtt_us,
                self.reads,
                True,
            )
        if self.reads >= self.max_reads:
            return self.estimate()
        return None

    def _start(self, before_us: int, value: float, after_us: int) -> None:
        self._first = (before_us, value, after_us)
        self._v0_us = round(value * 1e6)
        self._lo, self._hi = before_us, after_us + self.step_us
        self._saw_tick = False

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
    max_reads: int = MAX_READS,
) -> OffsetMeasurement:
    """Measure the logger's clock offset (see TickBisector) with the daemon stopped, waiting
    between reads here. `read_clock` reads the logger's clock (it floors to `resolution_s`);
    `now_us` is the host's UTC clock."""
    bisector = TickBisector(resolution_s, max_reads)
    while True:
        at = bisector.next_at_us(now_us())
        if at is not None and (wait_s := (at - now_us()) / 1e6) > 0:
            time.sleep(wait_s)  # the next read's moment: the middle of what is left
        done = bisector.add(*timed_read(read_clock, now_us))
        if done is not None:
            return done


async def measure_offset_queued(
    read: Callable[[], Awaitable[TimedRead]],
    now_us: Callable[[], int],
    resolution_s: float = 1.0,
    max_reads: int = MAX_READS,
) -> OffsetMeasurement:
    """As measure_offset, each read a request of its own on the device's line (`read` queues
    a timed_read there), waiting between them on the event loop: the line serves the other
    devices meanwhile."""
    bisector = TickBisector(resolution_s, max_reads)
    while True:
        at = bisector.next_at_us(now_us())
        if at is not None and (wait_s := (at - now_us()) / 1e6) > 0:
            await asyncio.sleep(wait_s)
        done = bisector.add(*await read())
        if done is not None:
            return done


def drift_ppm(
    earlier_utc_us: int, earlier_offset_us: int, later_utc_us: int, later_offset_us: int
) -> float:
    """How fast the logger's clock gains (+) or loses (-) on the host's, in parts per million."""
    span = later_utc_us - earlier_utc_us
    if span <= 0:
        raise ValueError("the later measurement must be later")
    return (later_offset_us - earlier_offset_us) / span * 1e6
