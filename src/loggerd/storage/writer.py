"""Between acquisition and the store: a durable spool, batched flushes, and no sample dropped.

Every accepted batch is appended to the spool on local disk first (spool.py), and a drain loop
writes the spool's head to the store and only then removes it. A crash of loggerd loses nothing
accepted (the next start drains what is left); a store that is down (PostgreSQL restarting,
SQLite locked, a full disk) only makes the spool grow, and health says `degraded` and why.
Writing an entry twice (a crash between the store's commit and the spool's removal) is harmless:
the store keeps one row per channel and instant and per logger record.

When the spool itself cannot take a batch (its disk is full), the batch is held in memory, an
event is raised, and the batch moves to the spool as soon as it can; beyond `max_queued` held
samples, submit() waits (back-pressure), so a logger's own memory keeps what cannot be taken.
Without a spool (Writer(store) in tests and benchmarks) everything is held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loggerd.core.events import ClockCheck, Event, EventKind, Gap, LogItem, Severity
from loggerd.core.samples import Sample
from loggerd.storage.payloads import LOG, SAMPLES, decode, encode
from loggerd.storage.spool import Spool, SpoolError, SpoolFull
from loggerd.storage.store import Conflict, Store, StoreError

log = logging.getLogger(__name__)


@dataclass
class WriterHealth:
    state: str  # ok | degraded
    reason: str | None  # why degraded: the store's or the spool's error, and what to do
    queued: int  # samples accepted and not yet in the store (spooled and held)
    spooled: int  # of those, samples safe in the spool on disk
    held: int  # of those, samples only in memory (the spool refused them)
    capacity: int  # held samples at which submit() waits (back-pressure)
    written: int  # samples now in the store (stored by us, or there already)
    duplicates: int  # of those, samples that were there already (retries, overlapping backfill)
    conflicts: int  # logger records read again with another value (kept as first stored)
    expired: int  # samples older than the raw retention, not stored
    failed_flushes: int
    last_error: str | None
    last_flush_utc_s: float | None
    last_flush_duration_s: float | None
    oldest_pending_age_s: float | None  # the writer's lag: how long the oldest sample waits
    spool_bytes: int | None


@dataclass
class _Entry:
    id: int  # spool id; for held entries a negative, increasing number
    kind: str
    items: list[Any]  # Samples, or LogItems
    accepted_s: float  # wall clock (time.time) when accepted

    @property
    def count(self) -> int:
        return len(self.items)


def _count(kind: str, items: Sequence[Any]) -> int:
    """What an entry counts for in health figures: its samples (events count for nothing)."""
    return len(items) if kind == SAMPLES else 0


def _is_disk_full(message: str) -> bool:
    text = message.lower()
    return "disk is full" in text or "no space left" in text or "disk full" in text


class Writer:
    """Takes samples and events from acquisition, keeps them durably, writes them in batches.

    A flush is one transaction of up to `batch_size` samples, made when that many wait or
    `flush_interval_s` after the last one. A failed flush keeps everything and is retried with
    back-off; stop() writes everything it can within `stop_timeout_s` and leaves the rest in
    the spool for the next start.
    """

    def __init__(
        self,
        store: Store,
        batch_size: int = 5000,
        flush_interval_s: float = 1.0,
        max_queued: int = 100_000,
        stop_timeout_s: float = 60.0,
        spool: Spool | None = None,
    ) -> None:
        self.store = store
        self.spool = spool
        self.stop_timeout_s = stop_timeout_s
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_queued = max_queued
        self._held: deque[_Entry] = deque()  # not in the spool: in memory only
        self._held_count = 0
        self._next_held_id = -(2**62)
        self._spooled = 0  # samples in the spool (events are entries with a count of 0)
        self._spooled_entries = 0
        self._spooled_since_s: float | None = None  # acceptance time of the oldest spooled
        self._spool_error: str | None = None
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._flush_requested = False
        self._stop_requested = asyncio.Event()
        self._stop_started = 0.0
        self._append_lock = asyncio.Lock()  # one spool append at a time: order is kept
        self._accepting: set[asyncio.Future[None]] = set()
        self._store_down_since: float | None = None
        # Set once what an earlier run left in the spool is in the store: only then does the
        # store know where each device's history ends (backfill asks it).
        self.backlog_written = asyncio.Event()
        self._backlog_left = 0
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

    async def start(self) -> None:
        """Start draining; what an earlier run left in the spool goes first."""
        if self.spool is not None:
            spool = self.spool
            self._spooled = await asyncio.to_thread(spool.pending_count)
            self._spooled_entries = await asyncio.to_thread(len, spool)
            oldest = await asyncio.to_thread(spool.oldest_created_us)
            self._spooled_since_s = None if oldest is None else oldest / 1e6
            if self._spooled_entries:
                log.info(
                    "%d samples (and events) left in the spool: writing them first", self._spooled
                )
                self._backlog_left = self._spooled_entries
                self._idle.clear()
                self._wake.set()
        if not self._backlog_left:
            self.backlog_written.set()
        self._task = asyncio.create_task(self._run(), name="loggerd-writer")

    # --- accepting ------------------------------------------------------------------------

    async def submit(self, batch: list[Sample]) -> None:
        """Keep samples for the store: durable in the spool when this returns (unless the
        spool's disk is full: then held in memory, waiting while `max_queued` are held)."""
        await self._accept(SAMPLES, batch)

    async def submit_log(self, items: Sequence[LogItem]) -> None:
        """Keep events, gaps and clock checks for the store, like samples."""
        await self._accept(LOG, list(items))

    async def _accept(self, kind: str, items: list[Any]) -> None:
        if not items:
            return
        # Back-pressure on samples only: an event raised by the drain loop itself must never
        # wait for the drain loop.
        while kind == SAMPLES and self._held_count >= self.max_queued:
            self._space.clear()
            await self._space.wait()
        # The append and its bookkeeping run to the end even if the caller is cancelled (a
        # poller stopped mid-submit): a batch in the spool must be counted, or stop() would
        # think the spool empty and leave it there.
        task = asyncio.ensure_future(self._accept_now(kind, items, time.time()))
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)
        await asyncio.shield(task)

    async def _accept_now(self, kind: str, items: list[Any], now: float) -> None:
        async with self._append_lock:
            if self.spool is not None:
                if self._held:
                    await self._respool()  # held entries first: the order is kept
                if not self._held:
                    payload = encode(kind, items)
                    try:
                        await asyncio.to_thread(
                            self.spool.append, kind, _count(kind, items), payload
                        )
                    except SpoolError as exc:
                        await self._spool_failed(exc)
                    else:
                        if self._spool_error is not None:
                            log.warning("the spool takes samples again")
                            self._spool_error = None
                        self._spooled += _count(kind, items)
                        self._spooled_entries += 1
                        if self._spooled_since_s is None:
                            self._spooled_since_s = now
                        self._after_accept()
                        return
            self._hold(kind, items, now)
            self._after_accept()

    def _hold(self, kind: str, items: list[Any], accepted_s: float) -> None:
        self._held.append(_Entry(self._next_held_id, kind, items, accepted_s))
        self._next_held_id += 1
        if kind == SAMPLES:
            self._held_count += len(items)

    def _after_accept(self) -> None:
        self._idle.clear()
        if self._spooled + self._held_count >= self.batch_size:
            self._wake.set()

    async def _spool_failed(self, exc: SpoolError) -> None:
        first = self._spool_error is None
        self._spool_error = str(exc)
        if first:
            log.critical("%s; accepted samples are held in memory meanwhile", exc)
            if isinstance(exc, SpoolFull):
                # Held, like the samples, until the spool takes it.
                event = Event(
                    time.time_ns() // 1000,
                    "",
                    "",
                    EventKind.DISK_FULL,
                    Severity.ERROR,
                    f"{exc}. Accepted samples are held in memory (up to {self.max_queued}, "
                    "then acquisition waits and the loggers keep their records)",
                    {},
                )
                self._hold(LOG, [event], time.time())

    async def _respool(self) -> None:
        """Move held entries into the spool, oldest first, once it takes them again."""
        assert self.spool is not None
        entries = list(self._held)
        try:
            await asyncio.to_thread(
                self.spool.append_many,
                [(e.kind, _count(e.kind, e.items), encode(e.kind, e.items)) for e in entries],
            )
        except SpoolError as exc:
            self._spool_error = str(exc)
            return
        log.warning("the spool takes samples again: %d held entries moved to it", len(entries))
        for e in entries:
            self._held.popleft()
            if e.kind == SAMPLES:
                self._held_count -= e.count
            self._spooled += _count(e.kind, e.items)
            self._spooled_entries += 1
            if self._spooled_since_s is None:
                self._spooled_since_s = e.accepted_s
        self._spool_error = None
        self._space.set()

    # --- waiting --------------------------------------------------------------------------

    async def flushed(self) -> None:
        """Wait until every sample submitted so far is in the store."""
        self._flush_requested = True
        self._wake.set()
        await self._idle.wait()

    async def wait_attempts(self, count: int) -> None:
        """Wait until the writer has tried `count` flushes, failed or not."""
        async with self._attempted:
            await self._attempted.wait_for(lambda: self.attempts >= count)

    async def _count_attempt(self) -> None:
        async with self._attempted:
            self.attempts += 1
            self._attempted.notify_all()

    async def stop(self) -> None:
        """Write everything that waits, then stop (what the store will not take within
        stop_timeout_s stays in the spool, for the next start)."""
        if self._accepting:
            await asyncio.gather(*self._accepting, return_exceptions=True)
        self._stopping = True
        self._stop_started = time.monotonic()
        self._stop_requested.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def health(self) -> WriterHealth:
        reason = None
        if self.last_error is not None:
            reason = f"the store is unavailable ({self.last_error}); samples wait in the spool"
            if self.spool is None:
                reason = f"the store is unavailable ({self.last_error}); samples wait in memory"
            if _is_disk_full(self.last_error):
                reason = f"the store's disk is full ({self.last_error}): free space there"
        if self._spool_error is not None and self._held:
            spool_reason = (
                f"the spool refuses samples ({self._spool_error}); they are held in memory"
            )
            reason = spool_reason if reason is None else f"{reason}; {spool_reason}"
        oldest = [self._held[0].accepted_s] if self._held else []
        if self._spooled_since_s is not None:
            oldest.append(self._spooled_since_s)
        return WriterHealth(
            state="ok" if reason is None else "degraded",
            reason=reason,
            queued=self._spooled + self._held_count,
            spooled=self._spooled,
            held=self._held_count,
            capacity=self.max_queued,
            written=self.written,
            duplicates=self.duplicates,
            conflicts=self.conflicts,
            expired=self.expired,
            failed_flushes=self.failed_flushes,
            last_error=self.last_error,
            last_flush_utc_s=self.last_flush_utc_s,
            last_flush_duration_s=self.last_flush_duration_s,
            oldest_pending_age_s=max(0.0, time.time() - min(oldest)) if oldest else None,
            spool_bytes=self.spool.size_bytes() if self.spool is not None else None,
        )

    # --- draining -------------------------------------------------------------------------

    async def _next_batch(self) -> tuple[list[_Entry], bool]:
        """The oldest entries, up to about batch_size samples; True when from the spool."""
        if self._spooled_entries and self.spool is not None:
            head = await asyncio.to_thread(self.spool.head, self.batch_size)
            if head:
                return [_Entry(e.id, e.kind, decode(e.kind, e.payload), 0.0) for e in head], True
            self._spooled = self._spooled_entries = 0  # removed by someone else: trust the spool
            self._spooled_since_s = None
            self._backlog_left = 0
            self.backlog_written.set()
        batch: list[_Entry] = []
        total = 0
        for e in self._held:
            if batch and total + e.count > self.batch_size:
                break
            batch.append(e)
            total += e.count
        return batch, False

    async def _write(self, entries: list[_Entry]) -> list[Event]:
        """Write entries to the store; returns the events their conflicts raise."""
        samples: list[Sample] = [s for e in entries if e.kind == SAMPLES for s in e.items]
        items: list[LogItem] = [i for e in entries if e.kind == LOG for i in e.items]
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
        return [self._conflict_event(c) for c in result.conflicts]

    @staticmethod
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

    async def _remove(self, entries: list[_Entry], from_spool: bool) -> None:
        count = sum(_count(e.kind, e.items) for e in entries)
        if from_spool:
            assert self.spool is not None
            await asyncio.to_thread(self.spool.remove_through, entries[-1].id)
            self._spooled = max(0, self._spooled - count)
            self._spooled_entries = max(0, self._spooled_entries - len(entries))
            if self._backlog_left:
                # FIFO: the oldest entries go first
                self._backlog_left = max(0, self._backlog_left - len(entries))
                if not self._backlog_left:
                    self.backlog_written.set()
            if not self._spooled_entries:
                self._spooled_since_s = None
            else:
                oldest = await asyncio.to_thread(self.spool.oldest_created_us)
                self._spooled_since_s = None if oldest is None else oldest / 1e6
        else:
            for e in entries:
                self._held.popleft()
                if e.kind == SAMPLES:
                    self._held_count -= e.count
            self._space.set()

    def _empty(self) -> bool:
        return not self._spooled_entries and not self._held

    async def _run(self) -> None:
        backoff_s = 0.0
        while True:
            if backoff_s and self._stopping:
                await asyncio.sleep(backoff_s)  # stopping: keep trying, at the back-off's pace
            elif backoff_s:
                # After a failure, wait out the back-off: new samples do not hurry a retry.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), backoff_s)
            elif not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
            self._wake.clear()
            if self._held and self.spool is not None and self._spool_error is not None:
                async with self._append_lock:
                    await self._respool()
            if self._empty():
                self._flush_requested = False
                self._idle.set()
                if self._stopping:
                    return
                continue
            started = time.monotonic()
            try:
                if self._spooled_entries and self.spool is not None:
                    entries, from_spool = await self._next_batch()
                    conflicts = await self._write(entries) if entries else []
                    if entries:
                        await self._remove(entries, from_spool)
                else:
                    # Held entries: no submit may move them into the spool while they are
                    # being written (they would be written twice, and others dropped).
                    async with self._append_lock:
                        entries, _ = await self._next_batch()
                        conflicts = await self._write(entries) if entries else []
                        if entries:
                            await self._remove(entries, False)
                if conflicts:
                    await self.submit_log(conflicts)
                if not entries:
                    continue
            except Exception as exc:
                # Everything stays where it was: a StoreError as expected, anything else (a
                # driver-level error the store did not wrap) must not kill the writer either.
                self.failed_flushes += 1
                self.last_error = (
                    str(exc) if isinstance(exc, StoreError | SpoolError) else repr(exc)
                )
                await self._count_attempt()
                if self._store_down_since is None:
                    self._store_down_since = time.monotonic()
                    await self._store_event(
                        EventKind.DISK_FULL
                        if _is_disk_full(self.last_error)
                        else EventKind.STORE_UNAVAILABLE,
                        Severity.ERROR,
                        f"the store is unavailable: {self.last_error}. Samples are kept in the "
                        "spool and written when it is back",
                    )
                backoff_s = min(max(2 * backoff_s, 0.5), 30.0)
                log.error(
                    "%s; keeping %d samples, retrying in %.1f s",
                    self.last_error,
                    self._spooled + self._held_count,
                    backoff_s,
                )
                if self._stopping and time.monotonic() - self._stop_started > self.stop_timeout_s:
                    left = self._spooled + self._held_count
                    if self.spool is not None and not self._held:
                        log.error(
                            "store still unavailable %.0f s after the stop was asked for: %d "
                            "samples stay in the spool %s and are written at the next start",
                            self.stop_timeout_s,
                            left,
                            self.spool.path,
                        )
                    else:
                        log.critical(
                            "store still unavailable %.0f s after the stop was asked for: %d "
                            "samples held in memory were not written",
                            self.stop_timeout_s,
                            self._held_count,
                        )
                    return
                continue
            backoff_s = 0.0
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
            if self._empty():
                self._flush_requested = False
                self._idle.set()
            elif (
                self._spooled + self._held_count >= self.batch_size
                or self._stopping
                or self._flush_requested
            ):
                self._wake.set()

    async def _store_event(self, kind: EventKind, severity: Severity, message: str) -> None:
        log.log(logging.ERROR if severity is Severity.ERROR else logging.INFO, "%s", message)
        await self.submit_log([Event(time.time_ns() // 1000, "", "", kind, severity, message, {})])
