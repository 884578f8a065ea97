"""The writer with its spool: a crash loses nothing accepted and doubles nothing, entries drain
in the order accepted, a full spool holds samples in memory without losing any, and a logger
record read again with another value is kept as first stored and raised as an event."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from loggerd.core.channels import Channel
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.spool import Spool
from loggerd.storage.store import Store, WriteResult, sqlite_url
from loggerd.storage.writer import Writer

T0_US = 1_780_000_000_000_000  # 2026-05-28T20:26:40Z
OFFSET_US = 1_250_000  # the logger's clock is 1.25 s ahead of the host's
ALL = 10**12  # a max_count that takes every spool entry


def records(n: int, first: int = 0, channel: str = "air", raw: float = -70.0) -> list[Sample]:
    """Records `first`..`first + n - 1` of a logger's memory, one a second, clock-corrected."""
    return [
        Sample(
            "c",
            channel,
            T0_US + i * 1_000_000,
            raw + i / 100,
            raw + i / 100,
            Quality.GOOD,
            TimeSource.LOGGER,
            sequence=i,
            clock_offset_us=OFFSET_US,
        )
        for i in range(first, first + n)
    ]


def open_store(tmp_path: Path) -> Store:
    """A SQLite store whose writes give up on a lock after 50 ms (so a locked store fails fast)."""
    store = Store(sqlite_url(tmp_path), busy_timeout_s=0.05)
    store.open(
        {"c": None},
        [
            Channel("c", "air", "d", "temperature_1", "temperature", "degC"),
            Channel("c", "wall", "d", "temperature_2", "temperature", "degC"),
        ],
    )
    return store


@contextlib.contextmanager
def locked(db: Path) -> Iterator[sqlite3.Connection]:
    """Another process holds the store's write lock until it issues ROLLBACK (or the block ends)."""
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        yield blocker
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()


def stored_keys(store: Store, channels: Sequence[str] = ("air", "wall")) -> list[tuple[str, int]]:
    return [(r.channel_id, r.timestamp_us) for r in store.history("c", channels, 0, 2**62)]


def spooled_samples(spool: Spool) -> int:
    return sum(e.count for e in spool.head(ALL) if e.kind == "samples")


async def restart_on(store: Store, spool_path: Path, batch_size: int) -> Writer:
    """A new loggerd's writer on the spool file a crashed one left: it drains it all."""
    with Spool(spool_path) as spool:
        writer = Writer(store, batch_size=batch_size, flush_interval_s=0.01, spool=spool)
        await writer.start()
        try:
            async with asyncio.timeout(20):
                await writer.flushed()
        finally:
            await writer.stop()
        assert (len(spool), spool.pending_count()) == (0, 0)
    return writer


async def crash(writer: Writer) -> None:
    """Stop the drain loop where it stands, as a SIGKILL would: no stop(), no last flush."""
    task = writer._task
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_crash_while_the_store_is_locked_loses_nothing_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    spool_path = tmp_path / "data" / "spool.db"
    batches = [records(10), records(10, first=10), records(5, first=20)]
    n = sum(map(len, batches))
    store = open_store(tmp_path)
    spool = Spool(spool_path)
    writer = Writer(store, batch_size=10, flush_interval_s=0.01, spool=spool)
    await writer.start()
    with locked(tmp_path / "loggerd.db"):
        for batch in batches:
            await writer.submit(batch)
        async with asyncio.timeout(10):
            # After a second failed try the drain loop sits in its back-off wait (no store or
            # spool call under way), so the crash below interrupts nothing half done.
            await writer.wait_attempts(2)
        health = writer.health()
        assert health.state == "degraded" and health.failed_flushes == 2
        assert health.reason is not None
        assert "the store is unavailable" in health.reason
        assert "database is locked" in health.reason and "wait in the spool" in health.reason
        assert health.written == 0 and health.held == 0
        assert spooled_samples(spool) == n  # the samples, and the store_unavailable event
        assert [e.kind for e in spool.head(ALL)].count("log") == 1
        await crash(writer)
        spool.close()
        store.close()
    # The lock is gone; a new loggerd starts on the same spool file.
    assert store_count(tmp_path) == 0
    store = open_store(tmp_path)
    writer = await restart_on(store, spool_path, batch_size=10)
    keys = stored_keys(store)
    assert keys == [("air", s.timestamp_us) for b in batches for s in b]
    assert store.count() == n == writer.written and writer.duplicates == 0
    assert writer.health().state == "ok" and writer.failed_flushes == 0
    # The event the first writer raised survived its crash in the spool.
    (event,) = store.events(kinds=["store_unavailable"])
    assert "database is locked" in event.message
    store.close()


def store_count(tmp_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(tmp_path / "loggerd.db")) as db:
        return int(db.execute("SELECT count(*) FROM samples").fetchone()[0])


