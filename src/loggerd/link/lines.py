"""Lines shared by several devices: one transport and one Modbus master per serial port or TCP
endpoint, so that devices on one RS-485 line (or behind one gateway) take turns on it."""

from __future__ import annotations

from dataclasses import dataclass

from loggerd.core.errors import ConfigError
from loggerd.link.transport import SerialSettings, Transport, transport_for_url
from loggerd.modbus.master import ModbusMaster


@dataclass(frozen=True)
class LineSettings:
    """How a line is driven; every device on one line must agree on it."""

    serial: SerialSettings
    late_reply_guard_s: float = 0.05


class BusPool:
    """Hands out one shared master per line URL; drivers get theirs from here."""

    def __init__(self) -> None:
        self._masters: dict[str, tuple[LineSettings, ModbusMaster]] = {}
        self._transports: dict[str, tuple[SerialSettings, Transport]] = {}

    def modbus(self, url: str, settings: LineSettings) -> ModbusMaster:
        found = self._masters.get(url)
        if found is not None:
            if found[0] != settings:
                raise ConfigError(
                    f"devices on {url} disagree on the line settings ({found[0]} and "
                    f"{settings}): devices sharing one line must use the same baud rate, "
                    "parity and stop bits"
                )
            return found[1]
        master = ModbusMaster(
            transport_for_url(url, settings.serial),
            "tcp" if url.startswith("tcp://") else "rtu",
            baudrate=settings.serial.baudrate,
            late_reply_guard_s=settings.late_reply_guard_s,
        )
        self._masters[url] = (settings, master)
        return master

    def transport(self, url: str, settings: SerialSettings) -> Transport:
        """A line used by one device at a time with its own protocol (e.g. RS-232 ASCII)."""
        found = self._transports.get(url)
        if found is not None:
            return found[1]
        transport = transport_for_url(url, settings)
        self._transports[url] = (settings, transport)
        return transport

    def close(self) -> None:
        """Close every line; a request still under way finishes first (the master's lock)."""
        for _, master in self._masters.values():
            master.close()
        for _, transport in self._transports.values():
            transport.close()

    def lines(self) -> dict[str, ModbusMaster]:
        return {url: m for url, (_, m) in self._masters.items()}
