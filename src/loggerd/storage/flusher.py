"""The flusher: a drain loop that writes the durable queue's head to the store, in batches,
retrying with back-off while the store is down.

A flush is one transaction of up to `batch_size` samples, made when that many wait, or
`flush_interval_s` after the last one, or when asked (flushed(), stop()). What the store took is
acked; a failed flush leaves everything queued, raises a store_unavailable (or disk_full) event
the first time, and is retried after a back-off with jitter; the first success after that raises
store_recovered. A logger record the store reports as read again with another value becomes a
record_conflict event. Events go back into the queue through `report`, like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict

from loggerd.core.backoff import Backoff
from loggerd.core.events import ClockCheck, Event, EventKind, Gap, LogItem, Severity
from loggerd.storage.durable_queue import DurableQueue, Entry
from loggerd.storage.model import Conflict, StoreError
from loggerd.storage.payloads import LOG, SAMPLES
from loggerd.storage.sample_batch import SampleBatch
from loggerd.storage.spool import SpoolError
from loggerd.storage.store import Store

__all__ = ["Flusher", "is_disk_full"]

log = logging.getLogger(__name__)

# A store that fails is tried again after 0.5 s, then 1, 2, ... up to 30 s, each shortened by up
# to half at random: loggerds that lost one PostgreSQL server together come back apart.
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 30.0
RETRY_JITTER = 0.5


def is_disk_full(message: str) -> bool:
    """Whether a store's error message says its disk is full (SQLite and PostgreSQL alike)."""
    text = message.lower()
    return "disk is full" in text or "no space left" in text or "disk full" in text


