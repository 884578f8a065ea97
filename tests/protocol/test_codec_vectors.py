"""The Modbus codec against the golden byte vectors in firmware_protocol/testcases/.

Each folder holds one case.toml (format: firmware_protocol/testcases/README.md). The vectors
are the reference: the tests read them and never regenerate them. Every RTU CRC is also checked
with pymodbus's CRC, an implementation independent of ours.
"""

from __future__ import annotations

import math
import struct
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymodbus.framer.rtu import FramerRTU

from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import Definition, reference_logger
from loggerd_protocol.values import decode_block, decode_record

CASES_DIR = Path(__file__).resolve().parents[2] / "firmware_protocol" / "testcases"
# The ascii_* cases are the RS-232 command protocol's (tests/protocol/test_ascii_vectors.py).
CASE_NAMES = sorted(
    p.parent.name for p in CASES_DIR.glob("*/case.toml") if not p.parent.name.startswith("ascii_")
)
DEFN: Definition = reference_logger()

# Decoded record values are scaled int16 (raw x 0.01): compare them with the decimal reading
# up to float rounding. float32 register values are compared as float32: the codec decodes one
# as its shortest decimal (21.37), which is the same float32 as the vector's exact binary value
# (21.3700008392334).
RECORD_VALUE_TOLERANCE = 1e-9

REQUIRED_CASES = {
    "crc_anchor_classic_frames",
    "read_identity_rtu",
    "read_live_rtu",
    "read_live_tcp",
    "read_clock_rtu",
    "write_clock_rtu",
    "backfill_window_rtu",
    "exception_01_illegal_function",
    "exception_02_illegal_address",
    "exception_03_pointer_out_of_range",
    "error_crc_corrupted",
    "error_byte_count_mismatch",
}


