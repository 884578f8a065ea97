"""What happened besides measurements: events, gaps in a logger's memory and clock checks.

They travel with the samples (through the spool, into the store) so that the record of a test
says not only what was measured but also what went wrong and what was done about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    BACKFILL_STARTED = "backfill_started"  # a download of a logger's memory began
    BACKFILL_DONE = "backfill_done"
    GAP = "gap"  # records were overwritten in the logger before we read them: lost for good
    MEMORY_RESET = "memory_reset"  # the logger's sequence numbers went back (memory cleared)
    RECORD_CONFLICT = "record_conflict"  # a record read again differs from the stored one
    CLOCK_OFFSET = "clock_offset"  # the logger's clock is off by more than the limit
    CLOCK_DRIFT = "clock_drift"  # the logger's clock drifts faster than the limit
    CLOCK_SET = "clock_set"  # someone set the logger's clock (`loggerd clock set`)
    STORE_UNAVAILABLE = "store_unavailable"  # samples wait in the spool
    STORE_RECOVERED = "store_recovered"
    DISK_FULL = "disk_full"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Event:
    utc_us: int
    chamber_id: str  # "" for the daemon as a whole
    device_id: str  # "" when no one device is concerned
    kind: EventKind
    severity: Severity
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Gap:
    """Records `first_sequence`..`last_sequence` of a logger that no one will ever read: the
    logger's ring memory overwrote them before loggerd could download them."""

    chamber_id: str
    device_id: str
    first_sequence: int
    last_sequence: int
    start_us: int | None  # the time of the last record stored before the gap, when known
    end_us: int | None  # the time of the first record after it, when known
    detected_us: int

    @property
    def records(self) -> int:
        return self.last_sequence - self.first_sequence + 1


@dataclass(frozen=True)
class ClockCheck:
    """One measurement of a logger's clock against the host's: logger minus host."""

    chamber_id: str
    device_id: str
    utc_us: int  # host time of the measurement
    offset_us: int  # logger clock minus host clock
    uncertainty_us: int  # half-width of the interval the offset is known to lie in
    rtt_us: int  # round trip of the read(s) it came from


# What travels with the samples besides them: through the spool into the store.
LogItem = Event | Gap | ClockCheck
