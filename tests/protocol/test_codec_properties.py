"""Property tests of the pure codecs: Modbus framing and PDUs, registers <-> values, records."""

from __future__ import annotations

import math
import struct
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pymodbus.framer.rtu import FramerRTU

from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import Definition, Field, reference_logger
from loggerd_protocol.registers import float32_decimal
from loggerd_protocol.values import (
    EMPTY_SEQUENCE,
    Record,
    decode_field,
    decode_record,
    encode_field,
    encode_record,
)

from .float32 import shortest_decimal

DEFN: Definition = reference_logger()
RECORD_FIELDS = {f.name: f for f in DEFN.record_fields}
RECORD_LIMIT = 327.67  # int16 x 0.01 without -32768, which means "missing"

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
unit_ids = st.integers(0, 255)


# --- PDUs ------------------------------------------------------------------------------------

reads = st.builds(
    mb.ReadRegisters,
    function=st.sampled_from([mb.READ_HOLDING, mb.READ_INPUT]),
    address=u16,
    count=st.integers(1, mb.MAX_READ_REGISTERS),
)
write_singles = st.builds(mb.WriteSingle, address=u16, value=u16)
write_multiples = st.builds(
    mb.WriteMultiple,
    address=u16,
    values=st.lists(u16, min_size=1, max_size=mb.MAX_WRITE_REGISTERS).map(tuple),
)
requests = st.one_of(reads, write_singles, write_multiples)


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[mb.Request, mb.Response]:
    """A request and a well-formed response to it (normal or exception)."""
    request = draw(requests)
    function = mb.encode_request(request)[0]
    if draw(st.booleans()):
        return request, mb.ExceptionResponse(function, draw(st.integers(1, 0xFF)))
    if isinstance(request, mb.ReadRegisters):
        values = draw(st.lists(u16, min_size=request.count, max_size=request.count))
        return request, mb.RegistersResponse(function, tuple(values))
    if isinstance(request, mb.WriteSingle):
        return request, mb.WriteResponse(function, request.address, request.value)
    return request, mb.WriteResponse(function, request.address, len(request.values))


@given(requests)
def test_request_pdu_round_trip(request: mb.Request) -> None:
    assert mb.decode_request(mb.encode_request(request)) == request


@given(exchanges())
def test_response_pdu_round_trip(exchange: tuple[mb.Request, mb.Response]) -> None:
    request, response = exchange
    assert mb.decode_response(mb.encode_response(response), request) == response


@given(st.integers(0, 0xFF).filter(lambda f: f not in mb.SUPPORTED_FUNCTIONS and f < 0x80))
def test_unsupported_functions_are_named(function: int) -> None:
    with pytest.raises(mb.UnsupportedFunction) as info:
        mb.decode_request(bytes((function, 0, 0, 0, 1)))
    assert info.value.function == function


# --- RTU framing -----------------------------------------------------------------------------


@given(unit_ids, st.binary(min_size=1, max_size=253))
def test_rtu_frame_round_trip(unit: int, pdu: bytes) -> None:
    frame = mb.rtu_frame(unit, pdu)
    assert len(frame) == len(pdu) + 3
    assert mb.rtu_unframe(frame) == (unit, pdu)


@given(st.binary(max_size=300))
@example(b"")
@example(b"\x01\x03\x00\x00\x00\x01")
def test_crc_agrees_with_pymodbus(data: bytes) -> None:
    # pymodbus returns the CRC byte-swapped so that big-endian packing gives the wire order.
    assert struct.pack("<H", mb.crc16(data)) == struct.pack(">H", FramerRTU.compute_CRC(data))


@st.composite
def rtu_frames(draw: st.DrawFn) -> bytes:
    unit = draw(unit_ids)
    request, response = draw(exchanges())
    pdu = draw(st.sampled_from([mb.encode_request(request), mb.encode_response(response)]))
    return mb.rtu_frame(unit, pdu)


