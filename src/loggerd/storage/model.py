"""What the store's parts hand to each other and to their callers: errors, catalog rows, stored
samples, retention and write results. Here, below every part, so that no part imports another
part only for a type (store.py re-exports them all)."""

from __future__ import annotations

from dataclasses import dataclass, field

from loggerd.core.errors import LoggerdError
from loggerd.core.samples import Quality, TimeSource

__all__ = [
    "ChannelMeta",
    "Conflict",
    "DeviceRow",
    "Retention",
    "SchemaError",
    "StoreError",
    "StoredSample",
    "WriteResult",
]


class StoreError(LoggerdError):
    """The store cannot be reached or refused a write; nothing was written."""


class SchemaError(StoreError):
    """The database's schema is not the one this loggerd needs (run `loggerd db upgrade`)."""


@dataclass(frozen=True)
class DeviceRow:
    chamber_id: str
    device_id: str
    driver: str | None = None


@dataclass(frozen=True)
class ChannelMeta:
    """A channel as the database knows it, whichever loggerd registered it."""

    key: int
    chamber_id: str
    channel_id: str
    device_id: str
    name: str | None
    point: str
    quantity: str
    unit: str


@dataclass(frozen=True)
class StoredSample:
    channel_id: str
    timestamp_us: int
    value: float | None
    raw_value: float | None
    quality: Quality
    time_source: TimeSource
    sequence: int | None
    calibration_version: int | None = None
    uncertainty: float | None = None
    method: str | None = None
    clock_offset_us: int | None = None

    @property
    def logger_time_us(self) -> int | None:
        """The logger's own, uncorrected, time of a logger-stamped sample."""
        if self.clock_offset_us is None:
            return None
        return self.timestamp_us + self.clock_offset_us


@dataclass(frozen=True)
class Retention:
    """How long to keep raw samples and each rollup tier; None keeps them for ever."""

    raw_s: float | None = None
    rollup_s: dict[str, float | None] = field(default_factory=dict)

    def raw_cutoff_us(self, now_us: int) -> int | None:
        """Raw samples older than this are past their retention at `now_us` (None: none are):
        the writer does not store them, prune deletes them, and history reads the rollups."""
        return None if self.raw_s is None else now_us - int(self.raw_s * 1e6)


@dataclass(frozen=True)
class Conflict:
    """A logger record read again whose value or time differs from the one stored: the stored
    one is kept (it was read first) and the difference is raised as an event."""

    chamber_id: str
    channel_id: str
    device_id: str
    sequence: int
    stored_raw_value: float | None
    stored_logger_time_us: int | None
    new_raw_value: float | None
    new_logger_time_us: int | None


@dataclass(frozen=True)
class WriteResult:
    inserted: int  # new samples stored (and folded into the rollups)
    duplicates: int  # samples already stored (same channel and time, or same logger record)
    expired: int  # samples older than the raw retention: not stored
    conflicts: tuple[Conflict, ...] = ()