@dataclass(frozen=True)
class Exchange:
    request: bytes
    response: bytes  # empty: no reply (broadcast)
    request_table: Mapping[str, Any]
    decoded: Mapping[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    framing: str
    unit: int
    transaction_id: int | None
    expect_error: str | None
    expect_request_error: str | None
    exchanges: Sequence[Exchange]


def load_case(name: str) -> Case:
    doc = tomllib.loads((CASES_DIR / name / "case.toml").read_text(encoding="utf-8"))
    assert doc["framing"] in ("rtu", "tcp"), doc["framing"]
    assert isinstance(doc["description"], str) and doc["description"]
    requests, responses = doc["request_hex"], doc["response_hex"]
    if isinstance(requests, str):
        requests, responses = [requests], [responses]
        request_tables, decoded = [doc["request"]], [doc.get("decoded", {})]
    else:
        request_tables = doc["request"]
        decoded = doc.get("decoded", [{}] * len(requests))
    assert len(requests) == len(responses) == len(request_tables) == len(decoded), name
    return Case(
        name=name,
        framing=doc["framing"],
        unit=doc["unit"],
        transaction_id=doc.get("transaction_id"),
        expect_error=doc.get("expect_error"),
        expect_request_error=doc.get("expect_request_error"),
        exchanges=[
            Exchange(bytes.fromhex(q), bytes.fromhex(r), t, d)
            for q, r, t, d in zip(requests, responses, request_tables, decoded, strict=True)
        ],
    )


@pytest.fixture(params=CASE_NAMES)
def case(request: pytest.FixtureRequest) -> Case:
    return load_case(request.param)


# --- helpers --------------------------------------------------------------------------------


def unframe(case: Case, frame: bytes) -> tuple[int, bytes]:
    """(unit, pdu) of a whole frame, checking what the framing carries besides the PDU."""
    if case.framing == "rtu":
        return mb.rtu_unframe(frame)
    header = mb.mbap_header(frame[: mb.MBAP_HEADER_LEN])
    assert header.transaction_id == case.transaction_id
    assert header.pdu_length == len(frame) - mb.MBAP_HEADER_LEN
    return header.unit, frame[mb.MBAP_HEADER_LEN :]


def frame(case: Case, unit: int, pdu: bytes) -> bytes:
    if case.framing == "rtu":
        return mb.rtu_frame(unit, pdu)
    assert case.transaction_id is not None
    return mb.mbap_frame(case.transaction_id, unit, pdu)


def expected_request(table: Mapping[str, Any]) -> mb.Request:
    function = table["function"]
    if function in (mb.READ_HOLDING, mb.READ_INPUT):
        return mb.ReadRegisters(function, table["address"], table["count"])
    if function == mb.WRITE_SINGLE:
        return mb.WriteSingle(table["address"], table["value"])
    assert function == mb.WRITE_MULTIPLE, f"no request type for function {function}"
    return mb.WriteMultiple(table["address"], tuple(table["values"]))


def table_of(function: int) -> str:
    return "input" if function == mb.READ_INPUT else "holding"


def decoded_response(request: mb.Request, response: mb.Response) -> dict[str, Any]:
    """What a response decodes to, in the vocabulary of case.toml's [decoded] table."""
    if isinstance(response, mb.ExceptionResponse):
        return {"function": response.function, "exception_code": response.code}
    if isinstance(response, mb.WriteResponse):
        return {"function": response.function, "address": response.address, "value": response.value}
    assert isinstance(request, mb.ReadRegisters)
    fields = DEFN.table(table_of(request.function))  # type: ignore[arg-type]
    out: dict[str, Any] = dict(decode_block(fields, request.address, response.values))
    end = request.address + request.count
    for f in fields:
        if f.type == "record" and f.address >= request.address and f.end <= end:
            words = response.values[f.address - request.address : f.end - request.address]
            record = decode_record(DEFN, words)
            out[f.name] = (
                "empty"
                if record is None
                else {
                    "sequence": record.sequence,
                    "timestamp": record.timestamp,
                    "status": record.status,
                    **record.values,
                }
            )
    return out


def assert_same(expected: Any, actual: Any, where: str, tolerance: float | None = None) -> None:
    """Equal, with "nan" matching a float NaN, and floats within `tolerance` (None: the same
    float32)."""
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping), f"{where}: {actual!r} is not a table"
        assert sorted(actual) == sorted(expected), f"{where}: keys differ"
        for key, value in expected.items():
            assert_same(value, actual[key], f"{where}.{key}", tolerance)
    elif expected == "nan":
        assert isinstance(actual, float) and math.isnan(actual), f"{where}: {actual!r} is not NaN"
    elif isinstance(expected, float) and tolerance is None:
        assert isinstance(actual, float), f"{where}: {actual!r} is not a float"
        assert struct.pack(">f", actual) == struct.pack(">f", expected), (
            f"{where}: {actual!r} is not the float32 {expected!r}"
        )
    elif isinstance(expected, float):
        assert isinstance(actual, float), f"{where}: {actual!r} is not a float"
        assert math.isclose(actual, expected, rel_tol=0.0, abs_tol=tolerance), (
            f"{where}: {actual!r} != {expected!r}"
        )
    else:
        assert type(actual) is type(expected) and actual == expected, (
            f"{where}: {actual!r} != {expected!r}"
        )


