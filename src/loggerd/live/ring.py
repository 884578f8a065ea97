"""Live view: a preallocated numpy ring per channel. O(1) append, vectorised window reads.

17 bytes a sample: the timestamp (int64 µs), value and raw value as float32, and quality and
time source packed in one byte, so 100 channels x 24 h at 1 Hz fit in ~140 MiB. float32 keeps
7 significant digits, finer than any chamber sensor resolves; the store keeps full float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
        return [_QUALITIES[f & 0x0F] for f in self.flags.tolist()]

    @property
    def time_source(self) -> list[TimeSource]:
        return [_SOURCES[f >> _SOURCE_SHIFT] for f in self.flags.tolist()]


class ChannelRing:
    """A fixed-size ring of one channel's most recent samples, in time order.

    A sample not newer than the newest held (a backfill of the logger's memory) is not kept:
    it belongs to history, and the ring stays sorted so that time windows are a binary search.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"ring size must be >= 1, got {size}")
        self.size = size
        self._ts = np.zeros(size, dtype=np.int64)
        self._value = np.full(size, np.nan, dtype=np.float32)
        self._raw = np.full(size, np.nan, dtype=np.float32)
        self._flags = np.zeros(size, dtype=np.uint8)
        self._count = 0  # total appended, ever
        self._newest_us: int | None = None

    def append(self, sample: Sample) -> bool:
        """Keep a sample; False (and not kept) when it is not newer than the newest."""
        ts = sample.timestamp_us
        if self._newest_us is not None and ts <= self._newest_us:
            return False
        i = self._count % self.size
        self._ts[i] = ts
        self._value[i] = sample.value
        self._raw[i] = sample.raw_value
        self._flags[i] = _FLAGS[(sample.quality, sample.time_source)]
        self._count += 1
        self._newest_us = ts
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
        if self._newest_us is not None:
            first = int(np.searchsorted(ts, self._newest_us, side="right"))
            ts, v, raw = ts[first:], v[first:], raw[first:]
        n = len(ts)
        if n == 0:
            return 0
        if n > self.size:
            ts, v, raw = ts[-self.size :], v[-self.size :], raw[-self.size :]
            self._count += n - self.size
            n = self.size
        idx = (self._count + np.arange(n)) % self.size
        self._ts[idx] = ts
        self._value[idx] = v
        self._raw[idx] = raw
        self._flags[idx] = _FLAGS[(quality, time_source)]
        self._count += n
        self._newest_us = int(ts[-1])
        return n

    def __len__(self) -> int:
        return min(self._count, self.size)

    def _slices(self, n: int) -> Sequence[slice]:
        """Slices of the newest n samples, oldest first (one or two pieces of the arrays)."""
        end = self._count % self.size if self._count >= self.size else self._count
        start = end - n
        if start >= 0:
            return (slice(start, end),)
        return (slice(self.size + start, self.size), slice(0, end))

    def _window(self, n: int) -> Window:
        parts = self._slices(n)
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
        n = len(self) if n is None else max(0, min(n, len(self)))
        return self._window(n)

    def since(self, start_us: int) -> Window:
        """Samples with timestamp >= start_us."""
        held = len(self)
        parts = self._slices(held)
        older = 0  # samples held that are older than start_us, found by binary search
        for s in parts:
            seg = self._ts[s]
            k = int(np.searchsorted(seg, start_us, side="left"))
            older += k
            if k < len(seg):
                break
        return self._window(held - older)

    def last_seconds(self, seconds: float) -> Window:
        """Samples of the last `seconds` before the newest one (inclusive of both ends)."""
        if self._newest_us is None:
            return self._window(0)
        return self.since(self._newest_us - int(seconds * 1e6))

    def latest(self) -> Window:
        return self.last(1)


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
        return sum(
            r._ts.nbytes + r._value.nbytes + r._raw.nbytes + r._flags.nbytes
            for r in self._rings.values()
        )
