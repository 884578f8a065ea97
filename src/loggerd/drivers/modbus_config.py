"""The settings every Modbus device has: where it is, its address, and how its line is driven."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loggerd.drivers.base import DriverConfig
from loggerd.link.transport import SerialSettings
from loggerd.modbus.lines import LineSettings


class ModbusDeviceConfig(DriverConfig):
    """Base of the Modbus drivers' settings; devices sharing a line must agree on it."""

    url: str = Field(
        description="tcp://HOST:PORT for Modbus TCP; any pyserial URL (a device path such as "
        "/dev/ttyUSB0, socket://, rfc2217://) for Modbus RTU",
        min_length=1,
    )
    address: int = Field(default=1, ge=1, le=247, description="Modbus address / unit id")
    baudrate: int = Field(default=19200, gt=0)
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(default=0.5, gt=0, le=30, description="reply timeout")
    late_reply_guard_s: float = Field(
        default=0.05, ge=0, le=5, description="quiet time on the line after a timeout (RTU)"
    )

    def line_settings(self) -> LineSettings:
        serial = SerialSettings(baudrate=self.baudrate, parity=self.parity, stopbits=self.stopbits)
        return LineSettings(serial, self.late_reply_guard_s)
