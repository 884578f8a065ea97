"""Device profiles: the register codec in every order, the read planner, the shipped profiles and
the errors a bad profile gets."""

from __future__ import annotations

import dataclasses
import math
import re
import struct
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from loggerd_protocol.definition import Field, reference_logger
from loggerd_protocol.modbus import MAX_READ_REGISTERS
from loggerd_protocol.planner import Block, ReadRequest, Span, plan_reads
from loggerd_protocol.profile_document import ProfileError
from loggerd_protocol.profile_loader import (
    builtin_profile,
    builtin_profile_names,
    load_profile,
    parse_profile,
    resolve_profile,
)
from loggerd_protocol.profile_model import (
    Point,
    decode_identity,
    decode_point,
    encode_identity,
    encode_point,
    implausible_by_order,
    in_range,
)
from loggerd_protocol.reference_profile import reference_profile_document
from loggerd_protocol.registers import (
    FLOAT_TYPES,
    ORDERS,
    QUIET_NAN_FLOAT32,
    VALUE_TYPES,
    WORDS,
    Function,
    Order,
    ValueType,
    decode_registers,
    encode_registers,
    reorder,
    type_limits,
)
from loggerd_protocol.values import WORD_ORDER

from .float32 import same_float32, shortest_decimal

INT_TYPES = [t for t in VALUE_TYPES if t not in FLOAT_TYPES]
orders = st.sampled_from(ORDERS)


def as_bytes(words: Sequence[int]) -> bytes:
    """Registers as they travel: each one high byte first."""
    return struct.pack(f">{len(words)}H", *words)


@st.composite
def int_values(draw: st.DrawFn) -> tuple[ValueType, int]:
    value_type = draw(st.sampled_from(INT_TYPES))
    lo, hi = type_limits(value_type)
    return value_type, draw(st.integers(int(lo), int(hi)))


# --- the register codec ----------------------------------------------------------------------


@given(int_values(), orders)
def test_integers_round_trip_in_every_order(typed: tuple[ValueType, int], order: Order) -> None:
    value_type, value = typed
    words = encode_registers(value, value_type, order)
    assert len(words) == WORDS[value_type]
    assert decode_registers(words, value_type, order) == value


@given(st.floats(width=32), orders)
@example(25.059860229492188, "CDAB")  # sent as 25.05986: read so, not as 25.059860229492188
@example(1.401298464324817e-45, "ABCD")  # the smallest subnormal: 1e-45
def test_float32_decodes_to_the_decimal_it_was_sent_as(value: float, order: Order) -> None:
    """The shortest decimal that is the same float32: the same registers, without the digits
    of the binary fraction the device never meant."""
    words = encode_registers(value, "float32", order)
    got = decode_registers(words, "float32", order)
    if math.isnan(value):
        assert math.isnan(got)
        return
    assert encode_registers(got, "float32", order) == words
    assert got == shortest_decimal(value)
    assert math.copysign(1.0, got) == math.copysign(1.0, value)


@given(st.floats(), orders)
def test_float64_round_trips_bit_exact(value: float, order: Order) -> None:
    got = decode_registers(encode_registers(value, "float64", order), "float64", order)
    assert (math.isnan(got) and math.isnan(value)) or got == value


@given(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=4), orders)
def test_reorder_is_its_own_inverse(words: list[int], order: Order) -> None:
    assert reorder(reorder(words, order), order) == tuple(words)


@given(st.floats(width=32, allow_nan=False), st.floats(allow_nan=False))
def test_orders_mean_what_the_docstring_says(f32: float, f64: float) -> None:
    """ABCD is big-endian and DCBA little-endian bytes; CDAB swaps the words (all of them for
    64 bits), BADC the bytes inside each register."""
    for value, value_type, fmt in ((f32, "float32", "f"), (f64, "float64", "d")):
        big = struct.pack(">" + fmt, value)
        swapped_bytes = bytes(b for i in range(0, len(big), 2) for b in (big[i + 1], big[i]))
        words_big = [big[i : i + 2] for i in range(0, len(big), 2)]
        enc = {o: as_bytes(encode_registers(value, value_type, o)) for o in ORDERS}  # type: ignore[arg-type]
        assert enc["ABCD"] == big
        assert enc["DCBA"] == struct.pack("<" + fmt, value)
        assert enc["CDAB"] == b"".join(reversed(words_big))
        assert enc["BADC"] == swapped_bytes


