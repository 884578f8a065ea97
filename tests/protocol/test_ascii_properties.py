"""Property tests of the ASCII codec: commands and replies round-trip, framing, checksums."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from loggerd_protocol import ascii as asc
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.values import Record

DEFN = reference_logger()
POINTS = DEFN.point_names()
CRLF = b"\r\n"


def setting_range(name: str) -> tuple[float, float]:
    rng = DEFN.field(name).range
    assert rng is not None, name
    return rng


INTERVAL = setting_range("logging_interval")
CLOCK = setting_range("clock")

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

# --- commands ------------------------------------------------------------------------------

commands: st.SearchStrategy[asc.Command] = st.one_of(
    st.just(asc.IdnQuery()),
    st.just(asc.ReadQuery()),
    st.builds(asc.ContCommand, st.booleans()),
    st.just(asc.IntvQuery()),
    st.builds(asc.IntvCommand, st.integers(int(INTERVAL[0]), int(INTERVAL[1]))),
    st.just(asc.TimeQuery()),
    st.builds(asc.TimeCommand, st.integers(int(CLOCK[0]), int(CLOCK[1]))),
    st.builds(asc.LogCommand, st.booleans()),
    st.just(asc.MemQuery()),
    st.tuples(u32, u32).map(lambda ab: asc.DumpCommand(min(ab), max(ab))),
)


@given(commands, st.sampled_from([str.upper, str.lower, str.title]))
def test_commands_round_trip_in_any_case(command: asc.Command, case: object) -> None:
    line = asc.encode_command(command)
    assert line.endswith(CRLF) and line.count(b"\n") == 1
    text = line[:-2].decode("ascii")
    assert callable(case)
    # Keywords are case-insensitive; arguments are digits, which have no case.
    assert asc.decode_command(case(text).encode("ascii")) == command


def test_every_command_form_of_the_definition_is_implemented() -> None:
    examples = {"0|1": "1", "seconds": "10", "epoch s": "1700000000", "first": "1", "last": "2"}
    for form in DEFN.ascii_commands:
        line = " ".join([form.keyword, *(examples[a] for a in form.arguments)])
        command = asc.decode_command(line.encode("ascii"))
        assert asc.encode_command(command) == line.encode("ascii") + CRLF, form.name


@given(st.binary(max_size=40))
@example(b"")
@example(b"DUMP 4294967296 4294967296")
@example(b"INTV +10")
@example(b"INTV  10")
@example(b"\xff\xfe")
def test_any_bytes_decode_to_a_command_or_an_err_code(line: bytes) -> None:
    try:
        asc.decode_command(line)
    except asc.CommandError as exc:
        assert exc.reply in {asc.ErrReply(e.code, e.text) for e in DEFN.ascii_errors}


@given(st.sampled_from(["INTV", "TIME", "LOG", "CONT"]), st.integers(0, 10**10))
def test_setting_arguments_outside_their_range_are_bad_arguments(keyword: str, n: int) -> None:
    lo, hi = {
        "INTV": INTERVAL,
        "TIME": CLOCK,
        "LOG": (0, 1),
        "CONT": (0, 1),
    }[keyword]
    line = f"{keyword} {n}".encode("ascii")
    if lo <= n <= hi:
        asc.decode_command(line)
    else:
        with pytest.raises(asc.CommandError) as info:
            asc.decode_command(line)
        assert info.value.text == "bad argument"


# --- replies -------------------------------------------------------------------------------

centi = st.integers(-(10**7), 10**7).map(lambda c: c / 100)
values = st.one_of(centi, st.just(math.nan))
record_values = st.one_of(st.integers(-32767, 32767).map(lambda c: c / 100), st.just(math.nan))


def point_values(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[dict[str, float]]:
    return st.fixed_dictionaries({p: strategy for p in POINTS})


models = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=","),
    min_size=1,
    max_size=16,
)
rec_replies = st.builds(
    asc.RecReply,
    st.builds(
        Record,
        sequence=st.integers(1, 0xFFFFFFFE),
        timestamp=u32,
        status=u16,
        values=point_values(record_values),
    ),
)
replies: st.SearchStrategy[asc.Reply] = st.one_of(
    st.builds(
        asc.IdnReply,
        model=models,
        firmware_version=u16,
        serial_number=u32,
        channel_count=st.integers(1, 16),
        calibration_date=st.integers(19700101, 21001231),
    ),
    st.builds(asc.ValReply, epoch_s=u32, device_status=u16, values=point_values(values)),
    st.builds(asc.IntvReply, u16),
    st.builds(asc.TimeReply, u32),
    st.builds(asc.MemReply, u32, u32, u32),
    rec_replies,
    st.builds(asc.EndReply, u32),
    st.just(asc.OkReply()),
    st.sampled_from([asc.ErrReply(e.code, e.text) for e in DEFN.ascii_errors]),
)


def same_values(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a
    )


def same_reply(a: asc.Reply, b: asc.Reply) -> bool:
    if isinstance(a, asc.ValReply) and isinstance(b, asc.ValReply):
        return (a.epoch_s, a.device_status) == (b.epoch_s, b.device_status) and same_values(
            a.values, b.values
        )
    if isinstance(a, asc.RecReply) and isinstance(b, asc.RecReply):
        ra, rb = a.record, b.record
        return (ra.sequence, ra.timestamp, ra.status) == (
            rb.sequence,
            rb.timestamp,
            rb.status,
        ) and same_values(ra.values, rb.values)
    return a == b


@given(replies)
def test_replies_round_trip(reply: asc.Reply) -> None:
    line = asc.encode_reply(reply)
    assert line.endswith(CRLF) and line.count(b"\n") == 1
    assert len(line) - 2 <= asc.MAX_LINE_BYTES
    decoded = asc.decode_reply(line[:-2])
    assert same_reply(decoded, reply), (reply, line)
    assert asc.encode_reply(decoded) == line


@given(st.floats(min_value=-1e6, max_value=1e6))
@example(-0.001)
@example(0.005)
@example(-70.245)
def test_values_are_sent_with_two_decimals_to_the_nearest_hundredth(value: float) -> None:
    text = asc.format_value(value)
    assert text != "-0.00"
    whole, _, decimals = text.lstrip("-").partition(".")
    assert whole.isdigit() and len(decimals) == 2 and decimals.isdigit()
    assert abs(float(text) - value) <= 0.005 + 1e-9


@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_missing_and_unsendable_values_are_nan(value: float) -> None:
    assert asc.format_value(value) == "NaN"


@given(point_values(st.floats(min_value=-1000, max_value=1000)))
def test_record_values_are_stored_at_0_01_and_clamped_like_the_modbus_record(
    vals: dict[str, float],
) -> None:
    record = Record(sequence=1, timestamp=1_700_000_000, status=0, values=vals)
    line = asc.encode_reply(asc.RecReply(record))
    got = asc.decode_reply(line[:-2])
    assert isinstance(got, asc.RecReply)
    for p in POINTS:
        want = min(max(vals[p], -327.67), 327.67)
        assert abs(got.record.values[p] - want) <= 0.005 + 1e-9, p


@given(rec_replies, st.data())
def test_a_single_bit_error_in_a_rec_line_is_always_caught(
    reply: asc.RecReply, data: st.DataObject
) -> None:
    line = bytearray(asc.encode_reply(reply)[:-2])
    index = data.draw(st.integers(0, len(line) - 1))
    line[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(asc.AsciiFrameError):
        asc.decode_reply(bytes(line))


@given(st.binary(max_size=300))
@example(b"REC *00")
@example(b"REC 1*")
@example(b"ERR x")
@example(b"VAL ")
@example(b"IDN a,1.256,1,1,1")
def test_any_bytes_decode_to_a_reply_or_a_frame_error(line: bytes) -> None:
    with contextlib.suppress(asc.AsciiFrameError):
        asc.decode_reply(line)


# --- framing -------------------------------------------------------------------------------


@given(
    st.lists(replies, max_size=8),
    st.lists(st.integers(1, 64), min_size=1, max_size=20),
    st.booleans(),
)
def test_lines_come_out_whole_however_the_stream_is_cut(
    sent: list[asc.Reply], cuts: list[int], lone_lf: bool
) -> None:
    stream = b"".join(asc.encode_reply(r) for r in sent)
    if lone_lf:
        stream = stream.replace(b"\r\n", b"\n")
    reader = asc.LineReader()
    got: list[bytes] = []
    pos, i = 0, 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        reader.feed(stream[pos : pos + step])
        pos, i = pos + step, i + 1
        while (line := reader.next_line()) is not None:
            got.append(line)
    assert got == [asc.encode_reply(r)[:-2] for r in sent]
    assert reader.pending == b""


@given(st.integers(asc.MAX_LINE_BYTES + 1, 4 * asc.MAX_LINE_BYTES), st.integers(1, 97))
def test_an_overlong_line_is_reported_once_and_the_next_line_still_comes(
    length: int, chunk: int
) -> None:
    stream = b"x" * length + b"\r\nOK\r\n"
    reader = asc.LineReader()
    errors, lines = 0, []
    for pos in range(0, len(stream), chunk):
        reader.feed(stream[pos : pos + chunk])
        while True:
            try:
                line = reader.next_line()
            except asc.LineTooLongError:
                errors += 1
                continue
            if line is None:
                break
            lines.append(line)
    assert errors == 1
    assert lines == [b"OK"]
