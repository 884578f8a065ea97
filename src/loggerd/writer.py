"""Between acquisition and the store: a bounded queue, batched flushes, and no sample dropped."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass

from .samples import Sample
from .store import Store, StoreError

log = logging.getLogger(__name__)


@dataclass
class WriterHealth:
    queued: int
    written: int
    failed_flushes: int
    last_error: str | None
    last_flush_utc_s: float | None
    oldest_pending_age_s: float | None


class Writer:
    """Takes samples from acquisition, writes them to the store in batches.

    submit() waits when the queue is full (back-pressure) instead of dropping. A failed flush
    keeps its batch and is retried with back-off; stop() writes everything still queued.
    """

    def __init__(
        self,
        store: Store,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        max_queued: int = 100_000,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_queued = max_queued
        self._pending: deque[tuple[float, Sample]] = deque()
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self.written = 0
        self.failed_flushes = 0
        self.last_error: str | None = None
        self.last_flush_utc_s: float | None = None
        self.attempts = 0
        self._attempted = asyncio.Condition()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loggerd-writer")

    async def submit(self, batch: list[Sample]) -> None:
        while len(self._pending) >= self.max_queued:
            self._space.clear()
            await self._space.wait()
        now = time.monotonic()
        self._pending.extend((now, s) for s in batch)
        self._idle.clear()
        if len(self._pending) >= self.batch_size:
            self._wake.set()

    async def flushed(self) -> None:
        """Wait until every sample submitted so far is in the store."""
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
        self._stop_requested.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def health(self) -> WriterHealth:
        oldest = self._pending[0][0] if self._pending else None
        return WriterHealth(
            queued=len(self._pending),
            written=self.written,
            failed_flushes=self.failed_flushes,
            last_error=self.last_error,
            last_flush_utc_s=self.last_flush_utc_s,
            oldest_pending_age_s=None if oldest is None else time.monotonic() - oldest,
        )

    async def _run(self) -> None:
        backoff_s = 0.0
        failures_in_row = 0
        while True:
            if backoff_s:
                # After a failure, wait out the back-off: new samples do not hurry a retry.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), backoff_s)
            elif not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
            self._wake.clear()
            if not self._pending:
                self._idle.set()
                if self._stopping:
                    return
                continue
            batch = [s for _, s in itertools.islice(self._pending, self.batch_size)]
            try:
                await asyncio.to_thread(self.store.write, batch)
            except StoreError as exc:
                self.failed_flushes += 1
                failures_in_row += 1
                self.last_error = str(exc)
                await self._count_attempt()
                backoff_s = min(max(2 * backoff_s, 0.5), 30.0)
                log.error(
                    "%s; keeping %d samples queued, retrying in %.1f s",
                    exc,
                    len(self._pending),
                    backoff_s,
                )
                if self._stopping and failures_in_row > 10:
                    log.critical(
                        "store unavailable at shutdown: %d queued samples not "
                        "written (the logger's memory still holds them)",
                        len(self._pending),
                    )
                    return
                continue
            backoff_s = 0.0
            failures_in_row = 0
            self.last_error = None
            for _ in batch:
                self._pending.popleft()
            self.written += len(batch)
            self.last_flush_utc_s = time.time()
            await self._count_attempt()
            self._space.set()
            if self._pending:
                self._wake.set()  # more than one batch waiting: go on at once
            else:
                self._idle.set()
