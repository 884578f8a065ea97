"""The simulated logger's Modbus servers: TCP on a socket, RTU on a pseudo-terminal pair.

Frames are parsed and built with the same codec as the driver's (loggerd_protocol.modbus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import tty
from collections.abc import Mapping

from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import Table

from .logger import ILLEGAL_FUNCTION, ILLEGAL_VALUE, RegisterError, SimulatedLogger

log = logging.getLogger(__name__)

GATEWAY_TARGET_FAILED = 11


def handle_pdu(logger: SimulatedLogger, pdu: bytes) -> bytes:
    """Answer one request PDU: a response PDU or an exception PDU, never an error."""
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
        self, loggers: Mapping[int, SimulatedLogger], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.loggers = dict(loggers)
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

    def _logger_for(self, unit: int) -> SimulatedLogger | None:
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
                else:
                    reply = handle_pdu(logger, pdu)
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
    """Modbus RTU on a pseudo-terminal pair: drivers open `path` like any serial port.

    Several loggers with different addresses share the line (multi-drop). Frames are
    delimited the RTU way: a silence of 3.5 characters starts a new frame.
    """

    def __init__(self, loggers: Mapping[int, SimulatedLogger], baudrate: int = 19200) -> None:
        self.loggers = dict(loggers)
        self.baudrate = baudrate
        # 11 bits a character; 1.75 ms fixed above 19200 baud (Modbus over serial line §2.5.1.1)
        self.silence_s = 3.5 * 11 / baudrate if baudrate <= 19200 else 1.75e-3
        self._master_fd = -1
        self._slave_fd = -1
        self.path = ""
        self._buf = b""
        self._last_rx = 0.0

    async def start(self) -> None:
        self._master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._master_fd)
        tty.setraw(self._slave_fd)
        os.set_blocking(self._master_fd, False)
        # Keeping our own handle on the slave side means a driver closing the port does
        # not hang up the line (reads on the master would then fail with EIO).
        self.path = os.ttyname(self._slave_fd)
        asyncio.get_running_loop().add_reader(self._master_fd, self._on_readable)

    @property
    def url(self) -> str:
        return self.path

    async def stop(self) -> None:
        if self._master_fd >= 0:
            asyncio.get_running_loop().remove_reader(self._master_fd)
            os.close(self._master_fd)
            os.close(self._slave_fd)
            self._master_fd = self._slave_fd = -1

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        now = time.monotonic()
        if self._buf and now - self._last_rx > max(self.silence_s, 0.05):
            # A silence ended the previous (incomplete) frame: discard it.
            self._buf = b""
        self._last_rx = now
        self._buf += data
        self._process()

    def _process(self) -> None:
        while self._buf:
            try:
                needed = mb.rtu_request_length(self._buf)
            except mb.UnsupportedFunction:
                needed = len(self._buf)  # cannot know its length: answer with what came
            if needed is None or len(self._buf) < needed:
                return
            frame, self._buf = self._buf[:needed], self._buf[needed:]
            try:
                unit, pdu = mb.rtu_unframe(frame)
            except mb.FrameError:
                # A corrupted request is never answered (Modbus serial line spec).
                continue
            logger = self.loggers.get(unit)
            if unit == 0:
                for each in self.loggers.values():
                    handle_pdu(each, pdu)  # broadcast: act, never answer
                continue
            if logger is None:
                continue  # another device's frame on a shared line
            os.write(self._master_fd, mb.rtu_frame(unit, handle_pdu(logger, pdu)))
