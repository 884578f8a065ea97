"""The `simulated` driver: a simulated logger inside the daemon's process, with no wire at all.

For trying loggerd where no serial port or socket is wanted; the wire path is exercised by the
reference-modbus driver against the simulator's servers.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path

from pydantic import Field

from loggerd.bus import BusPool
from loggerd.driver import DeviceInfo, Driver, DriverConfig, PointInfo
from loggerd.samples import Quality, Reading
from loggerd_protocol.definition import reference_logger

from .chamber import Chamber
from .logger import LoggerSettings, SimClock, SimulatedLogger
from .profile import builtin_profile, load_profile

_DEFN = reference_logger()


class SimulatedLoggerConfig(DriverConfig):
    profile: Path | None = Field(default=None, description="chamber profile TOML")
    speed: float = Field(default=1.0, gt=0)
    seed: int = 0
    channel_count: int = Field(default=8, ge=1, le=16)
    interval_s: int = Field(default=10, ge=1, le=3600)


class SimulatedLoggerDriver(Driver):
    config_model = SimulatedLoggerConfig
    config: SimulatedLoggerConfig

    def __init__(self, config: SimulatedLoggerConfig, buses: BusPool | None = None) -> None:
        super().__init__(config, buses)
        self._logger: SimulatedLogger | None = None

    def points(self) -> Sequence[PointInfo]:
        return [PointInfo(p.name, p.quantity, p.unit) for p in _DEFN.points]

    def open(self) -> DeviceInfo:
        c = self.config
        if self._logger is None:
            profile = load_profile(c.profile) if c.profile else builtin_profile()
            chamber = Chamber(profile, channel_count=c.channel_count, seed=c.seed)
            settings = LoggerSettings(channel_count=c.channel_count, interval_s=c.interval_s)
            self._logger = SimulatedLogger(chamber, SimClock(c.speed), settings)
        s = self._logger.settings
        return DeviceInfo(
            model=_DEFN.model + " (simulated, in-process)",
            serial_number=str(s.serial_number),
            firmware_version=f"{_DEFN.firmware_version >> 8}.{_DEFN.firmware_version & 0xFF}",
            channel_count=s.channel_count,
            calibration_date=str(s.calibration_date),
        )

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        if self._logger is None:
            self.open()
        assert self._logger is not None
        self._logger.sync()
        values = self._logger.point_values()
        out = []
        for p in _DEFN.points:
            raw = values[p.name]
            bad = self._logger.channel_status(p.name) or math.isnan(raw)
            quality = Quality.SENSOR_FAULT if bad else Quality.GOOD
            out.append(Reading(p.name, math.nan if bad else raw, raw, quality))
        return out

    def close(self) -> None:
        pass
