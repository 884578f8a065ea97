"""Between acquisition and the store: a bounded queue, batched flushes, and no sample dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

from .samples import Sample
from .store import Store, StoreError

log = logging.getLogger(__name__)


@dataclass
class WriterHealth:
    queued: int  # queue depth: samples accepted and not yet in the store
    capacity: int  # queue depth at which submit() waits (back-pressure)
    written: int  # samples now in the store (stored by us, or there already)
    duplicates: int  # of those, samples that were there already (retries, overlapping backfill)
    expired: int  # samples older than the raw retention, not stored
    failed_flushes: int
    last_error: str | None
    last_flush_utc_s: float | None
    last_flush_duration_s: float | None
    oldest_pending_age_s: float | None  # the writer's lag: how long the oldest sample waits


@dataclass
class _Chunk:
    """One submitted list of samples; `offset` of them are already in the store."""

    submitted_s: float  # monotonic
    samples: list[Sample]
    offset: int = 0


class Writer:
    """Takes samples from acquisition, writes them to the store in batches.

    A flush is one transaction of up to `batch_size` samples, made when that many are queued or
    `flush_interval_s` after the last one. submit() waits when `max_queued` samples are queued
    (back-pressure) instead of dropping; a burst such as a download of a logger's memory is
    thereby paced by the store. A failed flush keeps its batch and is retried with back-off;
    stop() writes everything still queued.
    """

    def __init__(
        self,
        store: Store,
        batch_size: int = 5000,
        flush_interval_s: float = 1.0,
        max_queued: int = 100_000,
        stop_timeout_s: float = 60.0,
    ) -> None:
        self.store = store
        # How long stop() keeps retrying an unavailable store before it gives up.
        self.stop_timeout_s = stop_timeout_s
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_queued = max_queued
        self._chunks: deque[_Chunk] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._flush_requested = False  # someone waits in flushed(): no waiting for age
        self._stop_requested = asyncio.Event()
        self._stop_started = 0.0
        self.written = 0
        self.duplicates = 0
        self.expired = 0
        self.failed_flushes = 0
        self.last_error: str | None = None
        self.last_flush_utc_s: float | None = None
        self.last_flush_duration_s: float | None = None
        self.attempts = 0
        self._attempted = asyncio.Condition()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loggerd-writer")

    async def submit(self, batch: list[Sample]) -> None:
        """Queue samples for the store; waits while the queue is full."""
        if not batch:
            return
        while self._queued >= self.max_queued:
            self._space.clear()
            await self._space.wait()
        self._chunks.append(_Chunk(time.monotonic(), batch))
        self._queued += len(batch)
        self._idle.clear()
        if self._queued >= self.batch_size:
            self._wake.set()

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
        """Write everything queued, then stop."""
        self._stopping = True
        self._stop_started = time.monotonic()
        self._stop_requested.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def health(self) -> WriterHealth:
        return WriterHealth(
            queued=self._queued,
            capacity=self.max_queued,
            written=self.written,
            duplicates=self.duplicates,
            expired=self.expired,
            failed_flushes=self.failed_flushes,
            last_error=self.last_error,
            last_flush_utc_s=self.last_flush_utc_s,
            last_flush_duration_s=self.last_flush_duration_s,
            oldest_pending_age_s=(
                time.monotonic() - self._chunks[0].submitted_s if self._chunks else None
            ),
        )

    def _next_batch(self) -> list[Sample]:
        """The oldest queued samples, up to batch_size, left in the queue until written."""
        batch: list[Sample] = []
        for chunk in self._chunks:
            room = self.batch_size - len(batch)
            if room <= 0:
                break
            batch.extend(chunk.samples[chunk.offset : chunk.offset + room])
        return batch

    def _drop_written(self, n: int) -> None:
        self._queued -= n
        while n:
            head = self._chunks[0]
            take = min(n, len(head.samples) - head.offset)
            head.offset += take
            n -= take
            if head.offset == len(head.samples):
                self._chunks.popleft()

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
            if not self._queued:
                self._flush_requested = False
                self._idle.set()
                if self._stopping:
                    return
                continue
            batch = self._next_batch()
            started = time.monotonic()
            try:
                result = await asyncio.to_thread(self.store.write, batch)
            except Exception as exc:
                # Any failure keeps the batch queued: a StoreError as expected, anything else
                # (a driver-level error the store did not wrap) must not kill the writer.
                self.failed_flushes += 1
                self.last_error = str(exc) if isinstance(exc, StoreError) else repr(exc)
                await self._count_attempt()
                backoff_s = min(max(2 * backoff_s, 0.5), 30.0)
                log.error(
                    "%s; keeping %d samples queued, retrying in %.1f s",
                    self.last_error,
                    self._queued,
                    backoff_s,
                )
                if self._stopping and time.monotonic() - self._stop_started > self.stop_timeout_s:
                    log.critical(
                        "store still unavailable %.0f s after the stop was asked for: %d queued "
                        "samples were not written",
                        self.stop_timeout_s,
                        self._queued,
                    )
                    return
                continue
            backoff_s = 0.0
            self.last_error = None
            self._drop_written(len(batch))
            self.written += result.inserted + result.duplicates
            self.duplicates += result.duplicates
            self.expired += result.expired
            self.last_flush_utc_s = time.time()
            self.last_flush_duration_s = time.monotonic() - started
            await self._count_attempt()
            self._space.set()
            if not self._queued:
                self._flush_requested = False
                self._idle.set()
            elif self._queued >= self.batch_size or self._stopping or self._flush_requested:
                self._wake.set()  # go on at once; a smaller remainder waits for its age
