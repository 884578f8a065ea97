"""Modbus lines: how a line is driven, and the one master each line shares among its devices."""

from __future__ import annotations

from dataclasses import dataclass

from loggerd.link.lines import LinePool
from loggerd.link.transport import SerialSettings, transport_for_url
from loggerd.modbus.master import ModbusMaster


@dataclass(frozen=True)
class LineSettings:
    """How a line is driven; every device on one line must agree on it."""

    serial: SerialSettings
    late_reply_guard_s: float = 0.05

    def __str__(self) -> str:
        return f"{self.serial}, {self.late_reply_guard_s:g} s late-reply guard"


def modbus_master(pool: LinePool, url: str, settings: LineSettings) -> ModbusMaster:
    """The master of line `url` (tcp://HOST:PORT is Modbus TCP, anything else RTU)."""

    def make() -> ModbusMaster:
        return ModbusMaster(
            transport_for_url(url, settings.serial),
            "tcp" if url.startswith("tcp://") else "rtu",
            baudrate=settings.serial.baudrate,
            late_reply_guard_s=settings.late_reply_guard_s,
            bits_per_character=settings.serial.bits_per_character,
        )

    return pool.shared(url, settings, ModbusMaster, make)
