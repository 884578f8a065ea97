"""How far a logger's clock is from the host's, measured over the wire.

A logger's clock register counts whole seconds, so one read says little: the value was true at
some instant of the second it names. Reading it back to back until it ticks pins the tick to the
interval between two reads, which is a few round trips wide, not a second. Each read is timed on
the host before and after, so the round trip bounds the answer: the offset comes with the
half-width of the interval it is known to lie in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class OffsetMeasurement:
    utc_us: int  # host time of the measurement
    offset_us: int  # logger clock minus host clock
    uncertainty_us: int  # the offset lies within ± this
    rtt_us: int  # the longest round trip of the reads used
    reads: int
    edge: bool  # True: timed at a tick of the logger's clock; False: one read, ± half a step


def measure_offset(
    read_clock: Callable[[], float],
    now_us: Callable[[], int],
    resolution_s: float = 1.0,
    max_wait_s: float | None = None,
    pause_s: float = 0.005,
) -> OffsetMeasurement:
    """Measure the logger's clock offset by timing a tick of its clock.

    `read_clock` reads the logger clock (it floors to `resolution_s`); `now_us` is the host's
    UTC clock. Reads repeat, `pause_s` apart, until the value changes or `max_wait_s` (default
    1.5 steps) has passed; a clock that does not tick in that time (stopped, or too coarse) gets
    the one-read estimate: its value plus half a step, ± half a step and half the round trip.
    """
    step_us = round(resolution_s * 1e6)
    wait_us = round((1.5 * resolution_s if max_wait_s is None else max_wait_s) * 1e6)
    before = now_us()
    value = read_clock()
    after = now_us()
    first = (before, value, after)
    rtt = after - before
    reads = 1
    while after - first[0] < wait_us:
        if pause_s:
            time.sleep(pause_s)  # pace the reads: a tick is a second apart, the line is shared
        b = now_us()
        v = read_clock()
        a = now_us()
        reads += 1
        rtt = max(rtt, a - b)
        if v != value:
            # The logger clock reached v (a whole step, as it floors) after the previous read
            # sampled it and before this one did: between `before` of that one and `a`.
            tick_us = (before + a) // 2
            return OffsetMeasurement(
                tick_us,
                round(v * 1e6) - tick_us,
                (a - before + 1) // 2,
                rtt,
                reads,
                True,
            )
        before, value, after = b, v, a
    b0, v0, a0 = first
    mid = (b0 + a0) // 2
    return OffsetMeasurement(
        mid,
        round(v0 * 1e6) + step_us // 2 - mid,
        step_us // 2 + (a0 - b0 + 1) // 2,
        rtt,
        reads,
        False,
    )


def drift_ppm(
    earlier_utc_us: int, earlier_offset_us: int, later_utc_us: int, later_offset_us: int
) -> float:
    """How fast the logger's clock gains (+) or loses (-) on the host's, in parts per million."""
    span = later_utc_us - earlier_utc_us
    if span <= 0:
        raise ValueError("the later measurement must be later")
    return (later_offset_us - earlier_offset_us) / span * 1e6
