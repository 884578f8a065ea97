"""What a memory follower is handed, and what it asks of history: where a device's history
ends (a Ledger, answered by the daemon from its store), how its clock is judged, and where its
samples and events go. Apart from the follower, so the daemon and acquisition name them
without the follower's machinery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from loggerd.core.events import ClockCheck, LogItem
from loggerd.core.samples import Sample

Emit = Callable[[Sequence[LogItem]], Awaitable[None]]
Sink = Callable[[list[Sample]], Awaitable[None]]

# A stored record's sequence number is the logger's record number in its low 32 bits and, above
# them, how many times loggerd has seen the logger's memory start again (cleared, or another
# logger in its place): records numbered again are new records, never taken for old ones.
EPOCH_SHIFT = 32
LOGGER_SEQUENCE = (1 << EPOCH_SHIFT) - 1


@dataclass(frozen=True)
class HistoryEnd:
    """The newest record of a device that is safely kept."""

    sequence: int  # as stored: epoch << 32 | the logger's record number
    timestamp_us: int  # corrected
    logger_time_us: int | None  # the logger's own time of it


class Ledger(Protocol):
    """What the follower needs to know of history (the daemon answers from its store)."""

    async def cursor(self, chamber_id: str, device_id: str) -> HistoryEnd | None:
        """The newest record of the device that is safely kept (None: none)."""

    async def last_clock_check(self, chamber_id: str, device_id: str) -> ClockCheck | None: ...


@dataclass(frozen=True)
class ClockPolicy:
    offset_limit_s: float = 2.0
    drift_limit_ppm: float = 100.0
    check_interval_s: float = 3600.0
    min_drift_span_s: float = 60.0  # shorter spans say nothing useful about drift