@given(st.integers(0, 0xFFFF))
def test_a_single_register_only_knows_byte_order(value: int) -> None:
    assert encode_registers(value, "uint16", "ABCD") == encode_registers(value, "uint16", "CDAB")
    swapped = ((value & 0xFF) << 8) | (value >> 8)
    assert encode_registers(value, "uint16", "BADC") == (swapped,)
    assert encode_registers(value, "uint16", "DCBA") == (swapped,)


PYMODBUS_TYPES = {
    "int16": ModbusTcpClient.DATATYPE.INT16,
    "uint16": ModbusTcpClient.DATATYPE.UINT16,
    "int32": ModbusTcpClient.DATATYPE.INT32,
    "uint32": ModbusTcpClient.DATATYPE.UINT32,
    "float32": ModbusTcpClient.DATATYPE.FLOAT32,
    "float64": ModbusTcpClient.DATATYPE.FLOAT64,
}


@given(st.sampled_from(VALUE_TYPES), st.data())
def test_abcd_and_cdab_agree_with_pymodbus(value_type: ValueType, data: st.DataObject) -> None:
    """pymodbus, an independent implementation: word_order "big" is ABCD, "little" is CDAB."""
    words = data.draw(
        st.lists(st.integers(0, 0xFFFF), min_size=WORDS[value_type], max_size=WORDS[value_type])
    )
    pm_order: dict[Order, Literal["big", "little"]] = {"ABCD": "big", "CDAB": "little"}
    for order, word_order in pm_order.items():
        ours = decode_registers(words, value_type, order)
        theirs = ModbusTcpClient.convert_from_registers(
            words, PYMODBUS_TYPES[value_type], word_order=word_order
        )
        assert isinstance(theirs, int | float)
        if value_type == "float32":  # ours is the shortest decimal of the same float32
            assert (math.isnan(ours) and math.isnan(theirs)) or same_float32(ours, theirs)
        else:
            assert (math.isnan(ours) and math.isnan(theirs)) or ours == theirs


def test_vaisala_example_least_significant_word_first() -> None:
    # Vaisala's worked example (Indigo510/520 User Guide M212287EN, Modbus communication
    # example): 41F47AE1 hex is 30.56 %RH, sent least significant word first.
    assert decode_registers([0x7AE1, 0x41F4], "float32", "CDAB") == pytest.approx(30.56, abs=1e-5)
    rh = builtin_profile("vaisala_hmt330").point("rh")
    assert decode_point(rh, [0x7AE1, 0x41F4]).value == pytest.approx(30.56, abs=1e-5)


def test_bad_register_values_are_errors() -> None:
    with pytest.raises(ValueError, match="takes 2 registers"):
        decode_registers([1], "float32", "ABCD")
    with pytest.raises(ValueError, match=r"0\.\.0xFFFF"):
        decode_registers([0x10000], "uint16", "ABCD")
    with pytest.raises(ValueError, match="does not fit"):
        encode_registers(70000, "uint16", "ABCD")
    with pytest.raises(ValueError, match="whole number"):
        encode_registers(1.5, "int32", "ABCD")
    with pytest.raises(ValueError, match="does not fit"):
        encode_registers(1e300, "float32", "ABCD")


def scaled_point(value_type: ValueType, order: Order, scale: float, offset: float) -> Point:
    return Point(
        name="x",
        quantity="temperature",
        unit="degC",
        function="holding",
        address=0,
        type=value_type,
        order=order,
        source="test",
        scale=scale,
        offset=offset,
        sentinels=(type_limits(value_type)[0],) if value_type not in FLOAT_TYPES else (),
    )


@given(
    int_values(),
    orders,
    st.sampled_from([1.0, 0.1, 0.01, 0.5, 10.0]),
    st.sampled_from([0.0, -273.15, 40.0]),
)
def test_scaled_integers_round_trip(
    typed: tuple[ValueType, int], order: Order, scale: float, offset: float
) -> None:
    value_type, raw = typed
    point = scaled_point(value_type, order, scale, offset)
    decoded = decode_point(point, encode_registers(raw, value_type, order))
    assert decoded.raw == raw
    assert decoded.value == pytest.approx(raw * scale + offset)
    assert decode_point(point, encode_point(point, decoded.value)).raw == raw
    assert decoded.unavailable == (raw == type_limits(value_type)[0])


@given(st.sampled_from(VALUE_TYPES), orders)
def test_unavailable_is_the_sentinel_or_nan(value_type: ValueType, order: Order) -> None:
    point = scaled_point(value_type, order, 0.01, 0.0)
    decoded = decode_point(point, encode_point(point, math.nan))
    assert decoded.unavailable
    if value_type in FLOAT_TYPES:
        assert math.isnan(decoded.raw)


