"""The durable queue keeps what this run appended for the drain, so the store gets the accepted
samples as the columns they were spooled from; the spool still has every entry before put()
returns, and an entry the queue did not keep (an earlier run's, or one beyond its bound) is read
back from the spool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from loggerd.storage import durable_queue
from loggerd.storage.durable_queue import DurableQueue, Entry
from loggerd.storage.payloads import SAMPLES, decode, decode_samples
from loggerd.storage.sample_batch import SampleBatch
from loggerd.storage.spool import Spool

from .test_spool_writer import ALL, records


async def drain(queue: DurableQueue) -> list[Entry]:
    delivered: list[Entry] = []

    async def write(entries: list[Entry]) -> int:
        delivered.extend(entries)
        return len(entries)

    while await queue.deliver(ALL, write):
        pass
    return delivered


async def test_the_drain_gets_the_accepted_samples_and_the_spool_has_them_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spool.db"
    batches = [records(10, first=10 * i) for i in range(3)]
    with Spool(path) as spool:
        queue = DurableQueue(spool, max_queued=1000)
        await queue.load()
        for batch in batches:
            await queue.put(SAMPLES, batch, 0.0)
            # Durable when put() returns: another connection reads it from the file.
            with Spool(path) as reader:
                assert decode(SAMPLES, reader.head(ALL)[-1].payload) == batch
        delivered = await drain(queue)
        assert [list(e.items) for e in delivered] == batches  # as columns: no Sample kept
        # Kept as the columns they were spooled from (not Samples, not decoded again).
        assert all(isinstance(e.items, SampleBatch) for e in delivered)
        assert len(spool) == 0 and queue.empty


class CountingDecode:
    """payloads.decode_samples, counting the samples it reads back from the spool."""

    def __init__(self) -> None:
        self.decoded: list[int] = []

    def __call__(self, payload: bytes) -> SampleBatch:
        items = decode_samples(payload)
        self.decoded.append(len(items))
        return items


async def test_entries_beyond_the_bound_and_an_earlier_runs_are_read_from_the_spool(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spool.db"
    batches = [records(10, first=10 * i) for i in range(5)]
    counting = CountingDecode()
    durable_queue.decode_samples = counting  # type: ignore[assignment]
    try:
        with Spool(path) as spool:
            queue = DurableQueue(spool, max_queued=25)  # keeps two batches of 10, not three
            await queue.load()
            for batch in batches[:3]:
                await queue.put(SAMPLES, batch, 0.0)
            assert [list(e.items) for e in await drain(queue)] == batches[:3]
            assert counting.decoded == [10]  # the third, beyond the bound
            for batch in batches[3:]:
                await queue.put(SAMPLES, batch, 0.0)
        counting.decoded.clear()
        # The next run: what the last one left is read back from the spool; its own is kept.
        with Spool(path) as spool:
            queue = DurableQueue(spool, max_queued=25)
            assert await queue.load() == 2
            await queue.put(SAMPLES, batches[0], 0.0)
            delivered = await drain(queue)
    finally:
        durable_queue.decode_samples = decode_samples
    assert [list(e.items) for e in delivered] == [*batches[3:], batches[0]]
    assert counting.decoded == [10, 10]


class HeldSpool(Spool):
    """A spool whose first append waits for the test, and which counts its appends."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.appends: list[int] = []  # entries in each append

    def append_many(self, entries: Sequence[tuple[str, int, bytes]]) -> list[int]:
        if not self.appends:
            self.release.wait(timeout=30)  # bounded: a failing test still ends
        self.appends.append(len(entries))
        return super().append_many(entries)


async def test_puts_that_come_during_an_append_go_in_the_next_one_together_in_order(
    tmp_path: Path,
) -> None:
    """A group commit: while one append is under way, what is put waits, and then goes to the
    spool in one append, each batch its own entry, in the order put; each put returns once
    its batch is in the spool."""
    batches = [records(10, first=10 * i) for i in range(6)]
    with HeldSpool(tmp_path / "spool.db") as spool:
        queue = DurableQueue(spool, max_queued=1000)
        await queue.load()
        first = asyncio.create_task(queue.put(SAMPLES, batches[0], 0.0))
        async with asyncio.timeout(30):
            while not spool.appends and not queue._lock.locked():
                await asyncio.sleep(0.01)  # sync-ok: until the first put holds the lock
        rest = [asyncio.create_task(queue.put(SAMPLES, b, 0.0)) for b in batches[1:]]
        await asyncio.sleep(0)  # sync-ok: one turn, so every put is waiting
        assert not any(t.done() for t in rest)
        spool.release.set()
        async with asyncio.timeout(30):
            await asyncio.gather(first, *rest)
        assert spool.appends == [1, 5]
        assert [decode(SAMPLES, e.payload) for e in spool.head(ALL)] == batches
        delivered = await drain(queue)
        assert [list(e.items) for e in delivered] == batches
