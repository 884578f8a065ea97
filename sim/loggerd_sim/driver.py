"""The `simulated` driver: a simulated logger inside the daemon's process, with no wire at all.

For trying loggerd where no serial port or socket is wanted; the wire path is exercised by the
reference-modbus driver against the simulator's servers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from loggerd.core.errors import DeviceException
from loggerd.core.samples import Reading
from loggerd.drivers.base import (
    DeviceInfo,
    DriverConfig,
    LoggedRecord,
    MemoryDriver,
    MemoryRange,
    PointInfo,
)
from loggerd.link.lines import LinePool
from loggerd_drivers.rl1600 import CLOCK_RANGE_S, readings
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.toml_document import LocatedValueError

from .chamber import Chamber
from .logger import ILLEGAL_VALUE, LoggerSettings, RegisterError, SimClock, SimulatedLogger
from .profile import ProfileError, builtin_profile, load_profile

_DEFN = reference_logger()


class SimulatedLoggerConfig(DriverConfig):
    # A relative profile path is taken from the configuration file's folder.
    path_fields: ClassVar[tuple[str, ...]] = ("profile",)

    profile: Path | None = Field(default=None, description="chamber profile TOML")
    speed: float = Field(default=1.0, gt=0)
    seed: int = 0
    channel_count: int = Field(default=8, ge=1, le=16)
    interval_s: int = Field(default=10, ge=1, le=3600)
    capacity: int | None = Field(
        default=None,
        ge=1,
        le=0xFFFF_FFFF,
        description="records the logger's ring memory holds (default: the reference logger's)",
    )
    clock_offset_s: float = Field(
        default=0.0, description="the logger's clock minus true time at the start, s"
    )
    clock_drift_ppm: float = Field(
        default=0.0, gt=-1e6, lt=1e6, description="how much faster the logger's clock runs"
    )

    @field_validator("profile")
    @classmethod
    def _profile_loads(cls, value: Path | None) -> Path | None:
        """Checked with the configuration: a bad profile stops `config check`, not a run."""
        if value is not None:
            try:
                load_profile(value)
            except ProfileError as exc:
                raise LocatedValueError((), str(exc)) from None
        return value


class SimulatedLoggerDriver(MemoryDriver):
    """A simulated logger with its memory and clock; `clock` (tests) replaces the one the
    config's `speed` makes."""

    config_model = SimulatedLoggerConfig
    config: SimulatedLoggerConfig
    clock_range_s = CLOCK_RANGE_S

    def __init__(
        self,
        config: SimulatedLoggerConfig,
        lines: LinePool,
        clock: SimClock | None = None,
    ) -> None:
        super().__init__(config, lines)
        self._clock = clock
        self._logger: SimulatedLogger | None = None
        # Acquisition may read live values and records from two threads at once.
        self._lock = threading.RLock()

    @classmethod
    def points_for(cls, config: DriverConfig) -> Sequence[PointInfo]:
        return [PointInfo(p.name, p.quantity, p.unit) for p in _DEFN.points]

    def open(self) -> DeviceInfo:
        with self._lock:
            s = self.logger.settings
        return DeviceInfo(
            model=_DEFN.model + " (simulated, in-process)",
            serial_number=str(s.serial_number),
            firmware_version=f"{_DEFN.firmware_version >> 8}.{_DEFN.firmware_version & 0xFF}",
            channel_count=s.channel_count,
            calibration_date=str(s.calibration_date),
        )

    @property
    def logger(self) -> SimulatedLogger:
        """The simulated logger, made at the first use: it starts logging from then on."""
        with self._lock:
            if self._logger is None:
                c = self.config
                profile = load_profile(c.profile) if c.profile else builtin_profile()
                # `speed` runs the chamber's programme fast; the logger keeps real time, as
                # the simulator's loggers do (a logger is a real-time device).
                chamber = Chamber(
                    profile, channel_count=c.channel_count, seed=c.seed, speed=c.speed
                )
                settings = LoggerSettings(
                    channel_count=c.channel_count,
                    interval_s=c.interval_s,
                    capacity=c.capacity,
                    clock_offset_s=c.clock_offset_s,
                    clock_drift_ppm=c.clock_drift_ppm,
                )
                clock = self._clock or SimClock()
                self._logger = SimulatedLogger(chamber, clock, settings)
            return self._logger

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        with self._lock:
            lg = self.logger
            lg.sync()
            status = {p.name: lg.channel_status(p.name) for p in _DEFN.points}
            return readings(lg.point_values(), status)

    def memory_range(self) -> MemoryRange:
        with self._lock:
            lg = self.logger
            lg.sync()
            memory = lg.memory
            oldest, newest = (memory[0].sequence, memory[-1].sequence) if memory else (0, 0)
            return MemoryRange(oldest, newest, memory.maxlen or 0)

    def read_records(self, first: int, count: int) -> list[LoggedRecord]:
        """Records `first` … `first + count − 1` as the logger holds them (not rounded to the
        wire's 0.01), fewer at the newest. Like the reference logger refusing the record
        pointer, a `first` that is not held is a DeviceException with code 3."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            lg = self.logger
            lg.sync()
            memory = lg.memory
            oldest = memory[0].sequence if memory else 0
            if not memory or not oldest <= first <= memory[-1].sequence:
                held = f"{oldest} … {memory[-1].sequence}" if memory else "none"
                raise DeviceException(
                    f"simulated logger: record {first} is not held (records held: {held})",
                    ILLEGAL_VALUE,
                )
            start = first - oldest
            records = list(itertools.islice(memory, start, start + count))
            fitted = lg.settings.channel_count
        return [
            LoggedRecord(
                r.sequence, r.timestamp * 1_000_000, readings(r.values, channel_count=fitted)
            )
            for r in records
        ]

    def read_clock(self) -> float:
        with self._lock:
            return float(self.logger.clock_reading_s())

    def set_clock(self, utc_s: int) -> None:
        self.check_clock_value(utc_s)
        with self._lock:
            try:
                self.logger.write_setting("clock", utc_s)
            except RegisterError as exc:
                raise DeviceException(f"simulated logger: {exc}", exc.code) from exc

    def close(self) -> None:
        pass
