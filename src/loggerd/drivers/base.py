"""The driver plugin interface: open a device, read its live values, close it."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from loggerd.core.errors import DeviceException, OutOfRangeError
from loggerd.core.health import DeviceInfo
from loggerd.core.samples import Reading
from loggerd.core.times import iso

if TYPE_CHECKING:  # only a type here: checking a configuration opens no line module
    from loggerd.link.lines import LinePool

__all__ = [
    "DeviceInfo",
    "Driver",
    "DriverConfig",
    "LoggedRecord",
    "MemoryDriver",
    "MemoryRange",
    "PointInfo",
    "retry_busy",
]

T = TypeVar("T")

# A logger writing a record to its flash memory answers "busy" (Modbus exception 06, the
# RL-1600's ERR 4) for up to 20 ms and is to be asked again after 20 ms or more (PROTOCOL.md
# §8.4, §11.4, §15).
BUSY_RETRY_S = 0.025
BUSY_ATTEMPTS = 5


def retry_busy(
    call: Callable[[], T], attempts: int = BUSY_ATTEMPTS, pause_s: float = BUSY_RETRY_S
) -> T:
    """`call`, asked again `pause_s` later each time the device answers busy."""
    attempt = 1
    while True:
        try:
            return call()
        except DeviceException as exc:
            if not exc.busy:
                raise
            if attempt >= attempts:
                raise exc.reworded(
                    f"{exc}, {attempts} times {pause_s * 1e3:.0f} ms apart. The device stays "
                    "busy: check that nothing else is talking to it, and try again"
                ) from exc
        attempt += 1
        time.sleep(pause_s)


class DriverConfig(BaseModel):
    """Base of every driver's settings; unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Settings that name files: a relative path is taken from the configuration file's folder.
    path_fields: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class PointInfo:
    """A value a device offers: temperature_1, rh, …"""

    name: str
    quantity: str
    unit: str


class Driver(ABC):
    """One device model. Blocking calls; acquisition runs them off the event loop.

    A driver raises loggerd.core.errors.DriverError subclasses (LinkError, ProtocolError) and
    never touches the store, the API or the clock beyond what it is handed. Its line comes
    from the daemon's LinePool, shared by every driver, so devices on one RS-485 line take
    turns on one connection.
    """

    config_model: ClassVar[type[DriverConfig]]

    def __init__(self, config: DriverConfig, lines: LinePool) -> None:
        self.config = config
        self.lines = lines

    @classmethod
    @abstractmethod
    def points_for(cls, config: DriverConfig) -> Sequence[PointInfo]:
        """Every point a device with these settings can report: known from its settings
        alone, so a configuration is checked without building a driver or opening a line."""

    def points(self) -> Sequence[PointInfo]:
        return self.points_for(self.config)

    @property
    def line(self) -> str | None:
        """The line the device is on (its `url`: a serial port or a TCP endpoint); devices
        naming one line share its thread and take turns. None: a device on no shared line."""
        url = getattr(self.config, "url", None)
        return url if isinstance(url, str) else None

    @abstractmethod
    def open(self) -> DeviceInfo:
        """Connect and identify the device."""

    def poll_groups(self) -> Mapping[str, float | None]:
        """Register groups polled on their own schedule: name -> interval in s (None: the
        device's poll interval). Most devices have one group."""
        return {"all": None}

    @abstractmethod
    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        """One live reading of the points in `groups` (every point when None)."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    def description(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class MemoryRange:
    """What a logger's own memory holds: sequence numbers `oldest`..`newest` (both 0: empty)."""

    oldest: int
    newest: int
    capacity: int  # records the ring memory holds before it overwrites the oldest


@dataclass(frozen=True)
class LoggedRecord:
    """One record of a logger's own memory, as a driver hands it on."""

    sequence: int  # the logger's record number: increases by 1 per record
    logger_time_us: int  # the logger's clock when it took the record, UTC µs, uncorrected
    readings: list[Reading]  # one per point, with the same quality rules as a live read


class MemoryDriver(Driver):
    """A device that keeps records in its own memory and has a clock of its own.

    Backfill reads the records (from the last one stored, after any outage), and the daemon
    reads the clock on every connect to measure its offset. The daemon never sets the clock;
    `loggerd clock set` does, on a person's request.
    """

    clock_resolution_s: ClassVar[float] = 1.0  # the clock's step as read_clock() reports it
    # The earliest and latest time its clock can be set to, UTC epoch s (None: any time).
    clock_range_s: ClassVar[tuple[int, int] | None] = None

    def check_clock_value(self, utc_s: int) -> None:
        """Refuse a time the clock cannot take, before anything is sent: a sentence, rather
        than the device's own refusal (an exception 03 to a register write)."""
        limits = self.clock_range_s
        if limits is not None and not limits[0] <= utc_s <= limits[1]:
            first, last = (iso(t * 1_000_000) for t in limits)
            raise OutOfRangeError(
                f"{self.description}: its clock cannot be set to {iso(utc_s * 1_000_000)} "
                f"({utc_s} s): it takes {first} … {last}. Give a time in that range"
            )

    @abstractmethod
    def memory_range(self) -> MemoryRange: ...

    @abstractmethod
    def read_records(self, first: int, count: int) -> list[LoggedRecord]:
        """Up to `count` records from sequence `first` on, in order (fewer at the newest;
        the driver may return fewer than asked, e.g. one transaction's worth)."""

    @abstractmethod
    def read_clock(self) -> float:
        """The logger's clock, UTC epoch seconds, as it reads now (a whole second when
        clock_resolution_s is 1). A logger busy for a moment is asked again (retry_busy)."""

    @abstractmethod
    def set_clock(self, utc_s: int) -> None:
        """Set the logger's clock to `utc_s` (UTC epoch seconds): check_clock_value() first,
        then the write, asked again while the logger is busy (retry_busy)."""
