"""A Modbus master over one line: one request at a time, RTU timing kept, strict reply matching.

Several devices on one RS-485 line (or behind one TCP gateway) share one master; its lock
makes their requests take turns. On RTU the master keeps the 3.5-character silence between
frames, discards whatever arrived between exchanges, resynchronises past garbage to the frame
whose address, function, byte count and CRC all match, and after a timeout keeps the line
quiet for a guard time so that a late reply lands in the bin, not in the next exchange. (RTU
has no transaction id: a reply later than timeout + guard cannot be told from the next one
by its shape; the guard is a per-line setting.) On TCP the transaction id does that job.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from loggerd.core.errors import DeviceException, LinkError, NoReply, ProtocolError
from loggerd.link.transport import Transport
from loggerd_protocol import modbus as mb

Framing = Literal["rtu", "tcp"]

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    6: "server device busy",
    11: "gateway target device failed to respond",
}


def _registers(address: int, count: int) -> str:
    if count == 1:
        return f"register 0x{address:04X}"
    return f"registers 0x{address:04X}–0x{address + count - 1:04X} ({count})"


def describe(request: mb.Request) -> str:
    """A request as a person reads it: "a read of input registers 0x0100–0x0142 (67)"."""
    if isinstance(request, mb.ReadRegisters):
        table = "input" if request.function == mb.READ_INPUT else "holding"
        return f"a read of {table} {_registers(request.address, request.count)}"
    if isinstance(request, mb.WriteSingle):
        return f"a write of holding {_registers(request.address, 1)}"
    return f"a write of holding {_registers(request.address, len(request.values))}"


def _expected_reply_length(pdu: bytes) -> int:
    """Bytes of the RTU reply a request asks for: a read returns its registers."""
    if pdu[0] in (mb.READ_HOLDING, mb.READ_INPUT) and len(pdu) >= 5:
        return 5 + 2 * int.from_bytes(pdu[3:5], "big")
    return 8


class ModbusMaster:
    """Sends a request and returns the reply that belongs to it, or raises."""

    protocol = "Modbus"  # what the line speaks, as errors name it

    def __init__(
        self,
        transport: Transport,
        framing: Framing,
        timeout_s: float = 0.5,
        baudrate: int = 19200,
        late_reply_guard_s: float = 0.05,
        bits_per_character: int = 11,
    ) -> None:
        self.transport = transport
        self.framing = framing
        self.timeout_s = timeout_s
        self.timing = mb.RtuTiming(baudrate, bits_per_character)
        self.late_reply_guard_s = late_reply_guard_s
        self.lock = threading.Lock()
        self.closed = False
        self._tid = 0
        self._quiet_at = 0.0  # monotonic time from which the line counts as silent
        self.transactions = 0

    @property
    def description(self) -> str:
        return self.transport.description

    def close(self) -> None:
        """Close the line for good: later requests fail instead of opening it again."""
        with self.lock:
            self.closed = True
            self.transport.close()

    def transact(
        self, unit: int, request: mb.Request, timeout_s: float | None = None
    ) -> mb.RegistersResponse | mb.WriteResponse:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        with self.lock:
            if self.closed:
                raise LinkError(f"{self.transport.description} has been closed (shutting down)")
            if not self.transport.is_open:
                self.transport.open()
            if self.framing == "rtu":
                reply = self._transact_rtu(unit, mb.encode_request(request), timeout)
            else:
                reply = self._transact_tcp(unit, mb.encode_request(request), timeout)
            self.transactions += 1
        try:
            response = mb.decode_response(reply, request)
        except mb.FrameError as exc:
            raise ProtocolError(f"{self._where(unit)}: {exc}") from exc
        if isinstance(response, mb.ExceptionResponse):
            name = EXCEPTION_NAMES.get(response.code, "unknown exception")
            raise DeviceException(
                f"{self._where(unit)} answered exception {response.code:02d} ({name}) to "
                f"{describe(request)}",
                response.code,
            )
        return response

    def read_registers(
        self, unit: int, function: int, address: int, count: int, timeout_s: float | None = None
    ) -> tuple[int, ...]:
        response = self.transact(unit, mb.ReadRegisters(function, address, count), timeout_s)
        assert isinstance(response, mb.RegistersResponse)
        return response.values

    def write_registers(
        self, unit: int, address: int, values: tuple[int, ...], timeout_s: float | None = None
    ) -> None:
        self.transact(unit, mb.WriteMultiple(address, values), timeout_s)

    def _where(self, unit: int) -> str:
        return f"device {unit} on {self.transport.description}"

    def _timeout(self, unit: int, timeout_s: float, got: bytes) -> NoReply:
        detail = f"; {len(got)} bytes came: {got.hex(' ')}" if got else ""
        # Over TCP the line settings are the gateway's business, not the master's.
        check = (
            "the address, baud rate, parity and wiring"
            if self.framing == "rtu"
            else "the address (unit id) and that the device is switched on and connected"
        )
        return NoReply(
            f"no complete reply from {self._where(unit)} within {timeout_s:g} s{detail}. "
            f"Check {check}"
        )

    # --- RTU --------------------------------------------------------------------------------

    def _transact_rtu(self, unit: int, pdu: bytes, timeout_s: float) -> bytes:
        frame = mb.rtu_frame(unit, pdu)
        wait = self._quiet_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        # Whatever came in since the last exchange (a late reply, noise) is not ours.
        self.transport.discard_input()
        sent_at = time.monotonic()
        self.transport.write(frame)
        # The timeout runs from when the reply could be complete: request and (for a read) the
        # reply itself on the wire, so a long reply at a slow baud rate is not cut short.
        wire_s = self.timing.frame_s(len(frame) + _expected_reply_length(pdu))
        deadline = sent_at + wire_s + timeout_s
        ok = False
        try:
            reply = self._read_rtu(unit, pdu[0], deadline, timeout_s)
            ok = True
        finally:
            # After a failure (timeout or garbage) a late reply may still be on its way: let it
            # land in the bin, not in the next exchange, by keeping the line quiet longer.
            quiet_s = self.timing.silence_s if ok else self.late_reply_guard_s
            self._quiet_at = time.monotonic() + quiet_s
        return reply

    def _read_rtu(self, unit: int, function: int, deadline: float, timeout_s: float) -> bytes:
        buf = b""
        while True:
            found = self._find_frame(buf, unit, function)
            if isinstance(found, bytes):
                return found
            chunk = self.transport.read_some(max(found, 1), deadline)
            if not chunk:
                if buf and self._frame_start(buf, unit, function) is not None:
                    # Bytes came but never a frame with a good CRC: say it as it is.
                    raise ProtocolError(
                        f"{self._where(unit)}: no valid reply frame in {len(buf)} bytes "
                        f"received: {buf.hex(' ')}"
                    )
                raise self._timeout(unit, timeout_s, buf)
            buf += chunk

    @staticmethod
    def _frame_start(buf: bytes, unit: int, function: int) -> int | None:
        for i in range(len(buf) - 1):
            if buf[i] == unit and buf[i + 1] in (function, function | 0x80):
                return i
        return None

    @staticmethod
    def _find_frame(buf: bytes, unit: int, function: int) -> bytes | int:
        """The reply PDU in buf, or how many more bytes to read before looking again.

        A candidate starts where our address is followed by our function code (or its
        exception form); garbage before it is skipped, and it counts only with a good CRC.
        """
        need: int | None = None
        for i in range(len(buf) - 1):
            if buf[i] != unit or buf[i + 1] not in (function, function | 0x80):
                continue
            have = len(buf) - i
            length = mb.rtu_response_length(buf[i:])
            if length is None:
                more = 3 - have
            elif have >= length:
                try:
                    return mb.rtu_unframe(buf[i : i + length])[1]
                except mb.FrameError:
                    continue  # not a frame after all: look further on
            else:
                more = length - have
            need = more if need is None else min(need, more)
        return need if need is not None else (1 if buf and buf[-1] == unit else 2)

    # --- TCP --------------------------------------------------------------------------------

    def _transact_tcp(self, unit: int, pdu: bytes, timeout_s: float) -> bytes:
        self.transport.discard_input()
        if not self.transport.is_open:  # the peer had closed it: connect again before asking
            self.transport.open()
        self._tid = (self._tid + 1) & 0xFFFF
        tid = self._tid
        self.transport.write(mb.mbap_frame(tid, unit, pdu))
        deadline = time.monotonic() + timeout_s
        while True:
            header = self.transport.read_exactly(mb.MBAP_HEADER_LEN, deadline)
            if len(header) < mb.MBAP_HEADER_LEN:
                self.transport.close()  # a partial header leaves the stream out of step
                raise self._timeout(unit, timeout_s, header)
            try:
                parsed = mb.mbap_header(header)
            except mb.FrameError as exc:
                self.transport.close()  # the stream is out of step: start afresh
                raise ProtocolError(f"{self.transport.description}: {exc}") from exc
            body = self.transport.read_exactly(parsed.pdu_length, deadline)
            if len(body) < parsed.pdu_length:
                self.transport.close()
                raise self._timeout(unit, timeout_s, header + body)
            if parsed.transaction_id == tid and parsed.unit == unit:
                return body
            # A late reply to an earlier transaction: drop it and keep waiting for ours.
