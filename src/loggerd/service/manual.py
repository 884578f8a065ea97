"""What a person does to one device by hand, with the daemon stopped: backfill, set the clock.

Both go through the same parts as the daemon (its driver, follower, processing, spool and
store), so a record downloaded by hand is stored exactly as the daemon would have stored it.
A serial line can have one master only: stop `loggerd run` first.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from loggerd.acquisition.clock import OffsetMeasurement, measure_offset
from loggerd.acquisition.follower import MemoryFollower
from loggerd.acquisition.poller import DevicePoller
from loggerd.core.errors import ConfigError
from loggerd.core.events import ClockCheck, Event, EventKind, Severity
from loggerd.core.times import utc_now_us
from loggerd.drivers.base import MemoryDriver
from loggerd.service.config import DaemonConfig
from loggerd.service.daemon import Daemon
from loggerd.storage.store import StoreError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # records done, records in all


@dataclass(frozen=True)
class BackfillReport:
    first: int | None  # the first record asked for (None: nothing to read)
    last: int | None  # the last record read (a logger that goes on recording: later ones)
    downloaded: int
    lost: int  # records in gaps found
    stored: int  # samples the store took (new ones and ones it had)
    duplicates: int


def _poller(daemon: Daemon, chamber_id: str | None, device_id: str) -> DevicePoller:
    found = [
        p
        for p in daemon.pollers
        if p.device_id == device_id and (chamber_id is None or p.chamber_id == chamber_id)
    ]
    if not found:
        known = ", ".join(f"{p.chamber_id}/{p.device_id}" for p in daemon.pollers) or "none"
        raise ConfigError(
            f"no device {device_id!r}"
            + (f" in chamber {chamber_id!r}" if chamber_id else "")
            + f" in the configuration; its devices: {known}"
        )
    if len(found) > 1:
        chambers = ", ".join(p.chamber_id for p in found)
        raise ConfigError(f"device {device_id!r} is in several chambers ({chambers}): name one")
    return found[0]


def _memory_driver(poller: DevicePoller) -> MemoryDriver:
    if not isinstance(poller.driver, MemoryDriver):
        raise ConfigError(
            f"device {poller.device_id!r} ({poller.driver.description}) keeps no records of its "
            "own: there is nothing to backfill and no clock to set"
        )
    return poller.driver


async def _first_at_or_after(driver: MemoryDriver, since_us: int) -> int | None:
    """The first record the logger took at or after `since_us` (logger time): a binary search
    over its memory, one record per read."""
    memory = await asyncio.to_thread(driver.memory_range)
    if memory.newest == 0:
        return None
    lo, hi = memory.oldest, memory.newest + 1
    while lo < hi:
        mid = (lo + hi) // 2
        records = await asyncio.to_thread(driver.read_records, mid, 1)
        if not records or records[0].logger_time_us >= since_us:
            hi = mid
        else:
            lo = mid + 1
    return lo if lo <= memory.newest else None


async def backfill(
    config: DaemonConfig,
    device_id: str,
    chamber_id: str | None = None,
    since_us: int | None = None,
    progress: Progress | None = None,
) -> BackfillReport:
    """Download a logger's memory into the store: from where its history ends, or from the
    first record at or after `since_us` (logger time; records stored already are kept)."""
    # Only this device: the others are not opened, nor their lines.
    daemon = Daemon(config)
    poller = _poller(daemon, chamber_id, device_id)
    driver = _memory_driver(poller)
    follower = poller.follower
    if follower is None:
        raise ConfigError(
            f'device {device_id!r} takes its history from live polls (history = "polls"): '
            'set history = "memory" to keep its records'
        )
    await daemon.open_history()
    try:
        poller.health.info = await asyncio.to_thread(driver.open)
        if since_us is not None:
            first = await _first_at_or_after(driver, since_us)
            if first is not None:
                follower.start_at(first)
        report = await _follow_to_newest(follower, progress)
    finally:
        await daemon.stop()
    w = daemon.writer
    return BackfillReport(
        report[0],
        report[1],
        follower.health.records_downloaded,
        follower.health.records_lost,
        w.written,
        w.duplicates,
    )


async def _follow_to_newest(
    follower: MemoryFollower, progress: Progress | None
) -> tuple[int | None, int | None]:
    memory = await asyncio.to_thread(follower.driver.memory_range)
    h = follower.health
    await follower.step(0.0)  # where history ends, the clock, and a first read
    if h.state == "waiting_for_store":
        raise StoreError(f"the store cannot say where the history ends: {h.last_error}")
    if memory.newest == 0:
        return None, None
    if h.cursor is None:
        start = memory.oldest
    else:
        start = max(memory.oldest, h.cursor - h.records_downloaded + 1)
    total = max(0, memory.newest - start + 1)
    while (h.cursor or 0) < memory.newest:
        before = h.cursor
        await follower.step(1.0)
        if progress is not None:
            progress(min(total, max(0, (h.cursor or 0) - start + 1)), total)
        if h.cursor == before:
            break  # nothing more to read (the memory moved on under us: the gap is recorded)
    return start, h.cursor


@dataclass(frozen=True)
class ClockSetReport:
    before: OffsetMeasurement
    after: OffsetMeasurement
    set_to_utc_s: int


async def set_clock(
    config: DaemonConfig,
    device_id: str,
    chamber_id: str | None = None,
    to_utc_s: int | None = None,
) -> ClockSetReport:
    """Set a logger's clock to the host's (or to `to_utc_s`), at a whole second of the host's
    clock, and record it: the offset before and after, and a clock_set event."""
    daemon = Daemon(config)
    poller = _poller(daemon, chamber_id, device_id)
    driver = _memory_driver(poller)
    await daemon.open_history()
    try:
        await asyncio.to_thread(driver.open)
        if poller.follower is not None:
            # Records taken before the step are read now, corrected by the offset they were
            # taken under: read after it, they would be corrected by the new one.
            await _follow_to_newest(poller.follower, None)
        before = await asyncio.to_thread(
            measure_offset, driver.read_clock, utc_now_us, driver.clock_resolution_s
        )
        if to_utc_s is None:
            # Write at a whole second of the host's clock, so the logger's second starts in step.
            now = time.time()
            await asyncio.sleep(math.ceil(now) - now)
            target = round(time.time())
        else:
            target = to_utc_s
        await asyncio.to_thread(driver.set_clock, target)
        after = await asyncio.to_thread(
            measure_offset, driver.read_clock, utc_now_us, driver.clock_resolution_s
        )
        cid, did = poller.chamber_id, poller.device_id
        message = (
            f"{cid}/{did}: the logger's clock was set by hand to {target} (UTC epoch s); its "
            f"offset was {before.offset_us / 1e6:+.3f} s, now {after.offset_us / 1e6:+.3f} s "
            f"(± {after.uncertainty_us / 1e6:.3f} s)"
        )
        log.info("%s", message)
        await daemon.writer.submit_log(
            [
                ClockCheck(cid, did, m.utc_us, m.offset_us, m.uncertainty_us, m.rtt_us)
                for m in (before, after)
            ]
            + [
                Event(
                    after.utc_us,
                    cid,
                    did,
                    EventKind.CLOCK_SET,
                    Severity.WARNING,
                    message,
                    {
                        "set_to_utc_s": target,
                        "offset_before_s": before.offset_us / 1e6,
                        "offset_after_s": after.offset_us / 1e6,
                    },
                )
            ]
        )
    finally:
        await daemon.stop()
    return ClockSetReport(before, after, target)