async def test_a_crash_between_the_store_commit_and_the_spool_removal_writes_again_harmlessly(
    tmp_path: Path,
) -> None:
    spool_path = tmp_path / "spool.db"
    first, second = records(8), records(6, first=8)
    store = open_store(tmp_path)
    spool = Spool(spool_path)
    in_removal = threading.Event()
    go_on = threading.Event()

    def removal_never_happens(entry_id: int) -> None:
        in_removal.set()
        go_on.wait(10)  # the process dies here: the entry stays in the spool

    spool.remove_through = removal_never_happens  # type: ignore[method-assign]
    writer = Writer(store, batch_size=100, flush_interval_s=0.01, spool=spool)
    await writer.start()
    try:
        await writer.submit(first)
        assert await asyncio.to_thread(in_removal.wait, 10)
        assert store.count() == len(first)  # committed to the store
        await writer.submit(second)  # accepted while the drain is stuck: spooled behind it
        await crash(writer)
    finally:
        go_on.set()
    assert [(e.kind, e.count) for e in spool.head(ALL)] == [("samples", 8), ("samples", 6)]
    spool.close()

    writer = await restart_on(store, spool_path, batch_size=100)
    assert stored_keys(store) == [("air", s.timestamp_us) for s in first + second]
    assert store.count() == 14 == writer.written
    assert writer.duplicates == len(first)  # written again, counted once
    assert writer.conflicts == 0 and store.events(kinds=["record_conflict"]) == []
    assert writer.health().state == "ok"
    store.close()


