"""What a person does to one logger by hand: read its memory up to the newest record, find the
first record after a time, set its clock. Device-level steps only: the service wires them to
the daemon's own parts (service/manual.py), so a record read by hand is stored as the daemon
would store it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from loggerd.acquisition.clock import OffsetMeasurement, measure_offset
from loggerd.acquisition.follower import MemoryFollower
from loggerd.acquisition.ledger import Emit
from loggerd.acquisition.poller import PollPolicy
from loggerd.core.errors import DeviceException, DriverError, LinkError, LoggerdError
from loggerd.core.events import ClockCheck, Event, EventKind, Severity
from loggerd.core.times import utc_now_us
from loggerd.drivers.base import MemoryDriver

log = logging.getLogger(__name__)
T = TypeVar("T")

Progress = Callable[[int, int], None]  # records done, records in all


async def _retried(
    name: str,
    driver: MemoryDriver,
    policy: PollPolicy,
    attempt: Callable[[], Awaitable[T]],
    reconnected: Callable[[], None] | None = None,
) -> T:
    """`attempt()`, tried again after a failure as the daemon tries a device again: up to
    `policy.retries` more times, after a pause when the device was busy, on a link opened
    afresh after a timeout or a dropped link (then `reconnected()`); the last error is the
    caller's. `name` names the device in the log."""
    tried, reopen = 0, False
    while True:
        try:
            if reopen:
                await asyncio.to_thread(driver.open)
                if reconnected is not None:
                    reconnected()
            return await attempt()
        except DriverError as exc:
            if tried >= policy.retries:
                raise
            tried += 1
            log.warning("%s: reading its memory: %s; trying again", name, exc)
            if isinstance(exc, DeviceException) and exc.busy:
                await asyncio.sleep(policy.busy_retry_delay_s)
            reopen = isinstance(exc, LinkError)


async def first_at_or_after(
    driver: MemoryDriver, since_us: int, policy: PollPolicy | None = None
) -> int | None:
    """The first record the logger took at or after `since_us` (logger time): a binary search
    over its memory, one record per read."""
    policy = policy or PollPolicy()
    name = driver.description
    memory = await _retried(name, driver, policy, lambda: asyncio.to_thread(driver.memory_range))
    if memory.newest == 0:
        return None
    lo, hi = memory.oldest, memory.newest + 1
    while lo < hi:
        mid = (lo + hi) // 2
        read = functools.partial(asyncio.to_thread, driver.read_records, mid, 1)
        records = await _retried(name, driver, policy, read)
        if not records or records[0].logger_time_us >= since_us:
            hi = mid
        else:
            lo = mid + 1
    return lo if lo <= memory.newest else None


@dataclass(frozen=True)
class Downloaded:
    """What a download by hand read."""

    first: int | None  # the first record read (None: nothing was new)
    last: int | None  # the last record read: the newest, or later when the logger went on
    newest: int  # the logger's newest record when the download began (0: its memory is empty)


async def follow_to_newest(
    follower: MemoryFollower, progress: Progress | None, policy: PollPolicy | None = None
) -> Downloaded:
    """Read a logger's memory, by hand, up to the newest record it holds when we begin (and
    whatever else the last read brings). Announced and recorded as a backfill whatever its
    length (see MemoryFollower.by_hand); each read that fails is tried again as the daemon
    would (`policy`); `progress(done, total)` counts record numbers from the first read."""
    policy = policy or PollPolicy()
    follower.by_hand()
    h = follower.health

    async def step(budget_s: float) -> None:
        attempt = functools.partial(follower.step, budget_s)
        await _retried(follower.name, follower.driver, policy, attempt, follower.connected)

    await step(0.0)  # where history ends, the clock, and a first read
    if h.state == "waiting_for_store":
        raise LoggerdError(f"the store cannot say where the history ends: {h.last_error}")
    newest = target = h.logger_newest or 0
    start = follower.download_first

    def report() -> None:
        if progress is not None and start is not None:
            last = h.cursor or start - 1
            progress(last - start + 1, max(target, last) - start + 1)

    report()
    stuck = 0
    while start is not None and (h.cursor or 0) < target:
        before = h.cursor
        await step(1.0)
        # A memory that started again under us holds fewer records than we set out to read.
        target = min(target, h.logger_newest or 0)
        report()
        stuck = 0 if h.cursor != before else stuck + 1
        if stuck > policy.retries:
            raise LoggerdError(
                f"{follower.name}: record {(h.cursor or 0) + 1} is in the logger's memory but "
                f"cannot be read ({h.last_error or 'no record in the reply'}); the records "
                "from it on wait in the logger: run the backfill again"
            )
    await follower.finish_download()
    return Downloaded(start, None if start is None else h.cursor, newest)


