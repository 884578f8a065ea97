"""What a person does to one device by hand, with the daemon stopped: backfill, set the clock.

Both go through the same parts as the daemon (its driver, follower, processing, spool and
store), so a record downloaded by hand is stored exactly as the daemon would have stored it.
A serial line can have one master only: stop `loggerd run` first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from loggerd.acquisition.follower import MemoryFollower
from loggerd.acquisition.manual import (
    ClockSetReport,
    Progress,
    first_at_or_after,
    follow_to_newest,
    set_logger_clock,
)
from loggerd.acquisition.poller import DevicePoller
from loggerd.core.errors import ConfigError
from loggerd.drivers.base import MemoryDriver
from loggerd.service.config import DaemonConfig
from loggerd.service.daemon import Daemon


@dataclass(frozen=True)
class BackfillReport:
    first: int | None  # the first record read (None: none was new)
    last: int | None  # the last record read (a logger that goes on recording: later ones)
    newest: int  # the logger's newest record when the download began (0: its memory is empty)
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


def _follower(poller: DevicePoller) -> MemoryFollower:
    if poller.follower is None and not poller.bindings:
        raise ConfigError(
            f"device {poller.device_id!r} has no channels: give it one ([[chamber.device."
            "channel]]) for its records to be stored"
        )
    if poller.follower is None:
        raise ConfigError(
            f'device {poller.device_id!r} takes its history from live polls (history = "polls"):'
            ' set history = "memory" to keep its records'
        )
    return poller.follower


async def _open_store(daemon: Daemon) -> None:
    """The store, now: by hand nothing waits for a store that is down (the daemon acquires
    into its spool meanwhile), and where the device's history ends must be known."""
    await asyncio.to_thread(daemon.store.prepare_schema)
    await daemon.open_history()


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
    try:
        poller = _poller(daemon, chamber_id, device_id)
        driver = _memory_driver(poller)
        follower = _follower(poller)
        await _open_store(daemon)
        poller.health.info = await asyncio.to_thread(driver.open)
        if since_us is not None:
            first = await first_at_or_after(driver, since_us, poller.policy)
            if first is not None:
                follower.start_at(first)
        read = await follow_to_newest(follower, progress, poller.policy)
    finally:
        await daemon.stop()
    w = daemon.writer
    return BackfillReport(
        read.first,
        read.last,
        read.newest,
        follower.health.records_downloaded,
        follower.health.records_lost,
        w.written,
        w.duplicates,
    )


async def set_clock(
    config: DaemonConfig,
    device_id: str,
    chamber_id: str | None = None,
    to_utc_s: int | None = None,
) -> ClockSetReport:
    """Set a logger's clock (see acquisition.manual.set_logger_clock); the records it took
    before are downloaded first."""
    daemon = Daemon(config)
    try:
        poller = _poller(daemon, chamber_id, device_id)
        driver = _memory_driver(poller)
        if to_utc_s is not None:
            driver.check_clock_value(to_utc_s)  # before anything is opened or downloaded
        await _open_store(daemon)
        await asyncio.to_thread(driver.open)
        if poller.follower is not None:
            # Records taken before the step are read now, corrected by the offset they were
            # taken under: read after it, they would be corrected by the new one.
            await follow_to_newest(poller.follower, None, poller.policy)
        return await set_logger_clock(
            driver, poller.chamber_id, poller.device_id, daemon.writer.submit_log, to_utc_s
        )
    finally:
        await daemon.stop()
