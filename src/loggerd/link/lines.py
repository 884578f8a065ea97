"""Lines shared by several devices: one owner object per serial port or TCP endpoint, made on
first use, so that devices on one RS-485 line (or behind one gateway) take turns on it.

The pool does not know what a line speaks: a protocol layer hands it a factory (the Modbus
master for Modbus lines, see loggerd.modbus.lines) and gets back the one object for that line.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Protocol, TypeVar

from loggerd.core.errors import ConfigError
from loggerd.link.transport import SerialSettings, Transport, transport_for_url


class Closeable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=Closeable)


def _protocol(owner: type) -> str:
    """What a line's owner speaks, in a person's words: its `protocol`, else its class."""
    name = getattr(owner, "protocol", None)
    return name if isinstance(name, str) else owner.__name__


class LinePool:
    """Hands out one shared object per line URL; drivers get their line from here."""

    def __init__(self) -> None:
        self._lines: dict[str, tuple[Hashable, Closeable]] = {}

    def shared(self, url: str, settings: Hashable, kind: type[T], make: Callable[[], T]) -> T:
        """The object that owns line `url` (made by `make` on first use). Every device on one
        line must drive it the same way: `settings` must agree, and so must `kind`."""
        found = self._lines.get(url)
        if found is None:
            made = make()
            self._lines[url] = (settings, made)
            return made
        known, line = found
        if not isinstance(line, kind):
            raise ConfigError(
                f"devices on {url} speak different protocols ({_protocol(type(line))} and "
                f"{_protocol(kind)}): one line carries one protocol"
            )
        if known != settings:
            raise ConfigError(
                f"devices on {url} disagree on the line settings ({known}, and {settings}): "
                "devices sharing one line must use the same baud rate, parity and stop bits"
            )
        return line

    def transport(self, url: str, settings: SerialSettings) -> Transport:
        """A line used by one device at a time with its own protocol (e.g. RS-232 ASCII)."""
        return self.shared(
            url,
            settings,
            Transport,  # type: ignore[type-abstract]  # an isinstance check: any Transport
            lambda: transport_for_url(url, settings),
        )

    def close(self) -> None:
        """Close every line; a request still under way finishes first (each owner's lock)."""
        for _, line in self._lines.values():
            line.close()

    def lines(self) -> dict[str, Closeable]:
        return {url: line for url, (_, line) in self._lines.items()}
