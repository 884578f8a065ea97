"""Typed errors raised by loggerd's library code; only the CLI turns them into exit codes."""

from __future__ import annotations

import copy
from typing import Self


class LoggerdError(Exception):
    """Base of every error loggerd raises on purpose."""

    def reworded(self, message: str) -> Self:
        """The same error, of the same type and with the same fields, saying `message`: for a
        caller that knows more about what went wrong than the code that raised it."""
        new = type(self).__new__(type(self))
        new.__dict__.update(copy.copy(self.__dict__))
        new.args = (message,)
        return new


class ConfigError(LoggerdError):
    """A configuration file that cannot be used. The message names the file, key and fix."""


class OutOfRangeError(LoggerdError):
    """A value the device cannot take, refused before anything is sent to it."""


class DriverLoadError(LoggerdError):
    """A driver that cannot be found or imported."""


class DriverError(LoggerdError):
    """A device could not be read. Subclasses say whether the link or the reply is at fault."""


class LinkError(DriverError):
    """No usable reply: the port cannot be opened, the connection dropped, or a timeout."""


class NoReply(LinkError):
    """The line works but the device did not answer in time (timeout)."""


class ProtocolError(DriverError):
    """A reply came but cannot be used: bad CRC, wrong length, wrong function, wrong address."""


class DeviceException(ProtocolError):
    """The device answered with an exception (a Modbus exception code, or a protocol's own)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code

    @property
    def busy(self) -> bool:
        """The device asks to be asked again shortly (Modbus exception 06)."""
        return self.code == 6
