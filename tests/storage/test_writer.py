"""The writer keeps every sample when the store refuses a write, and drains it in order later."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from loggerd.core.channels import Channel
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.spool import Spool
from loggerd.storage.store import Store, sqlite_url
from loggerd.storage.writer import Writer


def samples(n: int, start_us: int = 1_780_000_000_000_000) -> list[Sample]:
    return [
        Sample(
            "c",
            "air",
            start_us + i * 1_000_000,
            -70.0 + i / 100,
            -70.0 + i / 100,
            Quality.GOOD,
            TimeSource.HOST,
        )
        for i in range(n)
    ]


def open_store(tmp_path: Path) -> Store:
    store = Store(sqlite_url(tmp_path), busy_timeout_s=0.05)
    store.open({"c": None}, [Channel("c", "air", "d", "temperature_1", "temperature", "degC")])
    return store


async def test_locked_database_keeps_samples_and_drains_them_when_free(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    writer = Writer(store, batch_size=10, flush_interval_s=0.01)
    await writer.start()
    blocker = sqlite3.connect(tmp_path / "loggerd.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        await writer.submit(samples(25))
        async with asyncio.timeout(10):
            await writer.wait_attempts(1)
        health = writer.health()
        assert health.queued == 25 and health.written == 0
        assert health.last_error is not None and "database is locked" in health.last_error
        blocker.execute("ROLLBACK")
        async with asyncio.timeout(20):
            await writer.flushed()
        assert writer.health().last_error is None
    finally:
        blocker.close()
        await writer.stop()
    rows = list(store.history("c", ["air"], 0, 2**62))
    store.close()
    assert [r.timestamp_us for r in rows] == [s.timestamp_us for s in samples(25)]
    assert all(
        math.isclose(r.value or math.nan, s.value) for r, s in zip(rows, samples(25), strict=True)
    )


async def test_stop_writes_everything_queued(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    writer = Writer(store, batch_size=7, flush_interval_s=60)  # no timed flush before stop
    await writer.start()
    await writer.submit(samples(50))
    await writer.stop()
    assert store.count() == 50 == writer.written
    store.close()


def test_rewriting_the_same_samples_never_duplicates(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.write(samples(10))
    store.write(samples(10))  # a retry after an ambiguous failure
    assert store.count() == 10
    missing = Sample("c", "air", 5, math.nan, math.nan, Quality.MISSING, TimeSource.HOST)
    store.write([missing])
    (row,) = store.history("c", ["air"], 0, 10)
    assert row.value is None and row.raw_value is None and row.quality is Quality.MISSING
    store.close()


async def test_a_full_queue_makes_acquisition_wait_and_health_shows_the_lag(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path)
    writer = Writer(store, batch_size=5, flush_interval_s=0.01, max_queued=10)
    await writer.start()
    blocker = sqlite3.connect(tmp_path / "loggerd.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        await writer.submit(samples(10))
        more = asyncio.create_task(writer.submit(samples(3, start_us=1_790_000_000_000_000)))
        async with asyncio.timeout(10):
            await writer.wait_attempts(1)  # the writer tried and failed: the queue stays full
        assert not more.done()  # back-pressure: submit waits instead of dropping
        health = writer.health()
        assert health.queued == 10 and health.capacity == 10
        assert health.oldest_pending_age_s is not None and health.oldest_pending_age_s >= 0
        blocker.execute("ROLLBACK")
        async with asyncio.timeout(20):
            await more
            await writer.flushed()
        health = writer.health()
        assert health.queued == 0 and health.oldest_pending_age_s is None
        assert health.written == 13 and health.last_flush_duration_s is not None
    finally:
        blocker.close()
        await writer.stop()
    assert store.count() == 13
    store.close()


async def test_stop_keeps_retrying_a_store_that_comes_back(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    writer = Writer(store, batch_size=10, flush_interval_s=60, stop_timeout_s=30)
    await writer.start()
    blocker = sqlite3.connect(tmp_path / "loggerd.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        await writer.submit(samples(25))
        stopping = asyncio.create_task(writer.stop())  # the store is down while we stop
        async with asyncio.timeout(20):
            await writer.wait_attempts(3)  # the first tries fail, and stop() has not given up
        assert not stopping.done() and writer.health().queued == 25
        blocker.execute("ROLLBACK")  # the store is back
        async with asyncio.timeout(60):
            await stopping
    finally:
        blocker.close()
    assert store.count() == 25
    store.close()


async def test_an_unexpected_store_error_does_not_kill_the_writer(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    real_write = store.write
    calls = 0

    def flaky_write(batch):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("driver blew up")  # not a StoreError
        return real_write(batch)

    store.write = flaky_write  # type: ignore[method-assign]
    writer = Writer(store, batch_size=10, flush_interval_s=0.01)
    await writer.start()
    await writer.submit(samples(5))
    async with asyncio.timeout(20):
        await writer.flushed()
    await writer.stop()
    assert store.count() == 5 and writer.failed_flushes == 1
    store.close()


async def test_a_batch_the_writer_has_is_counted_and_written_even_if_its_caller_stops(
    tmp_path: Path,
) -> None:
    """submit's `handed` is called once the writer has the batch: a caller cancelled while the
    spool append is under way (a poller stopping) still has it counted, and it is written."""
    release = threading.Event()

    class HeldSpool(Spool):
        def append_many(self, entries: Sequence[tuple[str, int, bytes]]) -> list[int]:
            release.wait(timeout=30)  # bounded: a failing test still ends
            return super().append_many(entries)

    store = open_store(tmp_path)
    writer = Writer(store, flush_interval_s=0.01, spool=HeldSpool(tmp_path / "spool.db"))
    await writer.start()
    counted: list[int] = []
    batch = samples(5)
    submit = asyncio.create_task(writer.submit(batch, lambda: counted.append(len(batch))))
    try:
        async with asyncio.timeout(10):
            while not counted:
                await asyncio.sleep(0.01)  # sync-ok: until the writer has taken the batch
        submit.cancel()
        release.set()
        async with asyncio.timeout(20):
            await writer.flushed()
    finally:
        release.set()
        await writer.stop()
    assert submit.cancelled() and counted == [5]
    rows = list(store.history("c", ["air"], 0, 2**62))
    store.close()
    assert [r.timestamp_us for r in rows] == [s.timestamp_us for s in batch]
