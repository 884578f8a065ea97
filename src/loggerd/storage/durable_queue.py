"""The durable queue between acquisition and the store: put, peek and ack over the spool.

Every accepted batch is appended to the spool on local disk (spool.py) before put() returns, so
a crash loses nothing accepted. When the spool refuses a batch (its disk is full) the batch is
held in memory instead, a disk_full event is held with it, and held entries move into the spool,
oldest first, as soon as it takes them again; beyond `max_queued` held samples, wait_for_room()
waits (back-pressure). Without a spool everything is held in memory.

The order of entries is the order they were accepted, whether spooled or held: one append at a
time (a lock), and held entries are re-spooled before anything newer is appended.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from loggerd.core.events import Event, EventKind, Severity
from loggerd.storage.payloads import LOG, SAMPLES, decode, decode_samples, encode
from loggerd.storage.sample_batch import SampleBatch
from loggerd.storage.spool import Spool, SpoolEntry, SpoolError, SpoolFull

__all__ = ["DurableQueue", "Entry"]

log = logging.getLogger(__name__)
APPEND_TIMES_KEPT = 600  # spool appends the p99 in health is taken over

_T = TypeVar("_T")


@dataclass
class Entry:
    id: int  # spool id; for held entries a negative, increasing number
    kind: str  # payloads.SAMPLES or payloads.LOG
    # Samples as accepted (held) or as columns (read back from the spool), or LogItems
    items: Sequence[Any] | SampleBatch
    accepted_s: float  # wall clock (time.time) when accepted

    @property
    def count(self) -> int:
        return len(self.items)


def _decoded(kind: str, payload: bytes) -> Sequence[Any] | SampleBatch:
    # Samples stay columns, as the store's writer takes them: no Sample per sample.
    return decode_samples(payload) if kind == SAMPLES else decode(kind, payload)


def _counted(kind: str, items: Sequence[Any] | SampleBatch) -> int:
    """What an entry counts for in health figures: its samples (events count for nothing)."""
    return len(items) if kind == SAMPLES else 0


def _append_group(
    spool: Spool, group: Sequence[tuple[str, Sequence[Any] | SampleBatch]]
) -> tuple[list[int], list[Sequence[Any] | SampleBatch]]:
    """Append entries in one transaction; their ids, in order, and their items as the drain
    will want them: samples as the columns they were encoded from (kept until written, a
    batch's dozen lists are far less for the garbage collector to walk than its Sample
    objects, and nothing to take apart again)."""
    kept: list[Sequence[Any] | SampleBatch] = [
        SampleBatch.from_samples(items)
        if kind == SAMPLES and not isinstance(items, SampleBatch)
        else items
        for kind, items in group
    ]
    ids = spool.append_many(
        [
            (kind, _counted(kind, items), encode(kind, k))
            for (kind, items), k in zip(group, kept, strict=True)
        ]
    )
    return ids, kept


@dataclass
class _Waiting:
    """An entry put and not yet appended (or held), with what became of it."""

    kind: str
    items: list[Any]
    accepted_s: float
    done: bool = False
    failed: BaseException | None = None


class DurableQueue:
    """A FIFO of accepted entries: in the spool, or held in memory when the spool refuses."""

    def __init__(self, spool: Spool | None, max_queued: int) -> None:
        self.spool = spool
        self.max_queued = max_queued
        self._held: deque[Entry] = deque()  # not in the spool: in memory only
        self._held_count = 0
        self._next_held_id = -(2**62)
        self._spooled = 0  # samples in the spool (events are entries with a count of 0)
        self._spooled_entries = 0
        self._spooled_since_s: float | None = None  # acceptance time of the oldest spooled
        self._spool_error: str | None = None
        self._space = asyncio.Event()
        self._space.set()
        self._lock = asyncio.Lock()  # one spool append at a time: order is kept
        self._waiting: list[_Waiting] = []  # put, for the next append (see put)
        # What this run appended to the spool, by spool id, kept for the drain: decoding the
        # payload again cost more than writing it to the store. The spool stays what counts
        # (its order, its entries); an entry not kept here (an earlier run's, or one beyond
        # `max_queued` samples kept) is decoded from it.
        self._kept: dict[int, Sequence[Any] | SampleBatch] = {}
        self._kept_count = 0
        # Set once what an earlier run left in the spool is in the store: only then does the
        # store know where each device's history ends (backfill asks it).
        self.backlog_written = asyncio.Event()
        self._backlog_left = 0
        # How long the latest appends took, from the call to durable (the wait for the
        # executor included): what each poll's hand-off to history waits.
        self._append_s: deque[float] = deque(maxlen=APPEND_TIMES_KEPT)

    @property
    def append_ms_p99(self) -> float | None:
        """The 99th percentile of the latest spool appends' durations, in ms (nearest rank)."""
        if not self._append_s:
            return None
        ordered = sorted(self._append_s)
        return round(1e3 * ordered[math.ceil(0.99 * len(ordered)) - 1], 2)

    @property
    def queued(self) -> int:
        """Samples accepted and not yet acknowledged (spooled and held)."""
        return self._spooled + self._held_count

    @property
    def spooled(self) -> int:
        """Of those, samples safe in the spool."""
        return self._spooled

    @property
    def held(self) -> int:
        """Of those, samples only in memory."""
        return self._held_count

    @property
    def has_held(self) -> bool:
        """Whether any entry (samples or events) is held in memory."""
        return bool(self._held)

    @property
    def empty(self) -> bool:
        return not self._spooled_entries and not self._held

    @property
    def spool_error(self) -> str | None:
        """Why the spool last refused an entry, until it takes entries again."""
        return self._spool_error

    def oldest_accepted_s(self) -> float | None:
        """When the oldest entry waiting was accepted (wall clock), None when none waits."""
        oldest = [self._held[0].accepted_s] if self._held else []
        if self._spooled_since_s is not None:
            oldest.append(self._spooled_since_s)
        return min(oldest) if oldest else None

    def spool_bytes(self) -> int | None:
        return self.spool.size_bytes() if self.spool is not None else None

    async def load(self) -> int:
        """Count what an earlier run left in the spool; how many entries (they go first)."""
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
        if not self._backlog_left:
            self.backlog_written.set()
        return self._backlog_left

    async def wait_for_room(self) -> None:
        """Wait while `max_queued` samples are held in memory (back-pressure)."""
        while self._held_count >= self.max_queued:
            self._space.clear()
            await self._space.wait()

    async def put(self, kind: str, items: list[Any], accepted_s: float) -> None:
        """Append an entry: to the spool (durable when this returns), or held in memory when
        the spool refuses it.

        Entries put while an append is under way go to the spool together, in the next append
        (one transaction, each its own entry, in the order put): a group commit. One append a
        put, each a hand-off to a thread and a commit, capped a daemon whose devices' history
        is their polls at the hand-off's pace (170 polls a second at 1,000 devices, on a
        loaded host)."""
        waiting = _Waiting(kind, items, accepted_s)
        self._waiting.append(waiting)
        async with self._lock:
            if not waiting.done:
                group, self._waiting = self._waiting, []
                try:
                    await self._put_group(group)
                except BaseException as exc:
                    for w in group:
                        w.failed = exc
                    raise
                finally:
                    for w in group:
                        w.done = True
        if waiting.failed is not None:
            raise waiting.failed

    async def _put_group(self, group: list[_Waiting]) -> None:
        if self.spool is not None:
            if self._held:
                await self._respool()  # held entries first: the order is kept
            if not self._held:
                try:
                    # Encoded on the spool's thread, like the append: not on the loop.
                    began_s = time.monotonic()
                    ids, kept = await asyncio.to_thread(
                        _append_group, self.spool, [(w.kind, w.items) for w in group]
                    )
                    self._append_s.append(time.monotonic() - began_s)
                except SpoolError as exc:
                    self._spool_failed(exc)
                else:
                    if self._spool_error is not None:
                        log.warning("the spool takes samples again")
                        self._spool_error = None
                    for w, entry_id, items in zip(group, ids, kept, strict=True):
                        self._keep(entry_id, w.kind, items)
                        self._spooled += _counted(w.kind, w.items)
                        self._spooled_entries += 1
                        if self._spooled_since_s is None:
                            self._spooled_since_s = w.accepted_s
                    return
        for w in group:
            self._hold(w.kind, w.items, w.accepted_s)

    def _keep(self, entry_id: int, kind: str, items: Sequence[Any] | SampleBatch) -> None:
        count = _counted(kind, items)
        if self._kept_count + count <= self.max_queued:
            self._kept[entry_id] = items
            self._kept_count += count

    def _kept_or_decoded(self, entry: SpoolEntry) -> Sequence[Any] | SampleBatch:
        items = self._kept.get(entry.id)
        return _decoded(entry.kind, entry.payload) if items is None else items

    def _forget(self, entries: list[Entry]) -> None:
        for e in entries:
            if self._kept.pop(e.id, None) is not None:
                self._kept_count -= _counted(e.kind, e.items)

    def _hold(self, kind: str, items: list[Any], accepted_s: float) -> None:
        self._held.append(Entry(self._next_held_id, kind, items, accepted_s))
        self._next_held_id += 1
        if kind == SAMPLES:
            self._held_count += len(items)

    def _spool_failed(self, exc: SpoolError) -> None:
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

    async def respool_if_refused(self) -> None:
        """Try again to move held entries into a spool that refused them."""
        if self._held and self.spool is not None and self._spool_error is not None:
            async with self._lock:
                await self._respool()

    async def _respool(self) -> None:
        """Move held entries into the spool, oldest first, once it takes them again."""
        assert self.spool is not None
        entries = list(self._held)
        try:
            # Encoded on the spool's thread, like any append (the columns are not kept: the
            # drain reads these entries back from the spool).
            await asyncio.to_thread(_append_group, self.spool, [(e.kind, e.items) for e in entries])
        except SpoolError as exc:
            self._spool_error = str(exc)
            return
        log.warning("the spool takes samples again: %d held entries moved to it", len(entries))
        for e in entries:
            self._held.popleft()
            if e.kind == SAMPLES:
                self._held_count -= e.count
            self._spooled += _counted(e.kind, e.items)
            self._spooled_entries += 1
            if self._spooled_since_s is None:
                self._spooled_since_s = e.accepted_s
        self._spool_error = None
        self._space.set()

    async def deliver(
        self, max_count: int, write: Callable[[list[Entry]], Awaitable[_T]]
    ) -> _T | None:
        """Hand the oldest entries (about `max_count` samples) to `write`, and ack them once it
        returns; None when nothing waits. When `write` raises, every entry stays queued."""
        if self._spooled_entries and self.spool is not None:
            return await self._deliver(max_count, write)
        # Held entries: no put may move them into the spool while they are being written
        # (they would be written twice, and others dropped).
        async with self._lock:
            return await self._deliver(max_count, write)

    async def _deliver(
        self, max_count: int, write: Callable[[list[Entry]], Awaitable[_T]]
    ) -> _T | None:
        entries, from_spool = await self.peek(max_count)
        if not entries:
            return None
        result = await write(entries)
        await self.ack(entries, from_spool)
        return result

    async def peek(self, max_count: int) -> tuple[list[Entry], bool]:
        """The oldest entries, up to about max_count samples; True when from the spool."""
        if self._spooled_entries and self.spool is not None:
            head = await asyncio.to_thread(self.spool.head, max_count)
            if head:
                return [Entry(e.id, e.kind, self._kept_or_decoded(e), 0.0) for e in head], True
            self._spooled = self._spooled_entries = 0  # removed by someone else: trust the spool
            self._kept.clear()
            self._kept_count = 0
            self._spooled_since_s = None
            self._backlog_left = 0
            self.backlog_written.set()
        batch: list[Entry] = []
        total = 0
        for e in self._held:
            if batch and total + e.count > max_count:
                break
            batch.append(e)
            total += e.count
        return batch, False

    async def ack(self, entries: list[Entry], from_spool: bool) -> None:
        """Remove entries that peek() gave and the store took."""
        count = sum(_counted(e.kind, e.items) for e in entries)
        if from_spool:
            assert self.spool is not None
            await asyncio.to_thread(self.spool.remove_through, entries[-1].id)
            self._forget(entries)
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