def test_quiet_nan_is_what_a_float32_nan_encodes_to() -> None:
    words = encode_registers(math.nan, "float32", "ABCD")
    assert (words[0] << 16) | words[1] == QUIET_NAN_FLOAT32


def test_a_word_swapped_small_value_is_never_in_range() -> None:
    """23.0 °C read in the wrong word order is 2.4e-41: inside -100..200, but subnormal."""
    t = builtin_profile("vaisala_hmt330").point("temperature")
    wrong = decode_point(t, encode_registers(23.0, "float32", "ABCD"))
    assert 0 < wrong.value < 1e-38
    assert not in_range(t, wrong)
    assert in_range(t, decode_point(t, encode_registers(23.0, "float32", "CDAB")))


# --- the read planner ------------------------------------------------------------------------


@st.composite
def span_sets(draw: st.DrawFn) -> tuple[list[Span], int, bool, list[Block]]:
    """Non-overlapping values with random sizes and gaps, over one or two functions."""
    spans: list[Span] = []
    functions: list[Function] = ["input", "holding"]
    for function in draw(st.sets(st.sampled_from(functions), min_size=1)):
        address = draw(st.integers(0, 200))
        for i in range(draw(st.integers(1, 25))):
            words = draw(st.sampled_from([1, 2, 4]))
            spans.append(Span(function, address, words, f"{function}_{i}"))
            address += words + draw(st.sampled_from([0, 0, 0, 1, 3, 20]))
    max_span = draw(st.integers(4, 140))
    gap_fill = draw(st.booleans())
    blocks: list[Block] = []
    if draw(st.booleans()):
        # Cut the address space into blocks at random points; every value lies in one.
        for function in functions:
            edges = sorted(draw(st.sets(st.integers(1, 400), max_size=4)))
            starts = [0, *edges]
            ends = [*edges, 0x10000]
            for first, end in zip(starts, ends, strict=True):
                blocks.append(Block(f"{function}{first}", function, first, end - 1))
        spans = [s for s in spans if any(b.contains(s.function, s.address, s.end) for b in blocks)]
        if not spans:
            spans = [Span("input", 0, 1, "only")]
    draw(st.randoms()).shuffle(spans)
    return spans, max_span, gap_fill, blocks


def allowed(
    function: str,
    start: int,
    end: int,
    spans: Sequence[Span],
    gap_fill: bool,
    blocks: Sequence[Block],
) -> bool:
    """May one request read start..end? (The rule the planner must keep, stated plainly.)"""
    inside = [s for s in spans if s.function == function and start <= s.address and s.end <= end]
    covered = set().union(*(range(s.address, s.end) for s in inside)) if inside else set()
    if covered == set(range(start, end)):
        return True
    fn_blocks = [b for b in blocks if b.function == function]
    return gap_fill and (not blocks or any(b.contains(function, start, end) for b in fn_blocks))  # type: ignore[arg-type]


def fewest_requests(
    spans: Sequence[Span], max_span: int, gap_fill: bool, blocks: Sequence[Block]
) -> int:
    """The optimum by dynamic programming over runs of consecutive values."""
    total = 0
    for function in {s.function for s in spans}:
        ordered = sorted((s for s in spans if s.function == function), key=lambda s: s.address)
        best = [0] + [10**9] * len(ordered)
        for j in range(1, len(ordered) + 1):
            for i in range(j):
                start, end = ordered[i].address, max(s.end for s in ordered[i:j])
                if end - start <= min(max_span, 125) and allowed(
                    function, start, end, ordered, gap_fill, blocks
                ):
                    best[j] = min(best[j], best[i] + 1)
        total += best[-1]
    return total


@given(span_sets())
def test_planner_covers_every_value_once_within_the_limits(
    case: tuple[list[Span], int, bool, list[Block]],
) -> None:
    spans, max_span, gap_fill, blocks = case
    plan = plan_reads(spans, max_span=max_span, gap_fill=gap_fill, blocks=blocks)
    by_name = {s.name: s for s in spans}
    listed = [n for r in plan for n in r.names]
    assert sorted(listed) == sorted(by_name)  # every value, exactly once
    for r in plan:
        assert 1 <= r.count <= min(max_span, MAX_READ_REGISTERS)
        for name in r.names:
            s = by_name[name]
            assert s.function == r.function and r.address <= s.address and s.end <= r.end
        assert allowed(r.function, r.address, r.end, spans, gap_fill, blocks)
        # a request starts and ends on a value: it never reads past what it brings
        assert any(by_name[n].address == r.address for n in r.names)
        assert any(by_name[n].end == r.end for n in r.names)


