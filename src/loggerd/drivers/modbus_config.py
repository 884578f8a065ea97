"""The settings every Modbus device has: where it is, its address, and how its line is driven."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from loggerd.core.errors import DeviceException
from loggerd.drivers.base import DriverConfig
from loggerd.link.transport import SerialSettings
from loggerd.modbus.lines import LineSettings
from loggerd_protocol.toml_document import LocatedValueError


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

    @field_validator("url")
    @classmethod
    def _tcp_has_a_port(cls, url: str) -> str:
        if url.startswith("tcp://"):
            try:
                parts = urlsplit(url)
                port = parts.port
            except ValueError:
                port = None
            if not parts.hostname or port is None:
                raise LocatedValueError(
                    (),
                    f"{url!r} names no host and port: write tcp://HOST:PORT, e.g. tcp://10.0.0.5:502",
                )
        return url

    def line_settings(self) -> LineSettings:
        serial = SerialSettings(baudrate=self.baudrate, parity=self.parity, stopbits=self.stopbits)
        return LineSettings(serial, self.late_reply_guard_s)


# Exceptions a device answers for registers it does not have (02), or a device or gateway
# that cannot serve the request at all (04; 0B: no device answers at this unit id behind a
# gateway). Opening a device reads registers every device of its model has, so there they mean
# that another device, or none, answers at the configured address.
NOT_THIS_DEVICE = frozenset({2, 4, 11})


@contextmanager
def opening(model: str, address: int) -> Iterator[None]:
    """Around a driver's open(): a refusal that means a wrong address says to check it."""
    try:
        yield
    except DeviceException as exc:
        if exc.code not in NOT_THIS_DEVICE:
            raise
        raise exc.reworded(
            f"{exc}, registers every {model} has. Check the address: device {address} is no "
            f"{model}, or no device has that address"
        ) from exc
