"""Between acquisition and the store: a durable spool, batched flushes, and no sample dropped.

Every accepted batch is appended to the spool on local disk first, and a drain loop writes the
spool's head to the store and only then removes it. A crash of loggerd loses nothing accepted
(the next start drains what is left); a store that is down (PostgreSQL restarting, SQLite
locked, a full disk) only makes the spool grow, and health says `degraded` and why. Writing an
entry twice (a crash between the store's commit and the spool's removal) is harmless: the store
keeps one row per channel and instant and per logger record.

When the spool itself cannot take a batch (its disk is full), the batch is held in memory, an
event is raised, and the batch moves to the spool as soon as it can; beyond `max_queued` held
samples, submit() waits (back-pressure), so a logger's own memory keeps what cannot be taken.
Without a spool (Writer(store) in tests and benchmarks) everything is held in memory.

Writer is the one name callers use. The work is done by two parts: the durable queue
(durable_queue.py: the spool, the held entries, back-pressure) and the flusher (flusher.py: the
drain loop, its retries and the store's events); health is made here from both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from loggerd.core.events import LogItem
from loggerd.core.health import WriterHealth
from loggerd.core.samples import Sample
from loggerd.storage.durable_queue import DurableQueue
from loggerd.storage.flusher import Flusher, is_disk_full
from loggerd.storage.payloads import LOG, SAMPLES
from loggerd.storage.spool import Spool
from loggerd.storage.store import Store

__all__ = ["Writer", "WriterHealth"]


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
        self._queue = DurableQueue(spool, max_queued)
        self._flusher = Flusher(
            store, self._queue, self.submit_log, batch_size, flush_interval_s, stop_timeout_s
        )
        self._accepting: set[asyncio.Future[None]] = set()
        # Set once what an earlier run left in the spool is in the store: only then does the
        # store know where each device's history ends (backfill asks it).
        self.backlog_written = self._queue.backlog_written

    async def start(self) -> None:
        """Start draining; what an earlier run left in the spool goes first."""
        backlog = await self._queue.load()
        self._flusher.start(backlog=backlog > 0)

    async def submit(self, batch: list[Sample], handed: Callable[[], None] | None = None) -> None:
        """Keep samples for the store: durable in the spool when this returns (unless the
        spool's disk is full: then held in memory, waiting while `max_queued` are held).
        `handed` is called once the batch is the writer's for certain: from then on it is
        kept even if the caller is cancelled while it waits for the spool."""
        await self._accept(SAMPLES, batch, handed)

    async def submit_log(self, items: Sequence[LogItem]) -> None:
        """Keep events, gaps and clock checks for the store, like samples."""
        await self._accept(LOG, list(items))

    async def _accept(
        self, kind: str, items: list[Any], handed: Callable[[], None] | None = None
    ) -> None:
        if not items:
            return
        # Back-pressure on samples only: an event raised by the drain loop itself must never
        # wait for the drain loop.
        if kind == SAMPLES:
            await self._queue.wait_for_room()
        # The append and its bookkeeping run to the end even if the caller is cancelled (a
        # poller stopped mid-submit): a batch in the spool must be counted, or stop() would
        # think the spool empty and leave it there.
        task = asyncio.ensure_future(self._accept_now(kind, items, time.time()))
        self._accepting.add(task)
        if handed is not None:
            handed()
        task.add_done_callback(self._accepting.discard)
        await asyncio.shield(task)

    async def _accept_now(self, kind: str, items: list[Any], now: float) -> None:
        await self._queue.put(kind, items, now)
        self._flusher.accepted()

    async def flushed(self) -> None:
        """Wait until every sample submitted so far is in the store."""
        await self._flusher.flushed()

    async def wait_attempts(self, count: int) -> None:
        """Wait until the writer has tried `count` flushes, failed or not."""
        await self._flusher.wait_attempts(count)

    async def stop(self) -> None:
        """Write everything that waits, then stop (what the store will not take within
        stop_timeout_s stays in the spool, for the next start)."""
        if self._accepting:
            await asyncio.gather(*self._accepting, return_exceptions=True)
        await self._flusher.stop()

    def health(self) -> WriterHealth:
        queue, flusher = self._queue, self._flusher
        reason = None
        if flusher.last_error is not None:
            reason = f"the store is unavailable ({flusher.last_error}); samples wait in the spool"
            if queue.spool is None:
                reason = f"the store is unavailable ({flusher.last_error}); samples wait in memory"
            if is_disk_full(flusher.last_error):
                reason = f"the store's disk is full ({flusher.last_error}): free space there"
        if queue.spool_error is not None and queue.has_held:
            spool_reason = (
                f"the spool refuses samples ({queue.spool_error}); they are held in memory"
            )
            reason = spool_reason if reason is None else f"{reason}; {spool_reason}"
        oldest = queue.oldest_accepted_s()
        return WriterHealth(
            state="ok" if reason is None else "degraded",
            reason=reason,
            queued=queue.queued,
            spooled=queue.spooled,
            held=queue.held,
            capacity=queue.max_queued,
            written=flusher.written,
            duplicates=flusher.duplicates,
            conflicts=flusher.conflicts,
            expired=flusher.expired,
            failed_flushes=flusher.failed_flushes,
            last_error=flusher.last_error,
            last_flush_utc_s=flusher.last_flush_utc_s,
            last_flush_duration_s=flusher.last_flush_duration_s,
            oldest_pending_age_s=None if oldest is None else max(0.0, time.time() - oldest),
            spool_bytes=queue.spool_bytes(),
            spool_append_ms_p99=queue.append_ms_p99,
        )

    # What callers read: the parts' settings and figures.
    @property
    def written(self) -> int:
        """Samples now in the store (stored by this writer, or there already)."""
        return self._flusher.written

    @property
    def duplicates(self) -> int:
        return self._flusher.duplicates

    @property
    def conflicts(self) -> int:
        return self._flusher.conflicts

    @property
    def failed_flushes(self) -> int:
        return self._flusher.failed_flushes

    @property
    def attempts(self) -> int:
        """Flushes tried so far, failed or not."""
        return self._flusher.attempts

    @property
    def _task(self) -> asyncio.Task[None] | None:
        # The drain loop's task: tests cancel it to crash the writer as a SIGKILL would.
        return self._flusher.task
