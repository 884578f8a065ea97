"""A Modbus master over one transport: one request at a time, strict reply matching."""

from __future__ import annotations

import time
from typing import Literal

from loggerd_protocol import modbus as mb

from .errors import DeviceException, LinkError, ProtocolError
from .transport import Transport

Framing = Literal["rtu", "tcp"]

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    6: "server device busy",
    11: "gateway target device failed to respond",
}


class ModbusMaster:
    """Sends a request and returns the reply that belongs to it, or raises.

    A reply is accepted only if address, function, byte count and CRC (RTU) or transaction id
    (TCP) all match; stray bytes left over from an earlier, timed-out exchange are discarded
    before each request so that they can never be taken for the next reply.
    """

    def __init__(self, transport: Transport, framing: Framing, timeout_s: float) -> None:
        self.transport = transport
        self.framing = framing
        self.timeout_s = timeout_s
        self._tid = 0

    def transact(self, unit: int, request: mb.Request) -> mb.RegistersResponse | mb.WriteResponse:
        if not self.transport.is_open:
            self.transport.open()
        self.transport.discard_input()
        pdu = mb.encode_request(request)
        deadline = time.monotonic() + self.timeout_s
        if self.framing == "rtu":
            self.transport.write(mb.rtu_frame(unit, pdu))
            reply = self._read_rtu(unit, deadline)
        else:
            self._tid = (self._tid + 1) & 0xFFFF
            self.transport.write(mb.mbap_frame(self._tid, unit, pdu))
            reply = self._read_tcp(self._tid, deadline)
        try:
            response = mb.decode_response(reply, request)
        except mb.FrameError as exc:
            raise ProtocolError(f"{self._where(unit)}: {exc}") from exc
        if isinstance(response, mb.ExceptionResponse):
            name = EXCEPTION_NAMES.get(response.code, "unknown exception")
            raise DeviceException(
                f"{self._where(unit)} answered exception {response.code:02d} ({name}) to {request}",
                response.code,
            )
        return response

    def read_registers(self, unit: int, function: int, address: int, count: int) -> tuple[int, ...]:
        response = self.transact(unit, mb.ReadRegisters(function, address, count))
        assert isinstance(response, mb.RegistersResponse)
        return response.values

    def write_registers(self, unit: int, address: int, values: tuple[int, ...]) -> None:
        self.transact(unit, mb.WriteMultiple(address, values))

    def _where(self, unit: int) -> str:
        return f"device {unit} on {self.transport.description}"

    def _timeout(self, unit: int, got: bytes) -> LinkError:
        detail = f"; {len(got)} bytes came: {got.hex(' ')}" if got else ""
        return LinkError(
            f"no complete reply from {self._where(unit)} within {self.timeout_s:g} s{detail}. "
            "Check the address, baud rate, parity and wiring"
        )

    def _read_rtu(self, unit: int, deadline: float) -> bytes:
        buf = b""
        while True:
            try:
                needed = mb.rtu_response_length(buf)
            except mb.FrameError as exc:
                raise ProtocolError(f"{self._where(unit)}: {exc}") from exc
            if needed is not None and len(buf) >= needed:
                break
            chunk = self.transport.read_some((needed or 3) - len(buf), deadline)
            if not chunk:
                raise self._timeout(unit, buf)
            buf += chunk
        try:
            got_unit, pdu = mb.rtu_unframe(buf[:needed])
        except mb.FrameError as exc:
            raise ProtocolError(f"{self._where(unit)}: {exc}") from exc
        if got_unit != unit:
            raise ProtocolError(f"{self._where(unit)}: reply from address {got_unit}")
        return pdu

    def _read_tcp(self, tid: int, deadline: float) -> bytes:
        while True:
            header = self.transport.read_exactly(mb.MBAP_HEADER_LEN, deadline)
            if len(header) < mb.MBAP_HEADER_LEN:
                raise self._timeout(-1, header)
            try:
                parsed = mb.mbap_header(header)
            except mb.FrameError as exc:
                self.transport.close()  # the stream is out of step: start afresh
                raise ProtocolError(f"{self.transport.description}: {exc}") from exc
            pdu = self.transport.read_exactly(parsed.pdu_length, deadline)
            if len(pdu) < parsed.pdu_length:
                raise self._timeout(parsed.unit, header + pdu)
            if parsed.transaction_id == tid:
                return pdu
            # A late reply to an earlier transaction: drop it and keep waiting for ours.