def assert_decoded(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> None:
    assert sorted(actual) == sorted(expected), "decoded fields differ from the vector's"
    for name, value in expected.items():
        record_slot = isinstance(value, Mapping)
        assert_same(value, actual[name], name, RECORD_VALUE_TOLERANCE if record_slot else None)


# --- the cases ------------------------------------------------------------------------------


def test_the_required_cases_are_present() -> None:
    assert set(CASE_NAMES) >= REQUIRED_CASES


def test_requests(case: Case) -> None:
    for x in case.exchanges:
        unit, pdu = unframe(case, x.request)
        assert unit == case.unit
        if case.expect_request_error == "unsupported_function":
            with pytest.raises(mb.UnsupportedFunction) as info:
                mb.decode_request(pdu)
            assert info.value.function == x.request_table["function"]
            if case.framing == "rtu":
                with pytest.raises(mb.UnsupportedFunction):
                    mb.rtu_request_length(x.request)
            continue
        assert case.expect_request_error is None, case.expect_request_error
        request = mb.decode_request(pdu)
        assert request == expected_request(x.request_table)
        assert frame(case, unit, mb.encode_request(request)) == x.request
        if case.framing == "rtu":
            assert mb.rtu_request_length(x.request) == len(x.request)
        if "fields" in x.request_table:
            assert isinstance(request, mb.WriteSingle | mb.WriteMultiple)
            words = (request.value,) if isinstance(request, mb.WriteSingle) else request.values
            written = decode_block(DEFN.table("holding"), request.address, words)
            assert_same(x.request_table["fields"], written, "request.fields")


def test_responses(case: Case) -> None:
    for x in case.exchanges:
        if not x.response:
            # Only a broadcast goes unanswered, and only a write may be broadcast.
            assert case.framing == "rtu" and case.unit == 0
            assert x.request_table["function"] in (mb.WRITE_SINGLE, mb.WRITE_MULTIPLE)
            assert not x.decoded
            continue
        if case.framing == "rtu":
            assert mb.rtu_response_length(x.response) == len(x.response)
        if case.expect_error == "crc":
            with pytest.raises(mb.CrcError):
                unframe(case, x.response)
            continue
        unit, pdu = unframe(case, x.response)
        assert unit == case.unit
        if case.expect_request_error == "unsupported_function":
            # decode_response needs the Request this reply belongs to, and a request for an
            # unsupported function has none; check the exception PDU directly.
            function = x.request_table["function"]
            assert pdu == mb.encode_response(mb.ExceptionResponse(function, 1))
            assert_decoded(x.decoded, {"function": pdu[0] & 0x7F, "exception_code": pdu[1]})
            continue
        request = expected_request(x.request_table)
        if case.expect_error == "byte_count":
            with pytest.raises(mb.FrameError, match="byte count") as info:
                mb.decode_response(pdu, request)
            assert not isinstance(info.value, mb.CrcError)
            continue
        assert case.expect_error is None, case.expect_error
        response = mb.decode_response(pdu, request)
        assert_decoded(x.decoded, decoded_response(request, response))
        assert frame(case, unit, mb.encode_response(response)) == x.response


def rtu_frames(case: Case) -> list[tuple[str, bytes]]:
    if case.framing != "rtu":
        return []
    out = []
    for i, x in enumerate(case.exchanges):
        out.append((f"request {i}", x.request))
        if x.response:
            out.append((f"response {i}", x.response))
    return out


def test_every_rtu_crc_agrees_with_pymodbus(case: Case) -> None:
    for what, data in rtu_frames(case):
        body, sent = data[:-2], data[-2:]
        independent = struct.pack(">H", FramerRTU.compute_CRC(body))
        ours = struct.pack("<H", mb.crc16(body))
        assert ours == independent, what
        if case.expect_error == "crc" and what.startswith("response"):
            assert sent != independent, f"{what}: the corrupted CRC is not corrupted"
        else:
            assert sent == independent, f"{what}: CRC {sent.hex()} != {independent.hex()}"


def test_rtu_frame_length_from_every_prefix(case: Case) -> None:
    for what, data in rtu_frames(case):
        length_of = mb.rtu_request_length if what.startswith("request") else mb.rtu_response_length
        if case.expect_request_error and what.startswith("request"):
            continue
        for k in range(len(data) + 1):
            got = length_of(data[:k])
            assert got is None or got == len(data), f"{what}, {k} bytes: {got}"
        assert length_of(data + b"\x01\x03") == len(data), f"{what} followed by more bytes"


# Published frames whose CRCs appear in countless Modbus tutorials and vendor manuals.
CRC_ANCHORS = [
    "01 03 00 00 00 01 84 0A",
    "01 03 00 00 00 0A C5 CD",
    "01 05 00 00 FF 00 8C 3A",
    "01 83 02 C0 F1",
]


@pytest.mark.parametrize("anchor", CRC_ANCHORS)
def test_crc_anchor(anchor: str) -> None:
    data = bytes.fromhex(anchor)
    assert mb.rtu_frame(data[0], data[1:-2]) == data
    assert struct.pack(">H", FramerRTU.compute_CRC(data[:-2])) == data[-2:]
    assert mb.rtu_unframe(data) == (data[0], data[1:-2])