class Flusher:
    """Drains a DurableQueue into a Store; start() runs the loop, stop() ends it."""

    def __init__(
        self,
        store: Store,
        queue: DurableQueue,
        report: Callable[[Sequence[LogItem]], Awaitable[None]],
        batch_size: int,
        flush_interval_s: float,
        stop_timeout_s: float,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.stop_timeout_s = stop_timeout_s
        self._queue = queue
        self._report = report
        self._backoff = Backoff(RETRY_INITIAL_S, RETRY_MAX_S, RETRY_JITTER)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.task: asyncio.Task[None] | None = None
        self._stopping = False
        self._flush_requested = False
        self._stop_requested = asyncio.Event()
        self._stop_started = 0.0
        self._store_down_since: float | None = None
        self.written = 0
        self.duplicates = 0
        self.conflicts = 0
        self.expired = 0
        self.failed_flushes = 0
        self.last_error: str | None = None
        self.last_flush_utc_s: float | None = None
        self.last_flush_duration_s: float | None = None
        self.attempts = 0
        self._attempted = asyncio.Condition()

    def start(self, backlog: bool) -> None:
        """Start the loop; with a backlog (an earlier run's spool), flush at once."""
        if backlog:
            self._idle.clear()
            self._wake.set()
        self.task = asyncio.create_task(self._run(), name="loggerd-writer")

    def accepted(self) -> None:
        """Something was queued: not idle, and a flush is due once a batch is full."""
        self._idle.clear()
        if self._queue.queued >= self.batch_size:
            self._wake.set()

    async def flushed(self) -> None:
        """Wait until everything queued so far is in the store."""
        self._flush_requested = True
        self._wake.set()
        await self._idle.wait()

    async def wait_attempts(self, count: int) -> None:
        """Wait until `count` flushes were tried, failed or not."""
        async with self._attempted:
            await self._attempted.wait_for(lambda: self.attempts >= count)

    async def _count_attempt(self) -> None:
        async with self._attempted:
            self.attempts += 1
            self._attempted.notify_all()

    async def stop(self) -> None:
        """Write everything queued, then end the loop (giving up stop_timeout_s after this
        was called if the store is down; what is left stays in the queue's spool)."""
        self._stopping = True
        self._stop_started = time.monotonic()
        self._stop_requested.set()
        self._wake.set()
        if self.task is not None:
            await self.task
            self.task = None

    async def _run(self) -> None:
        delay_s = 0.0  # the back-off after a failure, 0 after a success
        while True:
            await self._wait(delay_s)
            await self._queue.respool_if_refused()
            if self._queue.empty:
                self._flush_requested = False
                self._idle.set()
                if self._stopping:
                    return
                continue
            started = time.monotonic()
            try:
                conflicts = await self._queue.deliver(self.batch_size, self._write)
                if conflicts:
                    await self._report(conflicts)
                if conflicts is None:  # nothing was there after all
                    continue
            except Exception as exc:
                # Everything stays queued: a StoreError as expected, anything else (a
                # driver-level error the store did not wrap) must not kill the writer either.
                delay_s = self._backoff.next()
                if await self._failed(exc, delay_s):
                    return
                continue
            delay_s = 0.0
            self._backoff.reset()
            await self._succeeded(started)

    async def _wait(self, delay_s: float) -> None:
        if delay_s and self._stopping:
            await asyncio.sleep(delay_s)  # stopping: keep trying, at the back-off's pace
        elif delay_s:
            # After a failure, wait out the back-off: new samples do not hurry a retry.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay_s)
        elif not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
        self._wake.clear()

    async def _write(self, entries: list[Entry]) -> list[Event]:
        """Write entries to the store; returns the events their conflicts raise."""
        # Columns from the spool, Samples held in memory: one batch of columns, one transaction.
        samples = SampleBatch.concat(
            [
                e.items if isinstance(e.items, SampleBatch) else SampleBatch.from_samples(e.items)
                for e in entries
                if e.kind == SAMPLES
            ]
        )
        items: list[LogItem] = [i for e in entries if e.kind == LOG for i in e.items]  # type: ignore[misc]
        result = await asyncio.to_thread(self.store.write, samples)
        if items:
            await asyncio.to_thread(
                self.store.write_log,
                [i for i in items if isinstance(i, Event)],
                [i for i in items if isinstance(i, Gap)],
                [i for i in items if isinstance(i, ClockCheck)],
            )
        self.written += result.inserted + result.duplicates
        self.duplicates += result.duplicates
        self.expired += result.expired
        self.conflicts += len(result.conflicts)
        return [_conflict_event(c) for c in result.conflicts]

    async def _failed(self, exc: Exception, delay_s: float) -> bool:
        """Count and report a failed flush; True when stop() has waited long enough."""
        self.failed_flushes += 1
        self.last_error = str(exc) if isinstance(exc, StoreError | SpoolError) else repr(exc)
        await self._count_attempt()
        if self._store_down_since is None:
            self._store_down_since = time.monotonic()
            await self._store_event(
                EventKind.DISK_FULL
                if is_disk_full(self.last_error)
                else EventKind.STORE_UNAVAILABLE,
                Severity.ERROR,
                f"the store is unavailable: {self.last_error}. Samples are kept in the "
                "spool and written when it is back",
            )
        queue = self._queue
        log.error(
            "%s; keeping %d samples, retrying in %.1f s", self.last_error, queue.queued, delay_s
        )
        if not self._stopping or time.monotonic() - self._stop_started <= self.stop_timeout_s:
            return False
        if queue.spool is not None and not queue.has_held:
            log.error(
                "store still unavailable %.0f s after the stop was asked for: %d "
                "samples stay in the spool %s and are written at the next start",
                self.stop_timeout_s,
                queue.queued,
                queue.spool.path,
            )
        else:
            log.critical(
                "store still unavailable %.0f s after the stop was asked for: %d "
                "samples held in memory were not written",
                self.stop_timeout_s,
                queue.held,
            )
        return True

    async def _succeeded(self, started: float) -> None:
        self.last_error = None
        if self._store_down_since is not None:
            down_s = time.monotonic() - self._store_down_since
            self._store_down_since = None
            await self._store_event(
                EventKind.STORE_RECOVERED,
                Severity.INFO,
                f"the store is back after {down_s:.0f} s; the spool drains",
            )
        self.last_flush_utc_s = time.time()
        self.last_flush_duration_s = time.monotonic() - started
        await self._count_attempt()
        if self._queue.empty:
            self._flush_requested = False
            self._idle.set()
        elif self._queue.queued >= self.batch_size or self._stopping or self._flush_requested:
            self._wake.set()

    async def _store_event(self, kind: EventKind, severity: Severity, message: str) -> None:
        log.log(logging.ERROR if severity is Severity.ERROR else logging.INFO, "%s", message)
        await self._report([Event(time.time_ns() // 1000, "", "", kind, severity, message, {})])


def _conflict_event(c: Conflict) -> Event:
    message = (
        f"{c.chamber_id}/{c.channel_id}: logger record {c.sequence} was read again with "
        f"raw value {c.new_raw_value} at logger time {c.new_logger_time_us} µs, but "
        f"{c.stored_raw_value} at {c.stored_logger_time_us} µs is stored; the stored one is "
        "kept. Was the logger's memory cleared, or the logger replaced?"
    )
    log.error("%s", message)
    return Event(
        time.time_ns() // 1000,
        c.chamber_id,
        c.device_id,
        EventKind.RECORD_CONFLICT,
        Severity.ERROR,
        message,
        asdict(c),
    )