async def test_entries_drain_in_the_order_they_were_accepted(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    real_write = store.write
    seen: list[list[tuple[str, int]]] = []

    def recording_write(batch: Sequence[Sample]) -> WriteResult:
        result = real_write(batch)
        seen.append([(s.channel_id, s.timestamp_us) for s in batch])  # only what committed
        return result

    store.write = recording_write  # type: ignore[method-assign]
    # Batches of uneven size on two channels, interleaved: 1, 2, ..., 9 samples each.
    batches: list[list[Sample]] = []
    next_record = {"air": 0, "wall": 0}
    for size in range(1, 10):
        channel = "air" if size % 2 else "wall"
        batches.append(records(size, first=next_record[channel], channel=channel))
        next_record[channel] += size
    with Spool(tmp_path / "spool.db") as spool:
        writer = Writer(store, batch_size=7, flush_interval_s=0.01, spool=spool)
        await writer.start()
        try:
            with locked(tmp_path / "loggerd.db") as blocker:
                for batch in batches:
                    await writer.submit(batch)
                async with asyncio.timeout(10):
                    await writer.wait_attempts(1)
                # One entry per batch, in the order accepted.
                sample_entries = [e for e in spool.head(ALL) if e.kind == "samples"]
                assert [e.count for e in sample_entries] == list(range(1, 10))
                blocker.execute("ROLLBACK")
                async with asyncio.timeout(20):
                    await writer.flushed()
        finally:
            await writer.stop()
    expected = [(s.channel_id, s.timestamp_us) for b in batches for s in b]
    assert [key for write in seen for key in write] == expected
    # Each write took whole entries, oldest first: up to batch_size samples, or a single entry
    # (the store_unavailable event, one item, may sit between them in the spool).
    sizes = [len(b) for b in batches]
    for write in seen:
        taken = 0
        entries = 0
        while taken < len(write):
            taken += sizes.pop(0)
            entries += 1
        assert taken == len(write)
        assert len(write) <= 7 or entries == 1
    assert sizes == []
    assert store.count() == len(expected) == writer.written
    store.close()


async def test_a_full_spool_holds_samples_in_memory_and_loses_none(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    real_write = store.write
    order: list[tuple[str, int]] = []

    def recording_write(batch: Sequence[Sample]) -> WriteResult:
        result = real_write(batch)
        order.extend((s.channel_id, s.timestamp_us) for s in batch)
        return result

    store.write = recording_write  # type: ignore[method-assign]
    spool_path = tmp_path / "spool.db"
    max_bytes = 8 * 4096  # the schema takes 4 pages: about 16 kB for entries
    spool = Spool(spool_path, max_bytes=max_bytes)
    writer = Writer(store, batch_size=100, flush_interval_s=0.01, max_queued=10_000, spool=spool)
    await writer.start()
    submitted: list[Sample] = []
    held_from: int | None = None  # index of the first batch the spool refused
    try:
        with locked(tmp_path / "loggerd.db") as blocker:
            for i in range(200):
                batch = records(20, first=20 * i)
                await writer.submit(batch)
                submitted.extend(batch)
                if held_from is None and writer.health().held:
                    held_from = i
                if held_from is not None and i == held_from + 3:
                    break
            assert held_from is not None, "the spool never refused a batch"
            async with asyncio.timeout(10):
                await writer.wait_attempts(1)  # the store is down: that is why the spool filled
            health = writer.health()
            assert health.held == 4 * 20  # the first batch refused, and every one after it
            assert spooled_samples(spool) == 20 * held_from
            assert health.state == "degraded" and health.reason is not None
            assert "the spool refuses samples" in health.reason
            assert f"max_bytes={max_bytes}" in health.reason
            assert "held in memory" in health.reason
            assert "database is locked" in health.reason  # and why it does
            assert store.count() == 0
            blocker.execute("ROLLBACK")  # the store is back: the spool drains, making room
            async with asyncio.timeout(30):
                await writer.flushed()
    finally:
        await writer.stop()
        spool.close()
    health = writer.health()
    assert health.state == "ok" and health.reason is None
    assert (health.queued, health.spooled, health.held) == (0, 0, 0)
    expected = [("air", s.timestamp_us) for s in submitted]
    assert order == expected  # all of them, once each, in the order accepted
    assert stored_keys(store) == expected
    assert store.count() == len(submitted) == writer.written and writer.duplicates == 0
    (event,) = store.events(kinds=["disk_full"])
    assert str(spool_path) in event.message and "held in memory" in event.message
    assert len(store.events(kinds=["store_unavailable"])) == 1
    assert len(store.events(kinds=["store_recovered"])) == 1
    with Spool(spool_path) as reopened:
        assert len(reopened) == 0
    store.close()


async def test_a_logger_record_read_again_with_another_value_is_a_conflict(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path)
    first = records(5)
    changed = records(1, first=3, raw=-60.0)  # record 3 again, same time, another raw value
    assert changed[0].raw_value != first[3].raw_value
    with Spool(tmp_path / "spool.db") as spool:
        writer = Writer(store, batch_size=100, flush_interval_s=0.01, spool=spool)
        await writer.start()
        try:
            await writer.submit(first)
            async with asyncio.timeout(20):
                await writer.flushed()
            assert writer.conflicts == 0
            await writer.submit(changed)
            async with asyncio.timeout(20):
                await writer.flushed()  # the conflict event too: it went through the spool
        finally:
            await writer.stop()
        assert len(spool) == 0
    rows = list(store.history("c", ["air"], 0, 2**62))
    assert [(r.sequence, r.raw_value) for r in rows] == [(s.sequence, s.raw_value) for s in first]
    assert writer.conflicts == 1 and writer.health().conflicts == 1
    (event,) = store.events(kinds=["record_conflict"])
    assert event.chamber_id == "c" and event.details["channel_id"] == "air"
    assert event.details["sequence"] == 3
    assert event.details["stored_raw_value"] == pytest.approx(first[3].raw_value)
    assert event.details["new_raw_value"] == pytest.approx(changed[0].raw_value)
    assert "the stored one is kept" in event.message
    store.close()


async def test_health_is_ok_again_once_the_spool_takes_samples_and_counts_only_samples(
    tmp_path: Path,
) -> None:
    """A batch too big for the spool is held and written from memory; once the spool takes
    the next batch, health is ok again, and a later refusal is a new disk_full event."""
    store = open_store(tmp_path)
    spool = Spool(tmp_path / "spool.db", max_bytes=6 * 4096)
    writer = Writer(store, batch_size=10_000, flush_interval_s=0.01, spool=spool)
    await writer.start()
    try:
        await writer.submit(records(500))  # larger than the whole spool: held in memory
        await writer.flushed()
        await writer.submit(records(5, first=1000))  # fits: the spool works again
        await writer.flushed()
        health = writer.health()
        assert health.state == "ok" and health.reason is None and health.held == 0
        await writer.submit(records(500, first=2000))  # refused again: a second episode
        await writer.flushed()
    finally:
        await writer.stop()
        spool.close()
    assert store.count() == 1005
    assert len(store.events(kinds=["disk_full"])) == 2
    store.close()


async def test_queued_and_spooled_count_samples_not_events(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    spool = Spool(tmp_path / "spool.db")
    writer = Writer(store, batch_size=10, flush_interval_s=0.01, spool=spool)
    await writer.start()
    try:
        with locked(tmp_path / "loggerd.db"):
            await writer.submit(records(25))
            async with asyncio.timeout(20):
                await writer.wait_attempts(2)  # failed: a store_unavailable event is spooled
            health = writer.health()
            assert health.spooled == health.queued == 25
            assert len(spool) == 2  # the samples' entry and the event's
        async with asyncio.timeout(20):
            await writer.flushed()
        assert writer.health().queued == 0 and len(spool) == 0
    finally:
        await writer.stop()
        spool.close()
    assert store.count() == 25
    store.close()


async def test_health_says_how_long_spool_appends_take(tmp_path: Path) -> None:
    """What each poll's hand-off to history waits: the p99 of the latest appends, in ms
    (none before the first, and none without a spool)."""
    store = open_store(tmp_path)
    writer = Writer(
        store, batch_size=100, flush_interval_s=0.01, spool=Spool(tmp_path / "spool.db")
    )
    unspooled = Writer(store, batch_size=100, flush_interval_s=0.01)
    await writer.start()
    try:
        assert writer.health().spool_append_ms_p99 is None
        for i in range(5):
            await writer.submit(records(10, first=10 * i))
        p99 = writer.health().spool_append_ms_p99
        assert p99 is not None and 0 < p99 < 60_000
    finally:
        await writer.stop()
        store.close()
    assert unspooled.health().spool_append_ms_p99 is None
