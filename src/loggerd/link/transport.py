"""Byte pipes to a device: a serial port (any pyserial URL) or a TCP connection. Nothing else."""

from __future__ import annotations

import logging
import math
import os
import select
import socket
import stat
import struct
import termios
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import serial

from loggerd.core.errors import LinkError

log = logging.getLogger(__name__)

# Unix98 pseudo-terminal slaves have major numbers 136-143 (Documentation/admin-guide/devices).
_PTY_SLAVE_MAJORS = range(136, 144)


def is_pseudo_terminal(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _PTY_SLAVE_MAJORS


class Transport(ABC):
    """A byte pipe. Reads take an absolute deadline on time.monotonic()."""

    # A line one device uses alone, with its own protocol (an RS-232 ASCII logger).
    protocol = "a protocol of one device's own (ASCII)"
    description: str

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def read_some(self, max_bytes: int, deadline: float) -> bytes:
        """Return 1..max_bytes bytes, or b'' when the deadline passes first."""

    @abstractmethod
    def discard_input(self) -> None:
        """Drop whatever has arrived unasked (a late reply to an earlier request)."""

    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    def read_exactly(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.read_some(n - len(buf), deadline)
            if not chunk:
                break
            buf += chunk
        return bytes(buf)


@dataclass(frozen=True)
class SerialSettings:
    baudrate: int = 19200
    parity: str = "E"
    stopbits: int = 1
    bytesize: int = 8

    @property
    def bits_per_character(self) -> int:
        """Start, data, parity and stop bits: the time a byte takes on the wire."""
        return 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits

    def __str__(self) -> str:
        """As a line is named on a label: 19200 baud 8E1."""
        return f"{self.baudrate} baud {self.bytesize}{self.parity}{self.stopbits}"


class SerialTransport(Transport):
    """A serial line opened with serial.serial_for_url: a device path, socket://, rfc2217://, loop://."""

    def __init__(self, url: str, settings: SerialSettings) -> None:
        self.url = url
        self.settings = settings
        self.description = f"serial {url} ({settings.baudrate} {settings.bytesize}"
        self.description += f"{settings.parity}{settings.stopbits})"
        self._port: Any = None

    def _open_port(self, parity: str) -> Any:
        return serial.serial_for_url(
            self.url,
            baudrate=self.settings.baudrate,
            parity=parity,
            stopbits=self.settings.stopbits,
            bytesize=self.settings.bytesize,
            timeout=0,
            exclusive=True,
        )

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            try:
                port = self._open_port(self.settings.parity)
            except termios.error:
                # Linux pseudo-terminals refuse PARENB (EINVAL); a pty carries bytes, not
                # bits, so there is no parity to set. Anything else is a real error.
                if self.settings.parity == "N" or not is_pseudo_terminal(self.url):
                    raise
                port = self._open_port("N")
                log.info(
                    "%s is a pseudo-terminal: parity %s does not apply there",
                    self.url,
                    self.settings.parity,
                )
        except (serial.SerialException, ValueError, OSError, termios.error) as exc:
            raise LinkError(
                f"cannot open {self.description}: {exc}. {_open_hint(self.url)}"
            ) from exc
        self._port = port

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def _require(self) -> Any:
        if self._port is None:
            raise LinkError(f"{self.description} is not open")
        return self._port

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError, termios.error) as exc:
            self.close()
            raise LinkError(f"write to {self.description} failed: {exc}") from exc

    def read_some(self, max_bytes: int, deadline: float) -> bytes:
        port = self._require()
        try:
            while True:
                data: bytes = port.read(max_bytes)  # timeout=0: what has arrived, at once
                remaining = deadline - time.monotonic()
                if data or remaining <= 0:
                    return data
                fd = _fileno(port)
                if fd is None:
                    # URL handlers without a descriptor (loop://, rfc2217://) block in read().
                    port.timeout = remaining
                    first: bytes = port.read(1)
                    port.timeout = 0
                    return first + port.read(max_bytes - 1) if first else b""
                # Waiting in select() keeps the port's timeout fixed: changing it makes
                # pyserial rewrite termios on every read, which a pty with parity refuses.
                select.select([fd], [], [], remaining)
        except (serial.SerialException, OSError, termios.error) as exc:
            self.close()
            raise LinkError(f"read from {self.description} failed: {exc}") from exc

    def discard_input(self) -> None:
        port = self._require()
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError, termios.error) as exc:
            self.close()
            raise LinkError(f"{self.description} failed: {exc}") from exc


