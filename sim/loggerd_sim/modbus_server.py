"""The simulated logger's Modbus servers: TCP on a socket, RTU on a pseudo-terminal pair.

Frames are parsed and built with the same codec as the driver's (loggerd_protocol.modbus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import threading
import time
import tty
from collections.abc import Mapping
from typing import Protocol

from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import Table

from .faults import Answer, Fault, FaultPlan
from .logger import DEVICE_BUSY, ILLEGAL_FUNCTION, ILLEGAL_VALUE, RegisterError

log = logging.getLogger(__name__)

GATEWAY_TARGET_FAILED = 11


class RegisterDevice(Protocol):
    """What a Modbus server serves: a simulated logger, or a device built from a profile."""

    def read_registers(self, table: Table, address: int, count: int) -> tuple[int, ...]: ...

    def write_registers(self, address: int, words: tuple[int, ...]) -> None: ...


# The TCP server answers on the event loop and the RTU server in its own thread; one lock
# keeps a device's state consistent between them.
DEVICE_LOCK = threading.Lock()


def handle_pdu(logger: RegisterDevice, pdu: bytes) -> bytes:
    """Answer one request PDU: a response PDU or an exception PDU, never an error."""
    with DEVICE_LOCK:
        return _handle_pdu(logger, pdu)


def answer(device: RegisterDevice, pdu: bytes, fault: Fault | None) -> bytes:
    """What a device answers, fault drawn: a busy device answers exception 06 instead of
    executing the request (PROTOCOL.md §8, check 4); otherwise it executes it, and whatever
    else goes wrong happens to the reply on its way back."""
    if fault == "busy":
        return mb.encode_response(mb.ExceptionResponse(pdu[0] & 0x7F, DEVICE_BUSY))
    return handle_pdu(device, pdu)


def _handle_pdu(logger: RegisterDevice, pdu: bytes) -> bytes:
    try:
        request = mb.decode_request(pdu)
    except mb.UnsupportedFunction as exc:
        return mb.encode_response(mb.ExceptionResponse(exc.function, ILLEGAL_FUNCTION))
    except mb.FrameError:
        return mb.encode_response(mb.ExceptionResponse(pdu[0] & 0x7F, ILLEGAL_VALUE))
    function = pdu[0]
    try:
        if isinstance(request, mb.ReadRegisters):
            table: Table = "holding" if request.function == mb.READ_HOLDING else "input"
            values = logger.read_registers(table, request.address, request.count)
            return mb.encode_response(mb.RegistersResponse(request.function, values))
        if isinstance(request, mb.WriteSingle):
            logger.write_registers(request.address, (request.value,))
            return mb.encode_response(mb.WriteResponse(function, request.address, request.value))
        logger.write_registers(request.address, request.values)
        return mb.encode_response(mb.WriteResponse(function, request.address, len(request.values)))
    except RegisterError as exc:
        log.debug("exception %d: %s", exc.code, exc)
        return mb.encode_response(mb.ExceptionResponse(function, exc.code))


class ModbusTcpServer:
    """Modbus TCP: each unit id (or 255 with a single logger) reaches one simulated logger."""

    def __init__(
        self,
        loggers: Mapping[int, RegisterDevice],
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        self.loggers = dict(loggers)
        self.faults = faults
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def reboot(self) -> None:
        """The gateway restarts: every connection drops; it listens again on the same port."""
        await self.stop()
        await self.start()

    def _logger_for(self, unit: int) -> RegisterDevice | None:
        if unit in self.loggers:
            return self.loggers[unit]
        if unit == 255 and len(self.loggers) == 1:
            return next(iter(self.loggers.values()))
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                header = mb.mbap_header(await reader.readexactly(mb.MBAP_HEADER_LEN))
                pdu = await reader.readexactly(header.pdu_length)
                logger = self._logger_for(header.unit)
                if logger is None:
                    reply = mb.encode_response(
                        mb.ExceptionResponse(pdu[0] & 0x7F, GATEWAY_TARGET_FAILED)
                    )
                    writer.write(mb.mbap_frame(header.transaction_id, header.unit, reply))
                    await writer.drain()
                    continue
                fault = self.faults.draw(header.unit, pdu) if self.faults is not None else None
                reply = answer(logger, pdu, fault)
                if self.faults is not None:
                    self.faults.log(Answer(time.monotonic(), header.unit, pdu, reply, fault))
                    if fault in ("drop", "reboot"):
                        continue  # TCP has no CRC to break: crc and garbage do not apply
                    if fault == "late":
                        await asyncio.sleep(self.faults.rates.late_delay_s)
                writer.write(mb.mbap_frame(header.transaction_id, header.unit, reply))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, mb.FrameError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class ModbusRtuPtyServer:
    """Modbus RTU on a pseudo-terminal pair: drivers open `url` like any serial port.

    Several devices with different addresses share the line (multi-drop). A pty moves bytes
    instantly, so the wire is emulated: a reply leaves when the request would have finished
    arriving at `baudrate` (characters of `bits_per_character`: 11 for 8E1), plus the
    3.5-character silence, the device's turnaround and the reply's own transmission time. The
    server runs in its own thread so that this timing does not depend on an event loop's timer
    resolution.

    `link` names a symlink to the pty, as /dev/serial/by-id/… names a USB adapter: vanish()
    closes the pty and removes the link (the adapter was unplugged), reappear() makes a new
    pty behind the same link.
    """

    def __init__(
        self,
        devices: Mapping[int, RegisterDevice],
        baudrate: int = 19200,
        *,
        turnaround_s: float = 0.002,
        emulate_timing: bool = True,
        faults: FaultPlan | None = None,
        link: str | os.PathLike[str] | None = None,
        bits_per_character: int = 11,
    ) -> None:
        self.devices = dict(devices)
        self.baudrate = baudrate
        self.turnaround_s = turnaround_s
        self.emulate_timing = emulate_timing
        self.faults = faults
        self.link = os.fspath(link) if link is not None else None
        timing = mb.RtuTiming(baudrate, bits_per_character)
        self.character_s = timing.character_s
        self.silence_s = timing.silence_s
        self.path = ""
        self.requests = 0
        self._master_fd = -1
        self._slave_fd = -1
        self._wake_r, self._wake_w = -1, -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd_lock = threading.Lock()
        self._generation = 0  # changes whenever the pty is closed or replaced

    @property
    def url(self) -> str:
        return self.link or self.path

    async def start(self) -> None:
        self._open_pty()
        self._wake_r, self._wake_w = os.pipe()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-rtu", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._wake_w >= 0:
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def vanish(self) -> None:
        """The adapter is unplugged: the tty and its by-id link disappear."""
        self._close_pty()
        os.write(self._wake_w, b"x")

    def reappear(self) -> None:
        """The adapter is plugged in again: a new tty behind the same link."""
        self._open_pty()
        os.write(self._wake_w, b"x")

    def _open_pty(self) -> None:
        with self._fd_lock:
            master, slave = os.openpty()
            tty.setraw(master)
            tty.setraw(slave)
            # Keeping our own handle on the slave side means a driver closing the port does
            # not hang up the line (reads on the master would then fail with EIO).
            self._master_fd, self._slave_fd = master, slave
            self._generation += 1
            self.path = os.ttyname(slave)
            if self.link is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.link)
                os.symlink(self.path, self.link)

    def _close_pty(self) -> None:
        with self._fd_lock:
            if self.link is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.link)
            for fd in (self._master_fd, self._slave_fd):
                if fd >= 0:
                    os.close(fd)
            self._master_fd = self._slave_fd = -1
            self._generation += 1

    def _run(self) -> None:
        buf = b""
        frame_started = 0.0
        last_rx = 0.0
        while not self._stop.is_set():
            with self._fd_lock:
                fd, generation = self._master_fd, self._generation
            try:
                ready, _, _ = select.select([self._wake_r] + ([fd] if fd >= 0 else []), [], [], 1.0)
            except (OSError, ValueError):
                continue  # vanish() closed the pty between our look and the select
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
                continue
            if fd not in ready:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                continue  # the pty was closed under us (vanish) or hung up
            now = time.monotonic()
            if buf and now - last_rx > max(self.silence_s, 0.05):
                buf = b""  # a silence ended the previous, incomplete frame: discard it
            if not buf:
                frame_started = now
            last_rx = now
            buf += data
            while buf:
                try:
                    needed = mb.rtu_request_length(buf)
                except mb.UnsupportedFunction:
                    needed = len(buf)  # length unknown: take what came as the frame
                if needed is None or len(buf) < needed:
                    break
                frame, buf = buf[:needed], buf[needed:]
                self._answer(fd, generation, frame, frame_started)
                frame_started = time.monotonic()

    def _answer(self, fd: int, generation: int, frame: bytes, started: float) -> None:
        try:
            unit, pdu = mb.rtu_unframe(frame)
        except mb.FrameError:
            return  # a corrupted request is never answered (Modbus serial line spec)
        if unit == 0:
            for each in self.devices.values():
                handle_pdu(each, pdu)  # broadcast: act, never answer
            return
        device = self.devices.get(unit)
        if device is None:
            return  # another device's frame on a shared line
        self.requests += 1
        fault = self.faults.draw(unit, pdu) if self.faults is not None else None
        response = answer(device, pdu, fault)
        reply = mb.rtu_frame(unit, response)
        due = started
        if self.emulate_timing:
            due += (len(frame) + len(reply)) * self.character_s + self.silence_s
            due += self.turnaround_s
        if self.faults is not None:
            self.faults.log(Answer(due, unit, pdu, response, fault))
            if fault in ("drop", "reboot"):
                return
            if fault == "crc":
                reply = self.faults.corrupt(reply)
            elif fault == "garbage":
                reply = self.faults.garbage() + reply
            elif fault == "late":
                due += self.faults.rates.late_delay_s
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        with self._fd_lock:
            # A new pty may reuse the old fd number: answer only on the line that asked.
            if generation == self._generation:
                with contextlib.suppress(OSError):
                    os.write(fd, reply)