@given(span_sets())
def test_planner_is_minimal(case: tuple[list[Span], int, bool, list[Block]]) -> None:
    spans, max_span, gap_fill, blocks = case
    plan = plan_reads(spans, max_span=max_span, gap_fill=gap_fill, blocks=blocks)
    assert len(plan) == fewest_requests(spans, max_span, gap_fill, blocks)


@given(st.integers(1, 300), st.sampled_from([1, 2, 4]), st.integers(4, 125), st.integers(0, 1000))
@example(n=125, words=1, max_span=125, start=0)
def test_contiguous_values_take_the_obvious_number_of_requests(
    n: int, words: int, max_span: int, start: int
) -> None:
    spans = [Span("input", start + i * words, words, f"v{i}") for i in range(n)]
    plan = plan_reads(spans, max_span=max_span)
    per_request = max_span // words
    assert len(plan) == math.ceil(n / per_request)
    assert [r.address for r in plan] == [start + k * per_request * words for k in range(len(plan))]


def test_gaps_are_read_through_only_when_allowed() -> None:
    spans = [Span("holding", 0, 2, "rh"), Span("holding", 8, 2, "td")]
    assert plan_reads(spans, gap_fill=True) == (ReadRequest("holding", 0, 10, ("rh", "td")),)
    assert len(plan_reads(spans, gap_fill=False)) == 2
    edge = [Block("a", "holding", 0, 4), Block("b", "holding", 5, 20)]
    assert len(plan_reads(spans, gap_fill=True, blocks=edge)) == 2  # never across a block edge
    with pytest.raises(ValueError, match="more than max_span"):
        plan_reads([Span("input", 0, 4, "f64")], max_span=3)


# --- the shipped profiles --------------------------------------------------------------------


def test_builtin_profiles_load() -> None:
    assert {"reference_logger", "vaisala_hmt330"} <= set(builtin_profile_names())
    for name in builtin_profile_names():
        profile = builtin_profile(name)
        assert profile.points and all(p.source for p in profile.points)
        assert resolve_profile(name) is profile


def test_hmt330_profile_follows_the_users_guide() -> None:
    p = builtin_profile("vaisala_hmt330")
    assert p.order == "CDAB" and p.function == "holding"
    # M210566EN-K Table 41: 1-based register numbers; the PDU address is one less.
    expected = {"rh": 0, "temperature": 2, "dew_point": 6, "frost_point": 8, "mixing_ratio": 16}
    expected |= {"ppmv": 20, "fault_status": 512, "online_status": 513, "error_code_low": 515}
    for name, address in expected.items():
        assert p.point(name).address == address
    measurements = {q.name for q in p.measurement_points()}
    assert {"rh", "temperature", "frost_point", "ppmv", "mixing_ratio"} <= measurements
    fault = p.point("fault_status").flags
    assert fault is not None and fault.covers == measurements
    assert p.word_order_test is None  # Table 37 has no test register
    assert p.poll_intervals() == {"live": None, "derived": 60.0}


def test_the_reference_profile_is_generated_and_agrees_with_the_definition() -> None:
    """Address by address: the profile generated from reference_logger.toml restates it, never
    contradicts it, and no hand-kept copy of the map is shipped beside it."""
    defn = reference_logger()
    profile = builtin_profile("reference_logger")
    assert "generated from reference_logger.toml" in profile.origin
    profiles = resources.files("loggerd_protocol").joinpath("profiles")
    assert not profiles.joinpath("reference_logger.toml").is_file()
    raw = tomllib.loads(
        resources.files("loggerd_protocol").joinpath("reference_logger.toml").read_text("utf-8")
    )
    assert profile.order == raw["device"]["word_order"]
    assert profile.order == defn.word_order == WORD_ORDER  # the order values.py reads the map in
    assert raw["device"]["nan_float32"] == QUIET_NAN_FLOAT32
    assert profile.workarounds.max_span == defn.max_registers_per_read
    for point in profile.points:
        f = defn.field(point.name)
        assert (point.address, point.function, point.type, point.words) == (
            f.address,
            f.table,
            f.type,
            f.words,
        ), point.name
        if point.unit:
            assert point.unit == f.unit, point.name
    for dp in defn.points:
        point = profile.point(dp.name)
        assert (point.quantity, point.unit, point.range) == (dp.quantity, dp.unit, dp.range)
        assert point.nan_sentinel
        status = profile.point(defn.status_field(dp.name).name)
        assert status.flags is not None and status.flags.covers == {dp.name}
    # Nothing of the live block is left out.
    live = next(b for b in defn.blocks if b.name == "live")
    for f in defn.table("input"):
        if live.first <= f.address <= live.last:
            assert profile.point(f.name).address == f.address
    for item in profile.identity:
        name = {"model": "model_name"}.get(item.field, item.field)
        f = defn.field(name)
        assert (item.address, item.function, item.words) == (f.address, f.table, f.words)
    for block in profile.blocks:
        b = next(b for b in defn.blocks if b.name == block.name)
        assert (block.function, block.first, block.last) == (b.table, b.first, b.last)