@given(rtu_frames(), st.data())
def test_any_single_bit_error_is_detected(frame: bytes, data: st.DataObject) -> None:
    bit = data.draw(st.integers(0, 8 * len(frame) - 1), label="bit")
    corrupted = bytearray(frame)
    corrupted[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(mb.FrameError):  # CrcError is a FrameError
        mb.rtu_unframe(bytes(corrupted))


@given(requests, unit_ids, st.binary(max_size=8))
def test_rtu_request_length_from_any_prefix(
    request: mb.Request, unit: int, following: bytes
) -> None:
    frame = mb.rtu_frame(unit, mb.encode_request(request))
    # The length is known from the function code, and for function 16 from the byte count.
    known_after = 7 if isinstance(request, mb.WriteMultiple) else 2
    stream = frame + following  # whatever comes next on the line must not matter
    for k in range(len(stream) + 1):
        expected = None if k < known_after else len(frame)
        assert mb.rtu_request_length(stream[:k]) == expected, k


@given(exchanges(), unit_ids, st.binary(max_size=8))
def test_rtu_response_length_from_any_prefix(
    exchange: tuple[mb.Request, mb.Response], unit: int, following: bytes
) -> None:
    frame = mb.rtu_frame(unit, mb.encode_response(exchange[1]))
    stream = frame + following
    for k in range(len(stream) + 1):
        expected = None if k < 3 else len(frame)
        assert mb.rtu_response_length(stream[:k]) == expected, k


@given(u16, unit_ids, st.binary(min_size=1, max_size=253))
def test_mbap_round_trip(transaction_id: int, unit: int, pdu: bytes) -> None:
    frame = mb.mbap_frame(transaction_id, unit, pdu)
    header = mb.mbap_header(frame[: mb.MBAP_HEADER_LEN])
    assert header == mb.MbapHeader(transaction_id, unit, len(pdu))
    assert frame[mb.MBAP_HEADER_LEN :] == pdu


# --- registers <-> values ----------------------------------------------------------------------


def synthetic(kind: str, words: int, scale: float = 1.0) -> Field:
    return Field(name=f"test_{kind}", address=0, type=kind, words=words, scale=scale)  # type: ignore[arg-type]


# One field of every type: from the map where it has one, made up where it has none (int32,
# unscaled int16).
FIELDS_BY_TYPE = {
    "uint16": DEFN.field("logging_interval"),
    "uint32": DEFN.field("clock"),
    "float32": DEFN.field("temperature_1"),
    "ascii": DEFN.field("model_name"),
    "int16": synthetic("int16", 1),
    "int32": synthetic("int32", 2),
    "int16_scaled": RECORD_FIELDS["temperature_1"],
}
VALUES_BY_TYPE: dict[str, st.SearchStrategy[int | float | str]] = {
    "uint16": u16,
    "uint32": u32,
    "float32": st.floats(width=32),  # includes NaN, infinities, subnormals and -0.0
    "ascii": st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16),
    "int16": st.integers(-0x8000, 0x7FFF),
    "int32": st.integers(-0x80000000, 0x7FFFFFFF),
    "int16_scaled": st.integers(-0x8000, 0x7FFF).map(lambda raw: raw * 0.01),
}


@pytest.mark.parametrize("kind", sorted(FIELDS_BY_TYPE))
@given(data=st.data())
def test_field_value_round_trip(kind: str, data: st.DataObject) -> None:
    f = FIELDS_BY_TYPE[kind]
    value = data.draw(VALUES_BY_TYPE[kind], label="value")
    words = encode_field(f, value)
    assert len(words) == f.words
    assert all(0 <= w <= 0xFFFF for w in words)
    decoded = decode_field(f, words)
    if isinstance(value, float) and math.isnan(value):
        assert isinstance(decoded, float) and math.isnan(decoded)
        assert words == (0x7FC0, 0x0000)  # always the one quiet NaN of the map
    elif kind == "int16_scaled":
        assert isinstance(decoded, float)
        assert decoded == pytest.approx(value, abs=1e-9)
        assert encode_field(f, decoded) == words
    elif kind == "float32":
        assert isinstance(decoded, float) and isinstance(value, float)
        assert decoded == shortest_decimal(value)  # the same float32, as a short decimal
        assert encode_field(f, decoded) == words
        assert math.copysign(1.0, decoded) == math.copysign(1.0, value)
    else:
        assert decoded == value
        assert type(decoded) is type(value)


@given(st.integers(-0x7FFF, 0x7FFF))
@example(-32765)  # -327.65, not -327.65000000000003
@example(2137)
def test_a_record_value_is_the_decimal_it_counts(raw: int) -> None:
    """A record's int16 in 0.01 units decodes to the float nearest the decimal: no noise."""
    decoded = decode_field(RECORD_FIELDS["temperature_1"], (raw & 0xFFFF,))
    assert decoded == float(Decimal(raw).scaleb(-2))