@dataclass(frozen=True)
class ClockSetReport:
    before: OffsetMeasurement
    after: OffsetMeasurement
    set_to_utc_s: int


async def set_logger_clock(
    driver: MemoryDriver,
    chamber_id: str,
    device_id: str,
    emit: Emit,
    to_utc_s: int | None = None,
) -> ClockSetReport:
    """Set the logger's clock to the host's (or to `to_utc_s`), at a whole second of the
    host's clock, and record it: the offset before and after, and a clock_set event.

    A time the clock cannot take is refused before anything is sent. Once the logger has
    acknowledged the write its clock has changed, so the event is recorded even when reading
    the clock back then fails (the event and the error both say so)."""
    if to_utc_s is not None:
        driver.check_clock_value(to_utc_s)
    before = await asyncio.to_thread(
        measure_offset, driver.read_clock, utc_now_us, driver.clock_resolution_s
    )
    if to_utc_s is None:
        # Write at a whole second of the host's clock, so the logger's second starts in step.
        now = time.time()
        await asyncio.sleep(math.ceil(now) - now)
        target = round(time.time())
        driver.check_clock_value(target)  # a host clock far off is no time to copy either
    else:
        target = to_utc_s
    await asyncio.to_thread(driver.set_clock, target)
    # Acknowledged: the logger's clock has changed, whatever reading it back brings.
    who = f"{chamber_id}/{device_id}"
    message = (
        f"{who}: the logger's clock was set by hand to {target} (UTC epoch s); its offset was "
        f"{before.offset_us / 1e6:+.3f} s"
    )
    details: dict[str, object] = {"set_to_utc_s": target, "offset_before_s": before.offset_us / 1e6}
    measured = [before]
    failure: LoggerdError | None = None
    try:
        after = await asyncio.to_thread(
            measure_offset, driver.read_clock, utc_now_us, driver.clock_resolution_s
        )
    except LoggerdError as exc:
        failure = exc
        message += f", and reading the clock back failed: {exc}"
        details |= {"confirmed": False, "confirm_error": str(exc)}
        event_us = utc_now_us()
    else:
        measured.append(after)
        message += f", now {after.offset_us / 1e6:+.3f} s (± {after.uncertainty_us / 1e6:.3f} s)"
        details |= {"offset_after_s": after.offset_us / 1e6, "confirmed": True}
        event_us = after.utc_us
    log.log(logging.WARNING if failure else logging.INFO, "%s", message)
    checks = [
        ClockCheck(chamber_id, device_id, m.utc_us, m.offset_us, m.uncertainty_us, m.rtt_us)
        for m in measured
    ]
    event = Event(
        event_us, chamber_id, device_id, EventKind.CLOCK_SET, Severity.WARNING, message, details
    )
    await emit([*checks, event])
    if failure is not None:
        raise failure.reworded(
            f"{who}: the clock was set to {target} (UTC epoch s) and the clock_set event is "
            f"recorded, but reading the clock back failed: {failure}. `loggerd run` measures "
            "its offset when it next connects"
        ) from failure
    return ClockSetReport(before, after, target)
