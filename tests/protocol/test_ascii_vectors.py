"""The ASCII codec against the golden lines in firmware_protocol/testcases/ascii_*/.

Each case.toml holds exchanges: the command line the master sends, the lines the logger
answers, and what they decode to (format: firmware_protocol/testcases/README.md). The lines are
the reference: every one must decode to its table, re-encode to exactly the same bytes, or be
rejected with the error the case names.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loggerd_protocol import ascii as asc
from loggerd_protocol.definition import reference_logger

CASES_DIR = Path(__file__).resolve().parents[2] / "firmware_protocol" / "testcases"
CASE_NAMES = sorted(p.parent.name for p in CASES_DIR.glob("ascii_*/case.toml"))
DEFN = reference_logger()
CRLF = b"\r\n"

REQUIRED_CASES = {
    "ascii_idn",
    "ascii_read_nan_channel",
    "ascii_dump_3_records",
    "ascii_error_replies",
    "ascii_checksum_corrupted",
}

ERRORS: Mapping[str, type[asc.AsciiFrameError]] = {
    "checksum": asc.ChecksumError,
    "field_count": asc.FieldCountError,
    "not_a_number": asc.FieldValueError,
    "unknown_keyword": asc.UnknownKeywordError,
}


@dataclass(frozen=True)
class Exchange:
    send: str
    canonical: str
    receive: list[str]
    command: Mapping[str, Any]
    replies: list[Mapping[str, Any]]


def load_case(name: str) -> list[Exchange]:
    doc = tomllib.loads((CASES_DIR / name / "case.toml").read_text(encoding="utf-8"))
    assert isinstance(doc["description"], str) and doc["description"]
    out = []
    for x in doc["exchange"]:
        assert len(x["receive"]) == len(x["reply"]), f"{name}: one reply table per line"
        out.append(
            Exchange(
                x["send"], x.get("canonical", x["send"]), x["receive"], x["command"], x["reply"]
            )
        )
    return out


@pytest.fixture(params=CASE_NAMES)
def case(request: pytest.FixtureRequest) -> list[Exchange]:
    return load_case(request.param)


def expected_command(table: Mapping[str, Any]) -> asc.Command:
    keyword = table["keyword"]
    simple: Mapping[str, asc.Command] = {
        "IDN?": asc.IdnQuery(),
        "READ?": asc.ReadQuery(),
        "INTV?": asc.IntvQuery(),
        "TIME?": asc.TimeQuery(),
        "MEM?": asc.MemQuery(),
    }
    if keyword in simple:
        assert set(table) == {"keyword"}, table
        return simple[keyword]
    if keyword == "CONT":
        return asc.ContCommand(table["on"])
    if keyword == "LOG":
        return asc.LogCommand(table["on"])
    if keyword == "INTV":
        return asc.IntvCommand(table["interval_s"])
    if keyword == "TIME":
        return asc.TimeCommand(table["epoch_s"])
    assert keyword == "DUMP", f"no command for {table}"
    return asc.DumpCommand(table["first"], table["last"])


def reply_table(reply: asc.Reply) -> dict[str, Any]:
    """A decoded reply in the vocabulary of case.toml's reply tables."""
    out: dict[str, Any] = {"keyword": asc.REPLY_KEYWORDS[type(reply)]}
    if isinstance(reply, asc.RecReply):
        r = reply.record
        out |= {"sequence": r.sequence, "timestamp": r.timestamp, "status": r.status}
        out |= r.values
    elif isinstance(reply, asc.ValReply):
        out |= {"epoch_s": reply.epoch_s, "device_status": reply.device_status}
        out |= reply.values
    else:
        out |= {k: v for k, v in vars(reply).items()}
    return out


def assert_same(expected: Mapping[str, Any], actual: Mapping[str, Any], where: str) -> None:
    assert sorted(actual) == sorted(expected), f"{where}: fields differ"
    for key, want in expected.items():
        got = actual[key]
        if want == "nan":
            assert isinstance(got, float) and math.isnan(got), f"{where}.{key}: {got!r}"
        else:
            # Values are decimals with two places: float("-70.25") is the TOML float -70.25.
            assert type(got) is type(want) and got == want, f"{where}.{key}: {got!r} != {want!r}"


def test_the_required_cases_are_present() -> None:
    assert set(CASE_NAMES) >= REQUIRED_CASES


def test_commands(case: list[Exchange]) -> None:
    for x in case:
        line = x.send.encode("ascii")
        if "error" in x.command:
            with pytest.raises(asc.CommandError) as info:
                asc.decode_command(line)
            assert info.value.code == x.command["error"], x.send
            assert info.value.reply == asc.ErrReply(
                x.command["error"], {e.code: e.text for e in DEFN.ascii_errors}[info.value.code]
            )
            continue
        command = asc.decode_command(line)
        assert command == expected_command(x.command), x.send
        assert asc.encode_command(command) == x.canonical.encode("ascii") + CRLF


def test_replies(case: list[Exchange]) -> None:
    for x in case:
        for i, (text, table) in enumerate(zip(x.receive, x.replies, strict=True)):
            line = text.encode("ascii")
            where = f"{x.send} reply line {i + 1}"
            if "error" in table:
                with pytest.raises(ERRORS[table["error"]]) as info:
                    asc.decode_reply(line)
                err = info.value
                assert err.line == line
                for key, want in table.items():
                    if key != "error":
                        assert getattr(err, key) == want, f"{where}: {key}"
                if isinstance(err, asc.FieldValueError):
                    assert f"field {err.field} ({err.name})" in str(err)
                if isinstance(err, asc.ChecksumError):
                    assert f"record {err.sequence}" in str(err)
                continue
            reply = asc.decode_reply(line)
            assert_same(table, reply_table(reply), where)
            assert asc.encode_reply(reply) == line + CRLF, where
            assert table["keyword"] == "ERR" or table["keyword"] in asc.reply_keywords(
                asc.decode_command(x.send.encode("ascii"))
            ) | {"VAL"}, f"{where}: {table['keyword']} does not answer {x.send}"


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"])
def test_the_lines_come_back_from_the_byte_stream(case: list[Exchange], ending: bytes) -> None:
    """The logger sends CR LF; a lone LF is tolerated. Fed a byte at a time, lines come out."""
    for x in case:
        reader = asc.LineReader()
        got: list[bytes] = []
        for byte in b"".join(r.encode("ascii") + ending for r in x.receive):
            reader.feed(bytes((byte,)))
            while (line := reader.next_line()) is not None:
                got.append(line)
        assert got == [r.encode("ascii") for r in x.receive]
        assert reader.pending == b""