PROTOCOL_MD = Path(__file__).resolve().parents[2] / "firmware_protocol" / "PROTOCOL.md"


def test_every_generated_row_cites_the_section_of_protocol_md_that_holds_it() -> None:
    headings = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^#+ (\d+(?:\.\d+)*)\.? (.*)$", PROTOCOL_MD.read_text("utf-8"), re.M)
    }
    doc = reference_profile_document(reference_logger())
    rows = [*doc.point, *doc.identity]
    cited = [(r.source, r.address) for r in rows] + [(b.source, b.first) for b in doc.block]
    assert len(cited) == len(rows) + 2 == 38 + 5 + 2
    for source, address in cited:
        assert source.startswith("PROTOCOL.md §"), source
        sections = re.findall(r"§(\d+(?:\.\d+)*)", source)
        assert all(s in headings for s in sections), source
        # A register row cites first the table that lists its address.
        table = re.search(r"registers 0x([0-9A-F]{4})–0x([0-9A-F]{4})", headings[sections[0]])
        if table is not None:
            assert int(table.group(1), 16) <= address <= int(table.group(2), 16), source


def test_the_generator_names_every_live_register_or_refuses() -> None:
    """A register added to the live block must be given a meaning, not guessed at."""
    defn = reference_logger()
    fan = Field(name="fan_speed", address=0x0126, type="uint16", words=1, unit="rpm")
    grown = dataclasses.replace(defn, fields=(*defn.fields, fan), _by_name={})
    with pytest.raises(ValueError, match="fan_speed is in the live block but is no point"):
        reference_profile_document(grown)
    assert "fan_speed" not in {f.name for f in reference_logger().fields}


def test_identity_values_round_trip() -> None:
    profile = builtin_profile("reference_logger")
    items = {i.field: i for i in profile.identity}
    for field, value in [
        ("model", "RL-1600"),
        ("firmware_version", "1.2"),
        ("serial_number", "16000001"),
    ]:
        item = items[field]  # type: ignore[index]
        assert decode_identity(item, encode_identity(item, value)) == value


# --- errors name the file, the line, the row and the key -------------------------------------

GOOD = """\
[device]
manufacturer = "Acme"
model = "T-1"
datasheet = "T-1 manual rev. 3"

[defaults]
order = "CDAB"
sentinel = ["nan"]

[[point]]
name = "t"
quantity = "temperature"
unit = "degC"
address = 0
type = "float32"
source = "Table 5"

[[point]]
name = "rh"
quantity = "relative_humidity"
unit = "%RH"
address = 2
type = "float32"
source = "Table 5"
"""


def fails(text: str, origin: str = "acme.toml") -> str:
    with pytest.raises(ProfileError) as exc:
        parse_profile(text, origin)
    return str(exc.value)


def test_a_good_profile_parses() -> None:
    profile = parse_profile(GOOD, "acme.toml")
    assert [p.name for p in profile.points] == ["t", "rh"]
    assert profile.group_names() == ("all",)


def test_error_names_file_line_row_and_key() -> None:
    message = fails(GOOD.replace('address = 2\ntype = "float32"', 'address = 2\ntype = "float"'))
    assert message.startswith("acme.toml:23: point[1] (name 'rh').type: Input should be")
    assert "(got 'float')" in message


def test_a_row_without_its_source_is_an_error() -> None:
    message = fails(GOOD.replace('source = "Table 5"\n\n[[point]]', "\n[[point]]"))
    assert "acme.toml:10: point[0] (name 't').source: Field required" in message