@pytest.mark.parametrize("kind", sorted(set(FIELDS_BY_TYPE) - {"ascii"}))
@given(data=st.data())
def test_any_registers_decode_and_encode_back(kind: str, data: st.DataObject) -> None:
    f = FIELDS_BY_TYPE[kind]
    words = tuple(data.draw(st.lists(u16, min_size=f.words, max_size=f.words), label="words"))
    value = decode_field(f, words)
    if isinstance(value, float) and math.isnan(value):
        return  # every NaN pattern decodes to NaN; it encodes back as the canonical one
    assert encode_field(f, value) == words


# --- records ---------------------------------------------------------------------------------

record_values = st.one_of(
    st.just(math.nan),
    st.floats(min_value=-RECORD_LIMIT, max_value=RECORD_LIMIT),
)


@st.composite
def records(draw: st.DrawFn, values: st.SearchStrategy[float] = record_values) -> Record:
    return Record(
        sequence=draw(st.integers(0, EMPTY_SEQUENCE - 1)),
        timestamp=draw(u32),
        status=draw(u16),
        values={name: draw(values, label=name) for name in DEFN.point_names()},
    )


@given(records())
def test_record_round_trip_quantises_to_a_hundredth(record: Record) -> None:
    words = encode_record(DEFN, record)
    assert len(words) == DEFN.record_registers
    decoded = decode_record(DEFN, words)
    assert decoded is not None
    assert (decoded.sequence, decoded.timestamp, decoded.status) == (
        record.sequence,
        record.timestamp,
        record.status,
    )
    assert sorted(decoded.values) == sorted(record.values)
    for name, value in record.values.items():
        got = decoded.values[name]
        if math.isnan(value):
            assert math.isnan(got), name
        else:
            assert abs(got - value) <= 0.005 + 1e-9, name
            raw = words[RECORD_FIELDS[name].address]
            assert raw != 0x8000, f"{name}: a valid value was stored as 'missing'"
    assert encode_record(DEFN, decoded) == words  # quantising twice changes nothing


@given(records(st.floats(allow_nan=False)))
def test_record_values_beyond_int16_are_limited_not_lost(record: Record) -> None:
    decoded = decode_record(DEFN, encode_record(DEFN, record))
    assert decoded is not None
    for name, value in record.values.items():
        got = decoded.values[name]
        assert not math.isnan(got), name
        assert abs(got) <= RECORD_LIMIT + 1e-9, name
        if abs(value) <= RECORD_LIMIT:
            assert abs(got - value) <= 0.005 + 1e-9, name
        else:
            assert got == pytest.approx(math.copysign(RECORD_LIMIT, value), abs=1e-9), name


def test_empty_slot_round_trip() -> None:
    words = encode_record(DEFN, None)
    assert words[:2] == (0xFFFF, 0xFFFF)
    assert decode_record(DEFN, words) is None


@given(st.lists(u16, min_size=23, max_size=23))
def test_any_record_registers_decode(words: list[int]) -> None:
    decoded = decode_record(DEFN, words)
    if words[:2] == [0xFFFF, 0xFFFF]:
        assert decoded is None
        return
    assert decoded is not None
    for name, value in decoded.values.items():
        raw = words[RECORD_FIELDS[name].address]
        assert math.isnan(value) == (raw == 0x8000), name


@given(bits=st.integers(0, 2**32 - 1))
@example(bits=0x80000000)  # -0.0: one key with 0.0 in a memory of values
@example(bits=0x00000000)
@example(bits=0x7F800000)  # +inf
@example(bits=0x7FC00001)  # a NaN
def test_float32_decimal_is_the_shortest_decimal_first_time_and_from_memory(bits: int) -> None:
    """float32_decimal remembers what it worked out: asked again for the same float32 (and
    after its sign twin), it gives the same shortest decimal, sign of zero included."""
    x = struct.unpack(">f", struct.pack(">I", bits))[0]
    twin = struct.unpack(">f", struct.pack(">I", bits ^ 0x80000000))[0]
    for value in (x, twin, x):
        got, want = float32_decimal(value), shortest_decimal(value)
        if math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
