"""Modbus RTU and TCP framing and the PDUs the reference logger speaks: pure bytes <-> frames.

No I/O and no clocks: the driver and the simulator both frame and parse through this module,
and the golden vectors in firmware_protocol/testcases/ pin it down.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

READ_HOLDING = 0x03
READ_INPUT = 0x04
WRITE_SINGLE = 0x06
WRITE_MULTIPLE = 0x10
SUPPORTED_FUNCTIONS = (READ_HOLDING, READ_INPUT, WRITE_SINGLE, WRITE_MULTIPLE)

MAX_READ_REGISTERS = 125
MAX_WRITE_REGISTERS = 123
MBAP_HEADER_LEN = 7
# An RTU frame is at most 256 bytes: address + 253-byte PDU + CRC.
MAX_RTU_FRAME = 256


class FrameError(ValueError):
    """Bytes that are not a valid frame. The message says what is wrong and where."""


class CrcError(FrameError):
    pass


class UnsupportedFunction(FrameError):
    """A request for a function this device does not implement (answer exception 01)."""

    def __init__(self, function: int) -> None:
        super().__init__(f"function 0x{function:02X} is not supported")
        self.function = function


@dataclass(frozen=True)
class ReadRegisters:
    function: int  # READ_HOLDING or READ_INPUT
    address: int
    count: int


@dataclass(frozen=True)
class WriteSingle:
    address: int
    value: int


@dataclass(frozen=True)
class WriteMultiple:
    address: int
    values: tuple[int, ...]


Request = ReadRegisters | WriteSingle | WriteMultiple


@dataclass(frozen=True)
class RegistersResponse:
    function: int
    values: tuple[int, ...]


@dataclass(frozen=True)
class WriteResponse:
    function: int
    address: int
    value: int  # the value written (06) or the count of registers written (16)


@dataclass(frozen=True)
class ExceptionResponse:
    function: int  # the request's function code, without the 0x80 bit
    code: int


Response = RegistersResponse | WriteResponse | ExceptionResponse


# --- CRC ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RtuTiming:
    """Wire timing of an RTU line (Modbus over serial line V1.02, §2.5.1.1): a character is
    start + data + parity + stop bits (11 for 8E1 or 8N2, 10 for 8N1), frames are separated by
    3.5 characters of silence, fixed at 1.75 ms above 19200 baud."""

    baudrate: int
    bits_per_character: int = 11

    @property
    def character_s(self) -> float:
        return self.bits_per_character / self.baudrate

    @property
    def silence_s(self) -> float:
        return 3.5 * self.character_s if self.baudrate <= 19200 else 1.75e-3

    def frame_s(self, n_bytes: int) -> float:
        return n_bytes * self.character_s


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Modbus CRC-16 (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc


# --- PDUs ---------------------------------------------------------------------------------


def _check_count(count: int, limit: int) -> None:
    if not 1 <= count <= limit:
        raise FrameError(f"register count {count} outside 1..{limit}")


def encode_request(request: Request) -> bytes:
    if isinstance(request, ReadRegisters):
        _check_count(request.count, MAX_READ_REGISTERS)
        return struct.pack(">BHH", request.function, request.address, request.count)
    if isinstance(request, WriteSingle):
        return struct.pack(">BHH", WRITE_SINGLE, request.address, request.value)
    _check_count(len(request.values), MAX_WRITE_REGISTERS)
    n = len(request.values)
    return struct.pack(f">BHHB{n}H", WRITE_MULTIPLE, request.address, n, 2 * n, *request.values)


def decode_request(pdu: bytes) -> Request:
    """Parse a request PDU. Raises UnsupportedFunction or FrameError."""
    if not pdu:
        raise FrameError("empty request PDU")
    function = pdu[0]
    if function in (READ_HOLDING, READ_INPUT, WRITE_SINGLE):
        if len(pdu) != 5:
            raise FrameError(f"function 0x{function:02X} request is {len(pdu)} bytes, expected 5")
        _, address, value = struct.unpack(">BHH", pdu)
        if function == WRITE_SINGLE:
            return WriteSingle(address, value)
        return ReadRegisters(function, address, value)
    if function == WRITE_MULTIPLE:
        if len(pdu) < 6:
            raise FrameError(f"function 0x10 request is {len(pdu)} bytes, expected at least 6")
        _, address, count, byte_count = struct.unpack(">BHHB", pdu[:6])
        if byte_count != 2 * count or len(pdu) != 6 + byte_count:
            raise FrameError(
                f"function 0x10 byte count {byte_count} does not match {count} registers "
                f"and a PDU of {len(pdu)} bytes"
            )
        values = struct.unpack(f">{count}H", pdu[6:])
        return WriteMultiple(address, values)
    raise UnsupportedFunction(function)


def encode_response(response: Response) -> bytes:
    if isinstance(response, ExceptionResponse):
        return bytes((response.function | 0x80, response.code))
    if isinstance(response, WriteResponse):
        return struct.pack(">BHH", response.function, response.address, response.value)
    n = len(response.values)
    return struct.pack(f">BB{n}H", response.function, 2 * n, *response.values)


def decode_response(pdu: bytes, request: Request) -> Response:
    """Parse the response PDU to `request`; a reply that does not belong to it is an error."""
    function = encode_request(request)[0]
    if len(pdu) < 2:
        raise FrameError(f"response PDU of {len(pdu)} bytes is too short")
    if pdu[0] == function | 0x80:
        if len(pdu) != 2:
            raise FrameError(f"exception response is {len(pdu)} bytes, expected 2")
        return ExceptionResponse(function, pdu[1])
    if pdu[0] != function:
        raise FrameError(
            f"response function 0x{pdu[0]:02X} does not match request 0x{function:02X}"
        )
    if isinstance(request, ReadRegisters):
        byte_count = pdu[1]
        if byte_count != 2 * request.count or len(pdu) != 2 + byte_count:
            raise FrameError(
                f"response byte count {byte_count} (PDU {len(pdu)} bytes) does not match "
                f"{request.count} registers requested"
            )
        return RegistersResponse(function, struct.unpack(f">{request.count}H", pdu[2:]))
    if len(pdu) != 5:
        raise FrameError(f"write response is {len(pdu)} bytes, expected 5")
    _, address, value = struct.unpack(">BHH", pdu)
    expected = request.value if isinstance(request, WriteSingle) else len(request.values)
    if address != request.address or value != expected:
        raise FrameError(
            f"write echo (address {address}, value {value}) does not match the request "
            f"(address {request.address}, value {expected})"
        )
    return WriteResponse(function, address, value)


# --- RTU ----------------------------------------------------------------------------------


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    body = bytes((unit,)) + pdu
    return body + struct.pack("<H", crc16(body))


def rtu_unframe(frame: bytes) -> tuple[int, bytes]:
    """Check length and CRC of a whole RTU frame; return (unit, pdu)."""
    if len(frame) < 4:
        raise FrameError(f"RTU frame of {len(frame)} bytes is shorter than the minimum of 4")
    (received,) = struct.unpack("<H", frame[-2:])
    computed = crc16(frame[:-2])
    if received != computed:
        raise CrcError(
            f"CRC mismatch in {frame.hex(' ')}: "
            f"received 0x{received:04X}, computed 0x{computed:04X}"
        )
    return frame[0], frame[1:-2]


def rtu_request_length(buf: bytes) -> int | None:
    """Length of the RTU request frame starting at buf[0], or None while too few bytes are in.

    Raises UnsupportedFunction for a function code whose frame length cannot be known.
    """
    if len(buf) < 2:
        return None
    function = buf[1]
    if function in (READ_HOLDING, READ_INPUT, WRITE_SINGLE):
        return 8
    if function == WRITE_MULTIPLE:
        return None if len(buf) < 7 else 9 + buf[6]
    raise UnsupportedFunction(function)


def rtu_response_length(buf: bytes) -> int | None:
    """Length of the RTU response frame starting at buf[0], or None while too few bytes are in."""
    if len(buf) < 3:
        return None
    function = buf[1]
    if function & 0x80:
        return 5
    if function in (READ_HOLDING, READ_INPUT):
        return 5 + buf[2]
    if function in (WRITE_SINGLE, WRITE_MULTIPLE):
        return 8
    raise FrameError(f"response with unknown function 0x{function:02X}: {buf.hex(' ')}")


# --- TCP ----------------------------------------------------------------------------------


def mbap_frame(transaction_id: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", transaction_id, 0, len(pdu) + 1, unit) + pdu


@dataclass(frozen=True)
class MbapHeader:
    transaction_id: int
    unit: int
    pdu_length: int


def mbap_header(header: bytes) -> MbapHeader:
    """Parse the 7-byte MBAP header; the PDU of `pdu_length` bytes follows it."""
    if len(header) != MBAP_HEADER_LEN:
        raise FrameError(f"MBAP header is {len(header)} bytes, expected 7")
    tid, protocol, length, unit = struct.unpack(">HHHB", header)
    if protocol != 0:
        raise FrameError(f"MBAP protocol id {protocol}, expected 0 (Modbus)")
    if not 2 <= length <= 254:
        raise FrameError(f"MBAP length {length} outside 2..254")
    return MbapHeader(tid, unit, length - 1)