RH_ROW = '[[point]]\nname = "rh"'
BLOCK = '[[block]]\nname = "a"\nfirst = 0\nlast = 1\nsource = "x"\n\n'
TEST_REGISTER = '[word_order_test]\naddress = 9\ntype = "float32"\nexpected = 0.0\nsource = "x"\n\n'
STATUS_ROW = """[[point]]
name = "st"
quantity = "status"
unit = ""
address = 9
type = "uint16"
sentinel = []
flags = { covers = ["nope"], fault_mask = 1 }
source = "x"

"""
RH = "point[1] (name 'rh')"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('unit = "%RH"', 'unit = "%RH"\nscal = 2'), f"acme.toml:22: {RH}.scal: unknown key"),
        (
            ("address = 2", "address = 2\ndatasheet_number = 2"),
            f"{RH}.datasheet_number: register number 2 is PDU address 1, not 2",
        ),
        (("address = 2", "address = 1"), None),  # overlapping values are allowed
        (('name = "rh"', 'name = "t"'), "point[1] (name 't').name: point 't' is defined twice"),
        (
            ('name = "rh"', 'name = "rh"\ngroup = "slow"'),
            f"{RH}.group: no [[group]] named 'slow'",
        ),
        (
            ('type = "float32"\nsource', 'type = "int16"\nsentinel = ["nan"]\nsource'),
            "point[0] (name 't').sentinel: \"nan\" cannot be a sentinel of int16",
        ),
        (('name = "rh"', 'name = "rh_{n}"\ncount = 2'), None),
        (
            ('name = "rh"', 'name = "rh"\ncount = 2'),
            f"{RH}.name: a row with count = 2 needs {{n}} in its name",
        ),
        (('order = "CDAB"', 'order = "CDBA"'), "acme.toml:7: defaults.order: Input should be"),
        (
            (RH_ROW, "[workarounds]\nmax_span = 1\n\n" + RH_ROW),
            "workarounds.max_span: 1 is less than the 2 registers",
        ),
        (
            (RH_ROW, BLOCK + RH_ROW),
            f"{RH}.address: holding registers 2..3 are in no [[block]] (a 0..1)",
        ),
        (
            (RH_ROW, TEST_REGISTER + RH_ROW),
            "word_order_test.expected: 0.0 as float32 reads the same in ABCD, CDAB, BADC, DCBA",
        ),
        (
            ('unit = "%RH"', 'unit = "%RH"\nflags = { covers = ["x"], fault_unless = 1 }'),
            f"{RH}.flags: a status row must be an integer",
        ),
        (
            (RH_ROW, STATUS_ROW + RH_ROW),
            "point[1] (name 'st').flags.covers: 'st' covers 'nope', which is not a point",
        ),
    ],
)
def test_profile_errors(change: tuple[str, str], expected: str | None) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    if expected is None:
        parse_profile(text, "acme.toml")
    else:
        assert expected in fails(text)


def test_toml_syntax_errors_name_the_file() -> None:
    assert fails("[device\n").startswith("acme.toml: not valid TOML:")


def test_profiles_are_found_by_name_or_path(tmp_path: Path) -> None:
    with pytest.raises(
        ProfileError, match=r"no built-in profile 'hmt999'; built-in profiles: .*vaisala_hmt330"
    ):
        resolve_profile("hmt999")
    with pytest.raises(ProfileError, match=r"missing\.toml: cannot read the profile"):
        resolve_profile(str(tmp_path / "missing.toml"))
    path = tmp_path / "acme.toml"
    path.write_text(GOOD.replace('type = "float32"', 'type = "float33"', 1), "utf-8")
    with pytest.raises(ProfileError, match=rf"^{path}:15: point\[0\] \(name 't'\)\.type"):
        load_profile(path)


def test_a_wrong_word_order_shows_as_implausible_values() -> None:
    """What a device without a test register is checked with at connect time."""
    p = builtin_profile("vaisala_hmt330")
    truth = {"rh": 38.74, "temperature": 22.5, "frost_point": 7.8, "ppmv": 10900.0}
    points = [p.point(name) for name in truth]
    words = {name: encode_point(p.point(name), value) for name, value in truth.items()}
    words["dew_point"] = encode_point(p.point("dew_point"), math.nan)  # unavailable
    points.append(p.point("dew_point"))
    found = implausible_by_order(points, words)
    assert found["CDAB"] == ()
    # One value may land in range by chance (7.8 °C misread is -1.6e-23 °C): hence all of them.
    assert set(found["ABCD"]) == {"rh", "temperature", "ppmv", "dew_point"}
