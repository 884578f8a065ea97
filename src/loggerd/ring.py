"""Live view: a preallocated numpy ring per channel. O(1) append, vectorised window reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .samples import Quality, Sample, TimeSource

_QUALITIES = list(Quality)
_QUALITY_CODE = {q: i for i, q in enumerate(_QUALITIES)}
_SOURCES = list(TimeSource)
_SOURCE_CODE = {s: i for i, s in enumerate(_SOURCES)}


@dataclass(frozen=True)
class Window:
    """Samples of one channel, oldest first."""

    timestamp_us: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    raw_value: npt.NDArray[np.float64]
    quality: list[Quality]
    time_source: list[TimeSource]

    def __len__(self) -> int:
        return len(self.timestamp_us)


class ChannelRing:
    """A fixed-size ring of one channel's most recent samples."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"ring size must be >= 1, got {size}")
        self.size = size
        self._ts = np.zeros(size, dtype=np.int64)
        self._value = np.full(size, np.nan)
        self._raw = np.full(size, np.nan)
        self._quality = np.zeros(size, dtype=np.uint8)
        self._source = np.zeros(size, dtype=np.uint8)
        self._count = 0  # total appended, ever

    def append(self, sample: Sample) -> None:
        i = self._count % self.size
        self._ts[i] = sample.timestamp_us
        self._value[i] = sample.value
        self._raw[i] = sample.raw_value
        self._quality[i] = _QUALITY_CODE[sample.quality]
        self._source[i] = _SOURCE_CODE[sample.time_source]
        self._count += 1

    def __len__(self) -> int:
        return min(self._count, self.size)

    def _order(self, n: int) -> npt.NDArray[np.intp]:
        """Indices of the newest n samples, oldest first."""
        end = self._count
        return np.arange(end - n, end) % self.size

    def last(self, n: int | None = None) -> Window:
        n = len(self) if n is None else max(0, min(n, len(self)))
        idx = self._order(n)
        return Window(
            timestamp_us=self._ts[idx],
            value=self._value[idx],
            raw_value=self._raw[idx],
            quality=[_QUALITIES[q] for q in self._quality[idx]],
            time_source=[_SOURCES[s] for s in self._source[idx]],
        )

    def since(self, start_us: int) -> Window:
        """Samples with timestamp >= start_us (timestamps arrive in order per channel)."""
        window = self.last()
        first = int(np.searchsorted(window.timestamp_us, start_us, side="left"))
        return self.last(len(window) - first)

    def latest(self) -> Window:
        return self.last(1)


class RingBuffer:
    """One ChannelRing per (chamber, channel)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rings: dict[tuple[str, str], ChannelRing] = {}

    def add_channel(self, chamber_id: str, channel_id: str) -> None:
        self._rings.setdefault((chamber_id, channel_id), ChannelRing(self.size))

    def append(self, sample: Sample) -> None:
        key = (sample.chamber_id, sample.channel_id)
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = ChannelRing(self.size)
        ring.append(sample)

    def channel(self, chamber_id: str, channel_id: str) -> ChannelRing:
        return self._rings[(chamber_id, channel_id)]
