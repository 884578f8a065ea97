"""The driver plugin interface: open a device, read its live values, close it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from .bus import BusPool
from .samples import Reading


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


@dataclass(frozen=True)
class DeviceInfo:
    model: str
    serial_number: str
    firmware_version: str
    channel_count: int
    calibration_date: str | None = None


class Driver(ABC):
    """One device model. Blocking calls; acquisition runs them off the event loop.

    A driver raises loggerd.errors.DriverError subclasses (LinkError, ProtocolError) and never
    touches the store, the API or the clock beyond what it is handed.
    """

    config_model: ClassVar[type[DriverConfig]]

    def __init__(self, config: DriverConfig, buses: BusPool | None = None) -> None:
        self.config = config
        # Lines (serial ports, TCP endpoints) come from a pool shared by every driver of the
        # daemon, so devices on one RS-485 line take turns on one connection.
        self.buses = buses if buses is not None else BusPool()

    @abstractmethod
    def points(self) -> Sequence[PointInfo]:
        """Every point this device model can report, known before open()."""

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