def _open_hint(url: str) -> str:
    """What to check when a serial port will not open, from what the path is."""
    if "://" in url:
        return "Check the URL and that the device behind it answers"
    try:
        mode = os.stat(url).st_mode
    except FileNotFoundError:
        return (
            "No such port: check that the adapter is plugged in, and name it by its "
            "/dev/serial/by-id/… link"
        )
    except OSError:
        return "Check the path and its permissions"
    if not stat.S_ISCHR(mode):
        return "It is not a serial device: name the adapter's port, e.g. /dev/serial/by-id/…"
    if not os.access(url, os.R_OK | os.W_OK):
        return "loggerd may not use it: add its user to the port's group (dialout)"
    return "Check that no other program holds the port"


def _fileno(port: Any) -> int | None:
    try:
        fd = port.fileno()
    except (AttributeError, NotImplementedError, serial.SerialException):
        return None
    return fd if isinstance(fd, int) else None


class TcpTransport(Transport):
    """A TCP connection to a Modbus TCP device or gateway.

    The socket blocks, with its waits bounded by the kernel (SO_RCVTIMEO, SO_SNDTIMEO) rather
    than by Python's socket timeouts, and what arrives is read in one go into a buffer that
    the reads are served from: an exchange costs a send and a receive, and the check for
    anything unasked (a receive that does not wait), three system calls, each a release of
    the GIL that hundreds of loggers' line threads contend for. Python's socket timeouts cost
    a mode switch per call and a poll before each receive, for the MBAP header and again for
    the body.
    """

    def __init__(self, host: str, port: int, connect_timeout_s: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self.description = f"tcp {host}:{port}"
        self._sock: socket.socket | None = None
        self._buffer = bytearray()  # received and not yet read
        self._receive_timeout_ms = -1  # SO_RCVTIMEO as last set, in whole milliseconds

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout_s)
        except OSError as exc:
            raise LinkError(
                f"cannot connect to {self.description}: {exc}. Check the address, the port and "
                "that the device or gateway is powered and on the network"
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)  # blocking: the kernel bounds the waits
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(self.connect_timeout_s))
        self._receive_timeout_ms = -1
        self._buffer.clear()
        self._sock = sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buffer.clear()
        if sock is not None:
            sock.close()

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise LinkError(f"{self.description} is not connected")
        return self._sock

    def write(self, data: bytes) -> None:
        sock = self._require()
        try:
            sock.sendall(data)
        except BlockingIOError:  # SO_SNDTIMEO: the peer has not read for connect_timeout_s
            self.close()
            raise LinkError(
                f"send to {self.description} failed: nothing was taken for "
                f"{self.connect_timeout_s:g} s"
            ) from None
        except OSError as exc:
            self.close()
            raise LinkError(f"send to {self.description} failed: {exc}") from exc

    def read_some(self, max_bytes: int, deadline: float) -> bytes:
        buffer = self._buffer
        if not buffer:
            sock = self._require()
            while True:
                remaining_ms = math.ceil((deadline - time.monotonic()) * 1e3)
                if remaining_ms <= 0:
                    return b""
                # Set only when it changes: one exchange's first receive waits out the device's
                # whole timeout, as the one before did.
                if remaining_ms != self._receive_timeout_ms:
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(remaining_ms / 1e3)
                    )
                    self._receive_timeout_ms = remaining_ms
                try:
                    data = sock.recv(65536)
                    break
                except BlockingIOError:  # SO_RCVTIMEO: the deadline passed
                    return b""
                except InterruptedError:
                    continue
                except OSError as exc:
                    self.close()
                    raise LinkError(f"receive from {self.description} failed: {exc}") from exc
            if not data:
                self.close()
                raise LinkError(f"{self.description} closed the connection")
            if len(data) <= max_bytes:
                return data
            buffer += data
        out = bytes(buffer[:max_bytes])
        del buffer[:max_bytes]
        return out

    def discard_input(self) -> None:
        sock = self._require()
        self._buffer.clear()
        try:
            while True:
                if not sock.recv(65536, socket.MSG_DONTWAIT):
                    # The peer closed the connection (an idle timeout, a gateway reboot):
                    # close our end, so the next request connects afresh.
                    self.close()
                    return
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.close()
            raise LinkError(f"{self.description} failed: {exc}") from exc


def _timeval(seconds: float) -> bytes:
    """A struct timeval for SO_RCVTIMEO / SO_SNDTIMEO."""
    whole = int(seconds)
    return struct.pack("@ll", whole, int((seconds - whole) * 1e6))


def transport_for_url(url: str, settings: SerialSettings) -> Transport:
    """tcp://host:port is Modbus TCP; everything else is a serial line for pyserial."""
    if url.startswith("tcp://"):
        parts = urlsplit(url)
        if not parts.hostname or parts.port is None:
            raise ValueError(f"{url!r}: expected tcp://HOST:PORT")
        return TcpTransport(parts.hostname, parts.port)
    return SerialTransport(url, settings)
