"""Live view: a preallocated numpy ring per channel. O(1) append, vectorised window reads.

17 bytes a sample: the timestamp (int64 µs), value and raw value as float32, and quality and
time source packed in one byte, so 100 channels x 24 h at 1 Hz fit in ~140 MiB. float32 keeps
7 significant digits, finer than any chamber sensor resolves; the store keeps full float64.

A ring's arrays may live in memory shared with other processes (live/shared.py): one process
writes, the others read. Readers never lock: a writer makes the ring's sequence number odd
while it writes and even again after, and a reader that saw it change (or odd) reads again, so
a window is never half old and half new and a reader can never hold the writer up (a seqlock).
The seqlock counts on the writer's stores reaching other cores in the order they were made,
as x86-64 guarantees; on a weakly ordered CPU (ARM) Python gives no fence to ask for it, and a
torn read there, though it needs a reader to race the writer within nanoseconds, is possible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from loggerd.core.samples import Quality, Sample, TimeSource

_QUALITIES = list(Quality)
_QUALITY_CODE = {q: i for i, q in enumerate(_QUALITIES)}
_SOURCES = list(TimeSource)
_SOURCE_SHIFT = 4  # flags byte: quality in the low 4 bits, time source above
_FLAGS = {
    (q, s): _QUALITY_CODE[q] | (i << _SOURCE_SHIFT) for q in Quality for i, s in enumerate(_SOURCES)
}
NO_TIME = np.iinfo(np.int64).min  # the newest timestamp of a ring that holds nothing yet
# A ring's state words: its sequence number (odd while written), samples appended ever, the
# newest timestamp held.
SEQ, COUNT, NEWEST = 0, 1, 2
STATE_WORDS = 4  # one spare, so a ring's state is 32 bytes

T = TypeVar("T")


def flags_of(quality: Quality, time_source: TimeSource) -> int:
    return _FLAGS[(quality, time_source)]


def quality_of(flags: int) -> Quality:
    return _QUALITIES[flags & 0x0F]


def time_source_of(flags: int) -> TimeSource:
    return _SOURCES[flags >> _SOURCE_SHIFT]


def read_consistent(seq: npt.NDArray[np.int64], read: Callable[[], T]) -> T:
    """read() again until no write overlapped it: seq[0] even and unchanged around it."""
    while True:
        before = int(seq[0])
        if not before & 1:
            result = read()
            if int(seq[0]) == before:
                return result
        time.sleep(0)  # a writer in another process is half-way: let it finish


class RingArrays(NamedTuple):
    """Where a ring keeps its samples and its state: its own arrays, or views of shared
    memory."""

    timestamp_us: npt.NDArray[np.int64]
    value: npt.NDArray[np.float32]
    raw_value: npt.NDArray[np.float32]
    flags: npt.NDArray[np.uint8]
    state: npt.NDArray[np.int64]  # STATE_WORDS

    @classmethod
    def allocate(cls, size: int) -> RingArrays:
        arrays = cls(
            np.zeros(size, dtype=np.int64),
            np.full(size, np.nan, dtype=np.float32),
            np.full(size, np.nan, dtype=np.float32),
            np.zeros(size, dtype=np.uint8),
            np.zeros(STATE_WORDS, dtype=np.int64),
        )
        arrays.state[NEWEST] = NO_TIME
        return arrays


@dataclass(frozen=True)
class Window:
    """Samples of one channel, oldest first."""

    timestamp_us: npt.NDArray[np.int64]
    value: npt.NDArray[np.float32]
    raw_value: npt.NDArray[np.float32]
    flags: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.timestamp_us)

    @property
    def quality(self) -> list[Quality]:
        return [quality_of(f) for f in self.flags.tolist()]

    @property
    def time_source(self) -> list[TimeSource]:
        return [time_source_of(f) for f in self.flags.tolist()]


class ChannelRing:
    """A fixed-size ring of one channel's most recent samples, in time order.

    A sample not newer than the newest held (a backfill of the logger's memory) is not kept:
    it belongs to history, and the ring stays sorted so that time windows are a binary search.
    One writer at a time; readers in any thread or process (see the module's docstring).
    """

    def __init__(self, size: int, arrays: RingArrays | None = None) -> None:
        if size < 1:
            raise ValueError(f"ring size must be >= 1, got {size}")
        self.size = size
        a = RingArrays.allocate(size) if arrays is None else arrays
        self._ts, self._value, self._raw, self._flags, self._state = a
        # The same memory as memoryviews: an append sets Python ints and floats in place
        # without a numpy scalar for each (a live view takes ten thousand a second).
        self._views: tuple[Any, ...] = tuple(x.data for x in a)

    @property
    def _count(self) -> int:
        """Samples appended, ever."""
        return int(self._state[COUNT])

    @property
    def _newest_us(self) -> int | None:
        newest = int(self._state[NEWEST])
        return None if newest == NO_TIME else newest

    def append(self, sample: Sample) -> bool:
        """Keep a sample; False (and not kept) when it is not newer than the newest."""
        ts_view, value_view, raw_view, flags_view, state = self._views
        ts = sample.timestamp_us
        if ts <= state[NEWEST]:
            return False
        count = state[COUNT]
        i = count % self.size
        state[SEQ] += 1
        ts_view[i] = ts
        try:
            value_view[i] = sample.value
            raw_view[i] = sample.raw_value
        except OverflowError:  # beyond float32's range: numpy keeps it as an infinity
            self._value[i] = sample.value
            self._raw[i] = sample.raw_value
        flags_view[i] = _FLAGS[(sample.quality, sample.time_source)]
        state[COUNT] = count + 1
        state[NEWEST] = ts
        state[SEQ] += 1
        return True

    def extend(
        self,
        timestamp_us: npt.ArrayLike,
        value: npt.ArrayLike,
        raw_value: npt.ArrayLike | None = None,
        quality: Quality = Quality.GOOD,
        time_source: TimeSource = TimeSource.HOST,
    ) -> int:
        """Append many samples of one quality at once (vectorised); returns how many were kept.

        Timestamps must increase; those not newer than the newest held are left out.
        """
        ts = np.asarray(timestamp_us, dtype=np.int64)
        v = np.asarray(value, dtype=np.float32)
        raw = v if raw_value is None else np.asarray(raw_value, dtype=np.float32)
        newest = self._newest_us
        if newest is not None:
            first = int(np.searchsorted(ts, newest, side="right"))
            ts, v, raw = ts[first:], v[first:], raw[first:]
        n = len(ts)
        if n == 0:
            return 0
        count = self._count
        if n > self.size:
            ts, v, raw = ts[-self.size :], v[-self.size :], raw[-self.size :]
            count += n - self.size
            n = self.size
        idx = (count + np.arange(n)) % self.size
        self._state[SEQ] += 1
        self._ts[idx] = ts
        self._value[idx] = v
        self._raw[idx] = raw
        self._flags[idx] = _FLAGS[(quality, time_source)]
        self._state[COUNT] = count + n
        self._state[NEWEST] = int(ts[-1])
        self._state[SEQ] += 1
        return n

    def __len__(self) -> int:
        return min(self._count, self.size)

    def _slices(self, count: int, n: int) -> Sequence[slice]:
        """Slices of the newest n samples, oldest first (one or two pieces of the arrays)."""
        end = count % self.size if count >= self.size else count
        start = end - n
        if start >= 0:
            return (slice(start, end),)
        return (slice(self.size + start, self.size), slice(0, end))

    def _window(self, count: int, n: int) -> Window:
        parts = self._slices(count, n)
        if len(parts) == 1:
            (s,) = parts
            return Window(
                self._ts[s].copy(),
                self._value[s].copy(),
                self._raw[s].copy(),
                self._flags[s].copy(),
            )
        return Window(
            np.concatenate([self._ts[s] for s in parts]),
            np.concatenate([self._value[s] for s in parts]),
            np.concatenate([self._raw[s] for s in parts]),
            np.concatenate([self._flags[s] for s in parts]),
        )

    def last(self, n: int | None = None) -> Window:
        """The newest n samples (all when None), oldest first."""

        def read() -> Window:
            count = self._count
            held = min(count, self.size)
            return self._window(count, held if n is None else max(0, min(n, held)))

        return read_consistent(self._state, read)

    def since(self, start_us: int) -> Window:
        """Samples with timestamp >= start_us."""
        return read_consistent(self._state, lambda: self._since(start_us))

    def _since(self, start_us: int) -> Window:
        count = self._count
        held = min(count, self.size)
        older = 0  # samples held that are older than start_us, found by binary search
        for s in self._slices(count, held):
            seg = self._ts[s]
            k = int(np.searchsorted(seg, start_us, side="left"))
            older += k
            if k < len(seg):
                break
        return self._window(count, held - older)

    def last_seconds(self, seconds: float) -> Window:
        """Samples of the last `seconds` before the newest one (inclusive of both ends)."""

        def read() -> Window:
            newest = self._newest_us
            if newest is None:
                return self._window(0, 0)
            return self._since(newest - int(seconds * 1e6))

        return read_consistent(self._state, read)

    def latest(self) -> Window:
        return self.last(1)

    @property
    def nbytes(self) -> int:
        return self._ts.nbytes + self._value.nbytes + self._raw.nbytes + self._flags.nbytes


class RingBuffer:
    """One ChannelRing per (chamber, channel)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rings: dict[tuple[str, str], ChannelRing] = {}

    def add_channel(self, chamber_id: str, channel_id: str) -> ChannelRing:
        return self._rings.setdefault((chamber_id, channel_id), ChannelRing(self.size))

    def append(self, sample: Sample) -> bool:
        key = (sample.chamber_id, sample.channel_id)
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = ChannelRing(self.size)
        return ring.append(sample)

    def channel(self, chamber_id: str, channel_id: str) -> ChannelRing:
        return self._rings[(chamber_id, channel_id)]

    @property
    def nbytes(self) -> int:
        """Bytes held by the rings' arrays."""
        return sum(r.nbytes for r in self._rings.values())
