"""Device profiles: a Modbus device described as data (a TOML register map), its pure codecs and
a read planner. No I/O beyond reading the profile file, no clocks.

A profile is one TOML file (see profiles/*.toml for complete examples)::

    [device]
    manufacturer = "Vaisala"
    model = "HMT330"
    datasheet = "HMT330 User's Guide M210566EN-K, Appendix MODBUS reference"

    [defaults]                 # what a row inherits when it does not say
    function = "holding"       # "holding" (read with 03) or "input" (04)
    order = "CDAB"             # ABCD, CDAB, BADC or DCBA (below)
    sentinel = ["nan"]         # raw values meaning "unavailable"

    [workarounds]              # device quirks, not protocol
    max_span = 125             # registers per read request, at most 125
    gap_fill_allowed = true    # may a request read registers that no row defines?
    min_request_interval_s = 0.0

    [[group]]                  # poll groups; interval_s absent: the device's poll interval
    name = "derived"
    interval_s = 60.0

    [[point]]
    name = "rh"
    quantity = "relative_humidity"
    unit = "%RH"
    address = 0                # PDU address: 0-based, as on the wire
    datasheet_number = 1       # optional: the 1-based number the datasheet prints; checked
    type = "float32"
    range = [0.0, 100.0]
    source = "M210566EN-K Table 41: RH, float registers 0001…0002"   # required

Rows may also carry `scale`/`offset` (value = raw * scale + offset), `count`/`stride` (one row
for `name_{n}` n = 1..count), and `flags` (a status row that marks the points it `covers` as
faulty when `fault_unless`/`fault_if`/`fault_mask` says so). `[[identity]]` rows, `[[block]]`
ranges of legal addresses and a `[word_order_test]` register complete the format; every row
cites its datasheet in `source`.

Register order. Name the bytes of a value A B C D … from the most significant. A register is
two bytes sent most significant first. The four orders say how a device lays a value out:

* ABCD: most significant register first, bytes in order. (Modbus's own big-endian convention;
  pymodbus word_order="big"; mbpoll with -B.)
* CDAB: least significant register first, bytes in order: "word-swapped", "Modicon" or
  "little-endian word order" (Vaisala). pymodbus word_order="little"; mbpoll's default float.
* BADC: most significant register first, the two bytes of each register swapped.
* DCBA: least significant register first, bytes swapped: the value's little-endian bytes.

For a 64-bit value (four registers, bytes A…H) the same rules hold, as in pymodbus: CDAB
reverses all four registers (GH EF CD AB), it does not swap them pairwise (CD AB GH EF); BADC
swaps the bytes in each register (BA DC FE HG); DCBA does both (HG FE DC BA). A 16-bit value
has one register: ABCD and CDAB leave it alone, BADC and DCBA swap its two bytes.
"""

from __future__ import annotations

import math
import re
import struct
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Function = Literal["input", "holding"]
ValueType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64"]
Order = Literal["ABCD", "CDAB", "BADC", "DCBA"]
IdentityField = Literal[
    "model", "serial_number", "firmware_version", "channel_count", "calibration_date"
]
IdentityFormat = Literal["decimal", "hex", "byte_pair", "text"]

ORDERS: tuple[Order, ...] = get_args(Order)
VALUE_TYPES: tuple[ValueType, ...] = get_args(ValueType)
WORDS: dict[ValueType, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
}
FLOAT_TYPES: frozenset[str] = frozenset({"float32", "float64"})
MAX_READ_REGISTERS = 125  # Modbus application protocol §6.3/6.4: 1..125 registers per read
QUIET_NAN_FLOAT32 = 0x7FC00000

_STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}
_NAME = r"^[a-z][a-z0-9_]*$"
_TEMPLATE = "{n}"


class ProfileError(ValueError):
    """A profile that cannot be used. The message names the file, the line, the row and the key."""


# --- registers <-> values ----------------------------------------------------------------------


def _swap_bytes(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def reorder(words: Sequence[int], order: Order) -> tuple[int, ...]:
    """Registers in `order` <-> registers most significant first with bytes in order (ABCD).

    The mapping is its own inverse, so it serves both directions.
    """
    out = list(words)
    if order in ("CDAB", "DCBA"):
        out.reverse()
    if order in ("BADC", "DCBA"):
        out = [_swap_bytes(w) for w in out]
    return tuple(out)


def decode_registers(words: Sequence[int], value_type: ValueType, order: Order) -> int | float:
    """The value held in `words`, as the device sent them in `order`."""
    n = WORDS[value_type]
    if len(words) != n:
        raise ValueError(f"{value_type} takes {n} registers, {len(words)} given")
    if any(not 0 <= w <= 0xFFFF for w in words):
        raise ValueError(f"registers must be 0..0xFFFF, got {list(words)}")
    data = struct.pack(f">{n}H", *reorder(words, order))
    value: int | float = struct.unpack(">" + _STRUCT[value_type], data)[0]
    return value


def encode_registers(value: float, value_type: ValueType, order: Order) -> tuple[int, ...]:
    """The registers a device in `order` sends for `value`. Raises ValueError if it does not fit."""
    if value_type not in FLOAT_TYPES and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number: it does not fit {value_type}")
        value = int(value)
    try:
        data = struct.pack(">" + _STRUCT[value_type], value)
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"{value!r} does not fit {value_type}: {exc}") from None
    return reorder(struct.unpack(f">{len(data) // 2}H", data), order)


def type_limits(value_type: ValueType) -> tuple[float, float]:
    """The smallest and largest raw value of a type."""
    if value_type in FLOAT_TYPES:
        return -math.inf, math.inf
    bits = 16 * WORDS[value_type]
    if value_type.startswith("u"):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def is_subnormal(value: float, value_type: ValueType) -> bool:
    """A float too small to be normal: no sensor reports one, a word-swapped value often is."""
    smallest = 1.1754943508222875e-38 if value_type == "float32" else 2.2250738585072014e-308
    return value_type in FLOAT_TYPES and value != 0.0 and abs(value) < smallest


# --- the TOML document, as written --------------------------------------------------------------


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceMeta(_Row):
    manufacturer: str = Field(min_length=1)
    model: str = Field(min_length=1)
    datasheet: str = Field(min_length=1, description="the document the rows cite")
    description: str = ""
    notes: str = ""


class _Defaults(_Row):
    function: Function = "holding"
    order: Order = "ABCD"
    sentinel: list[int | float | str] = []
    group: str | None = None


class Workarounds(_Row):
    """Device quirks: what a device needs beyond the protocol."""

    max_span: int = Field(default=MAX_READ_REGISTERS, ge=1, le=MAX_READ_REGISTERS)
    gap_fill_allowed: bool = Field(
        default=False,
        description="a read may cover registers no row defines (inside one declared block, "
        "when the profile declares blocks); false: requests split at every gap",
    )
    min_request_interval_s: float = Field(default=0.0, ge=0.0, le=10.0)


class _GroupRow(_Row):
    name: str = Field(pattern=_NAME)
    interval_s: float | None = Field(default=None, gt=0)
    description: str = ""


class _BlockRow(_Row):
    name: str = Field(min_length=1)
    function: Function | None = None
    first: int = Field(ge=0, le=0xFFFF)
    last: int = Field(ge=0, le=0xFFFF)
    source: str = Field(min_length=1)


class _FlagsRow(_Row):
    covers: list[str] = Field(min_length=1)
    fault_unless: int | None = None
    fault_if: int | None = None
    fault_mask: int | None = Field(default=None, ge=1)


class _PointRow(_Row):
    name: str = Field(min_length=1)
    quantity: str = Field(min_length=1)
    unit: str
    function: Function | None = None
    address: int = Field(ge=0, le=0xFFFF)
    datasheet_number: int | None = Field(default=None, ge=1, le=0x10000)
    type: ValueType
    order: Order | None = None
    scale: float = 1.0
    offset: float = 0.0
    sentinel: list[int | float | str] | None = None
    range: tuple[float, float] | None = None
    group: str | None = None
    count: int = Field(default=1, ge=1, le=1000)
    stride: int | None = Field(default=None, ge=1)
    flags: _FlagsRow | None = None
    description: str = ""
    source: str = Field(min_length=1, description="datasheet table the row comes from")


class _IdentityRow(_Row):
    field: IdentityField
    function: Function | None = None
    address: int = Field(ge=0, le=0xFFFF)
    type: ValueType | Literal["ascii"]
    length: int | None = Field(default=None, ge=1, le=MAX_READ_REGISTERS)
    order: Order | None = None
    format: IdentityFormat | None = None
    source: str = Field(min_length=1)


class _WordOrderTestRow(_Row):
    function: Function | None = None
    address: int = Field(ge=0, le=0xFFFF)
    datasheet_number: int | None = Field(default=None, ge=1, le=0x10000)
    type: ValueType
    expected: int | float
    source: str = Field(min_length=1)


class _ProfileDoc(_Row):
    device: DeviceMeta
    defaults: _Defaults = _Defaults()
    workarounds: Workarounds = Workarounds()
    group: list[_GroupRow] = []
    block: list[_BlockRow] = []
    identity: list[_IdentityRow] = []
    word_order_test: _WordOrderTestRow | None = None
    point: list[_PointRow] = Field(min_length=1)


# --- the profile, resolved ----------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRule:
    """When a status value means that the points it covers have no usable value."""

    covers: frozenset[str]
    fault_unless: int | None = None  # any other value is a fault ("1 = no errors")
    fault_if: int | None = None  # this value is a fault
    fault_mask: int | None = None  # any of these bits set is a fault

    def is_fault(self, raw: int) -> bool:
        if self.fault_unless is not None:
            return raw != self.fault_unless
        if self.fault_if is not None:
            return raw == self.fault_if
        assert self.fault_mask is not None
        return raw & self.fault_mask != 0

    def raw_for(self, fault: bool) -> int:
        """A raw value that says `fault` (what a simulated device sends)."""
        if self.fault_unless is not None:
            return (1 if self.fault_unless == 0 else 0) if fault else self.fault_unless
        if self.fault_if is not None:
            return self.fault_if if fault else (1 if self.fault_if == 0 else 0)
        assert self.fault_mask is not None
        return self.fault_mask & -self.fault_mask if fault else 0


@dataclass(frozen=True)
class Point:
    """One value of the device, where it is and how to read it."""

    name: str
    quantity: str
    unit: str
    function: Function
    address: int  # PDU address, 0-based
    type: ValueType
    order: Order
    source: str
    scale: float = 1.0
    offset: float = 0.0
    sentinels: tuple[int | float, ...] = ()
    nan_sentinel: bool = False  # declared "nan": a NaN is how this device says "unavailable"
    range: tuple[float, float] | None = None
    group: str = "all"
    flags: StatusRule | None = None
    inherits_order: bool = True  # takes the device's word order (not its own `order`)
    row: int = 0  # index of the [[point]] row it comes from
    description: str = ""

    @property
    def words(self) -> int:
        return WORDS[self.type]

    @property
    def end(self) -> int:
        """First address after the point."""
        return self.address + self.words

    @property
    def is_status(self) -> bool:
        """A status word rather than a measurement."""
        return self.quantity == "status" or self.flags is not None


@dataclass(frozen=True)
class IdentityItem:
    field: IdentityField
    function: Function
    address: int
    type: ValueType | Literal["ascii"]
    words: int
    order: Order
    format: IdentityFormat
    source: str
    inherits_order: bool = True

    @property
    def end(self) -> int:
        return self.address + self.words


@dataclass(frozen=True)
class WordOrderTest:
    """A register holding a known constant: reading it tells the device's word order."""

    function: Function
    address: int
    type: ValueType
    expected: int | float
    source: str

    @property
    def words(self) -> int:
        return WORDS[self.type]

    @property
    def end(self) -> int:
        return self.address + self.words

    def registers(self, order: Order) -> tuple[int, ...]:
        return encode_registers(self.expected, self.type, order)

    def orders_matching(self, words: Sequence[int]) -> tuple[Order, ...]:
        return tuple(o for o in ORDERS if self.registers(o) == tuple(words))


@dataclass(frozen=True)
class Block:
    """A range of legal addresses (first..last inclusive) for one function."""

    name: str
    function: Function
    first: int
    last: int

    def contains(self, function: Function, first: int, end: int) -> bool:
        return function == self.function and self.first <= first and end - 1 <= self.last


@dataclass(frozen=True)
class Group:
    name: str
    interval_s: float | None  # None: the device's poll interval
    description: str = ""


@dataclass(frozen=True)
class Profile:
    origin: str  # the file, or "built-in profile 'name'"
    device: DeviceMeta
    function: Function
    order: Order  # the device's word order (rows that inherit it)
    workarounds: Workarounds
    groups: tuple[Group, ...]
    points: tuple[Point, ...]
    identity: tuple[IdentityItem, ...] = ()
    blocks: tuple[Block, ...] = ()
    word_order_test: WordOrderTest | None = None
    _by_name: dict[str, Point] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({p.name: p for p in self.points})

    @property
    def name(self) -> str:
        return f"{self.device.manufacturer} {self.device.model}"

    def point(self, name: str) -> Point:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no point {name!r} in {self.origin}") from None

    def group_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)

    def poll_intervals(self) -> dict[str, float | None]:
        """Group name -> interval in s (None: the device's poll interval)."""
        return {g.name: g.interval_s for g in self.groups}

    def measurement_points(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if not p.is_status)

    def points_to_read(self, groups: Collection[str] | None = None) -> tuple[Point, ...]:
        """The points of `groups` (all when None) and every status row that covers one of
        them, so that a value is always judged by a status read in the same poll."""
        if groups is None:
            return self.points
        unknown = set(groups) - set(self.group_names())
        if unknown:
            raise ValueError(
                f"{self.origin}: no group {', '.join(sorted(unknown))}; "
                f"groups are {', '.join(self.group_names())}"
            )
        wanted = {p.name for p in self.points if p.group in groups}
        for p in self.points:
            if p.flags is not None and p.flags.covers & wanted:
                wanted.add(p.name)
        return tuple(p for p in self.points if p.name in wanted)

    def with_order(self, order: Order) -> Profile:
        """The same device with another word order (rows with their own `order` keep it)."""
        if order == self.order:
            return self
        return replace(
            self,
            order=order,
            points=tuple(replace(p, order=order) if p.inherits_order else p for p in self.points),
            identity=tuple(
                replace(i, order=order) if i.inherits_order else i for i in self.identity
            ),
            _by_name={},
        )

    def largest_span(self) -> int:
        """The most registers any one value needs: max_span may not go below it."""
        sizes = [p.words for p in self.points] + [i.words for i in self.identity]
        if self.word_order_test is not None:
            sizes.append(self.word_order_test.words)
        return max(sizes)

    def plan(self, points: Iterable[Point], max_span: int | None = None) -> tuple[ReadRequest, ...]:
        """The fewest read requests that cover `points`, within this device's limits."""
        return plan_reads(
            (Span(p.function, p.address, p.words, p.name) for p in points),
            max_span=self.workarounds.max_span if max_span is None else max_span,
            gap_fill=self.workarounds.gap_fill_allowed,
            blocks=self.blocks,
        )


# --- decoding a point ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Decoded:
    raw: int | float  # as the registers hold it, before scale and offset
    value: float  # raw * scale + offset, in the point's unit
    unavailable: bool  # a sentinel or a NaN: the device has no value


def decode_point(point: Point, words: Sequence[int]) -> Decoded:
    raw = decode_registers(words, point.type, point.order)
    unavailable = (isinstance(raw, float) and math.isnan(raw)) or raw in point.sentinels
    return Decoded(raw, raw * point.scale + point.offset, unavailable)


def in_range(point: Point, decoded: Decoded) -> bool:
    """A finite value inside the row's range (a subnormal float is never a measurement)."""
    v = decoded.value
    if not math.isfinite(v) or is_subnormal(float(decoded.raw), point.type):
        return False
    return point.range is None or point.range[0] <= v <= point.range[1]


def implausible_by_order(
    points: Iterable[Point], words: Mapping[str, Sequence[int]]
) -> dict[Order, tuple[str, ...]]:
    """For each word order, the points whose registers would read as a value that is neither
    "unavailable" nor in its row's range. Where a device has no test register this is the
    evidence of a wrong order: a misread float is out of range or subnormal far more often
    than not, and over a dozen values almost surely. Points whose reading cannot depend on
    the order (one register and no range) are left out."""
    considered = [p for p in points if p.words > 1 or p.range is not None]
    out: dict[Order, tuple[str, ...]] = {}
    for order in ORDERS:
        bad = []
        for p in considered:
            q = replace(p, order=order) if p.inherits_order else p
            d = decode_point(q, words[p.name])
            if not d.unavailable and not in_range(q, d):
                bad.append(p.name)
        out[order] = tuple(bad)
    return out


def unavailable_raw(point: Point) -> int | float:
    """What the device sends when it has no value: the first sentinel, or a quiet NaN."""
    if point.nan_sentinel or (not point.sentinels and point.type in FLOAT_TYPES):
        return math.nan
    if point.sentinels:
        return point.sentinels[0]
    raise ValueError(
        f"point {point.name!r} ({point.type}) has no sentinel: the device cannot say "
        "'unavailable' for it"
    )


def encode_point(point: Point, value: float, *, clamp: bool = False) -> tuple[int, ...]:
    """The registers for `value` in the point's unit; NaN is the point's 'unavailable'.

    With `clamp`, an integer that does not fit is sent as the type's nearest limit (as Vaisala
    transmitters send 0x7FFF for "32767 or more").
    """
    if math.isnan(value):
        raw: int | float = unavailable_raw(point)
    else:
        raw = (value - point.offset) / point.scale
        if point.type not in FLOAT_TYPES:
            lo, hi = type_limits(point.type)
            raw = round(raw)
            if clamp:
                raw = int(min(max(raw, lo), hi))
    return encode_registers(raw, point.type, point.order)


def _text_words(item: IdentityItem, words: Sequence[int]) -> tuple[int, ...]:
    # Text runs in register order; only a byte swap inside each register applies to it.
    return tuple(_swap_bytes(w) for w in words) if item.order in ("BADC", "DCBA") else tuple(words)


def decode_identity(item: IdentityItem, words: Sequence[int]) -> str:
    """An identity value as text: "RL-1600", "16000001", "1.2", "0x1600"."""
    if item.type == "ascii":
        data = struct.pack(f">{len(words)}H", *_text_words(item, words))
        return data.rstrip(b"\0 ").decode("ascii", errors="replace")
    raw = decode_registers(words, item.type, item.order)
    if item.format == "hex":
        return f"0x{int(raw):0{4 * item.words}X}"
    if item.format == "byte_pair":
        return f"{int(raw) >> 8}.{int(raw) & 0xFF}"
    return str(int(raw)) if item.type not in FLOAT_TYPES else repr(raw)


def encode_identity(item: IdentityItem, value: str | int) -> tuple[int, ...]:
    """The registers of an identity value (what a simulated device sends)."""
    if item.type == "ascii":
        data = str(value).encode("ascii")[: 2 * item.words].ljust(2 * item.words, b"\0")
        return _text_words(item, struct.unpack(f">{item.words}H", data))
    if isinstance(value, str):
        if item.format == "byte_pair":
            major, _, minor = value.partition(".")
            value = (int(major) << 8) | int(minor or 0)
        else:
            value = int(value, 0)
    return encode_registers(value, item.type, item.order)


# --- the read planner ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Registers one value occupies: `words` registers from `address`, read with `function`."""

    function: Function
    address: int
    words: int
    name: str

    @property
    def end(self) -> int:
        return self.address + self.words


@dataclass(frozen=True)
class ReadRequest:
    """One read transaction and the values it brings."""

    function: Function
    address: int
    count: int
    names: tuple[str, ...]

    @property
    def end(self) -> int:
        return self.address + self.count


def plan_reads(
    spans: Iterable[Span],
    *,
    max_span: int = MAX_READ_REGISTERS,
    gap_fill: bool = False,
    blocks: Sequence[Block] = (),
) -> tuple[ReadRequest, ...]:
    """Group values into the fewest read requests, per function, in address order.

    A request never splits a value, never reads more than `max_span` registers (nor 125),
    and reads registers between values (a gap) only when `gap_fill` allows it and, where
    `blocks` are declared, only inside one block of the function. Taking each value into the
    current request while it fits is optimal here: whatever one request may cover, it may
    also cover any run of consecutive values inside it, so the greedy cut is never later
    than the best one (the classic interval-cover argument).
    """
    limit = min(max_span, MAX_READ_REGISTERS)
    requests: list[ReadRequest] = []
    by_function: dict[Function, list[Span]] = {}
    for s in spans:
        if s.words > limit:
            raise ValueError(f"{s.name} takes {s.words} registers, more than max_span {limit}")
        if s.address < 0 or s.end > 0x10000:
            raise ValueError(f"{s.name} at {s.address}+{s.words} is outside 0..65535")
        by_function.setdefault(s.function, []).append(s)
    for function in sorted(by_function):
        fn_blocks = [b for b in blocks if b.function == function]
        ordered = sorted(by_function[function], key=lambda s: (s.address, s.end, s.name))
        start, end, names = ordered[0].address, ordered[0].end, [ordered[0].name]
        gapped = False  # the current request reads registers no value occupies
        for s in ordered[1:]:
            new_end = max(end, s.end)
            new_gapped = gapped or s.address > end
            fits = new_end - start <= limit
            if new_gapped:  # only where the device lets us read through, inside one block
                fits = fits and gap_fill
                if fits and blocks:
                    fits = any(b.contains(function, start, new_end) for b in fn_blocks)
            if fits:
                end, gapped = new_end, new_gapped
                names.append(s.name)
            else:
                requests.append(ReadRequest(function, start, end - start, tuple(names)))
                start, end, names, gapped = s.address, s.end, [s.name], False
        requests.append(ReadRequest(function, start, end - start, tuple(names)))
    return tuple(requests)


# --- loading ------------------------------------------------------------------------------------

PROFILES_PACKAGE = "loggerd_protocol"
_PROFILES_DIR = "profiles"


def builtin_profile_names() -> tuple[str, ...]:
    folder = resources.files(PROFILES_PACKAGE).joinpath(_PROFILES_DIR)
    return tuple(
        sorted(e.name.removesuffix(".toml") for e in folder.iterdir() if e.name.endswith(".toml"))
    )


@cache
def builtin_profile(name: str) -> Profile:
    """A profile shipped with loggerd (loggerd_protocol/profiles/<name>.toml)."""
    entry = resources.files(PROFILES_PACKAGE).joinpath(_PROFILES_DIR, f"{name}.toml")
    if not re.match(r"^[A-Za-z0-9_\-]+$", name) or not entry.is_file():
        raise ProfileError(
            f"no built-in profile {name!r}; built-in profiles: "
            f"{', '.join(builtin_profile_names())} (or give a path to a profile file)"
        )
    return parse_profile(entry.read_text("utf-8"), f"{name}.toml (built-in profile)")


def load_profile(path: str | Path) -> Profile:
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{p}: cannot read the profile: {exc}") from None
    return parse_profile(text, str(p))


def resolve_profile(name_or_path: str) -> Profile:
    """A built-in profile by name ("vaisala_hmt330"), or a profile file by path."""
    looks_like_path = any(c in name_or_path for c in "/\\") or name_or_path.endswith(".toml")
    if looks_like_path:
        return load_profile(name_or_path)
    return builtin_profile(name_or_path)


def parse_profile(text: str, origin: str = "<profile>") -> Profile:
    """Parse and validate a profile. Every problem found is reported, each with file and line."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: not valid TOML: {exc}") from None
    where = _Locator(origin, text, doc)
    try:
        parsed = _ProfileDoc.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling)"
            elif err["type"] != "missing":
                msg += f" (got {err['input']!r})"
            problems.append(where.say(tuple(err["loc"]), msg))
        raise ProfileError("\n".join(problems)) from None
    return _Resolver(parsed, origin, where).resolve()


class _Locator:
    """Turns a location in the document into `file:line: point[3] (name 'rh').type`."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, origin: str, text: str, doc: Mapping[str, Any]) -> None:
        self.origin = origin
        self.doc = doc
        self.lines: dict[tuple[str | int, ...], int] = {}
        counters: dict[str, int] = {}
        path: tuple[str | int, ...] = ()
        for number, line in enumerate(text.splitlines(), 1):
            header = self._HEADER.match(line)
            if header:
                opener, name = header.group(1), header.group(2)
                parts = name.split(".")
                if opener == "[[" and len(parts) == 1:
                    index = counters.get(name, 0)
                    counters[name] = index + 1
                    path = (name, index)
                elif len(path) >= 2 and isinstance(path[1], int) and parts[0] == path[0]:
                    path = (path[0], path[1], *parts[1:])  # [point.flags] of the last [[point]]
                else:
                    path = tuple(parts)
                self.lines.setdefault(path, number)
                continue
            key = self._KEY.match(line)
            if key:
                self.lines.setdefault((*path, key.group(1)), number)

    def line(self, loc: tuple[str | int, ...]) -> int | None:
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None

    def label(self, loc: tuple[str | int, ...]) -> str:
        parts: list[str] = []
        node: Any = self.doc
        for item in loc:
            if isinstance(item, int):
                parts[-1] += f"[{item}]"
                node = node[item] if isinstance(node, list) and item < len(node) else None
                if isinstance(node, dict) and isinstance(node.get("name"), str):
                    parts[-1] += f" (name {node['name']!r})"
                elif isinstance(node, dict) and isinstance(node.get("field"), str):
                    parts[-1] += f" (field {node['field']!r})"
            else:
                parts.append(item)
                node = node.get(item) if isinstance(node, dict) else None
        return ".".join(parts) or "(document)"

    def say(self, loc: tuple[str | int, ...], message: str) -> str:
        line = self.line(loc)
        return f"{self.origin}{f':{line}' if line else ''}: {self.label(loc)}: {message}"


class _Resolver:
    """From the document as written to a Profile: defaults applied, rows expanded, and the
    rules that span rows checked (names, groups, blocks, status coverage, word-order test)."""

    def __init__(self, doc: _ProfileDoc, origin: str, where: _Locator) -> None:
        self.doc = doc
        self.origin = origin
        self.where = where
        self.problems: list[str] = []

    def fail(self, loc: tuple[str | int, ...], message: str) -> None:
        self.problems.append(self.where.say(loc, message))

    def resolve(self) -> Profile:
        d = self.doc
        groups = tuple(Group(g.name, g.interval_s, g.description) for g in d.group)
        for i, name in _duplicates([g.name for g in groups]):
            self.fail(("group", i, "name"), f"group {name!r} is declared twice")
        default_group = d.defaults.group or (groups[0].name if len(groups) == 1 else "all")
        if not groups:
            groups = (Group(default_group, None),)
        elif d.defaults.group is not None and d.defaults.group not in {g.name for g in groups}:
            self.fail(("defaults", "group"), f"no [[group]] named {d.defaults.group!r}")
        blocks = tuple(
            Block(b.name, b.function or d.defaults.function, b.first, b.last) for b in d.block
        )
        for i, b in enumerate(d.block):
            if b.first > b.last:
                self.fail(("block", i, "last"), f"last ({b.last}) is before first ({b.first})")
        points = self._points(default_group, {g.name for g in groups})
        for i, name in _duplicates([p.name for p in points]):
            self.fail(("point", points[i].row, "name"), f"point {name!r} is defined twice")
        self._check_flags(points)
        for g in groups:
            if not any(p.group == g.name for p in points):
                loc: tuple[str | int, ...] = ("group", [x.name for x in groups].index(g.name))
                self.fail(loc if d.group else ("point",), f"group {g.name!r} has no points")
        identity = self._identity()
        test = self._word_order_test()
        self._check_blocks(blocks, points, identity, test)
        profile = Profile(
            origin=self.origin,
            device=d.device,
            function=d.defaults.function,
            order=d.defaults.order,
            workarounds=d.workarounds,
            groups=groups,
            points=points,
            identity=identity,
            blocks=blocks,
            word_order_test=test,
        )
        if not self.problems and profile.largest_span() > d.workarounds.max_span:
            self.fail(
                ("workarounds", "max_span"),
                f"{d.workarounds.max_span} is less than the {profile.largest_span()} registers "
                "of the largest value",
            )
        if self.problems:
            raise ProfileError("\n".join(self.problems))
        return profile

    def _sentinels(
        self, loc: tuple[str | int, ...], values: Sequence[int | float | str], value_type: ValueType
    ) -> tuple[tuple[int | float, ...], bool]:
        out: list[int | float] = []
        nan = False
        lo, hi = type_limits(value_type)
        for v in values:
            if isinstance(v, str) and v.lower() != "nan":
                self.fail(loc, f'a sentinel is a number or "nan", got {v!r}')
            elif isinstance(v, str) or (isinstance(v, float) and math.isnan(v)):
                if value_type not in FLOAT_TYPES:
                    self.fail(loc, f'"nan" cannot be a sentinel of {value_type}')
                nan = True
            elif value_type not in FLOAT_TYPES and (not float(v).is_integer() or not lo <= v <= hi):
                self.fail(loc, f"sentinel {v!r} is not a raw {value_type} value ({lo}..{hi})")
            else:
                out.append(int(v) if value_type not in FLOAT_TYPES else float(v))
        return tuple(out), nan

    def _points(self, default_group: str, group_names: set[str]) -> tuple[Point, ...]:
        d = self.doc
        out: list[Point] = []
        for i, row in enumerate(d.point):
            loc: tuple[str | int, ...] = ("point", i)
            template = _TEMPLATE in row.name
            if row.count > 1 and not template:
                self.fail((*loc, "name"), f"a row with count = {row.count} needs {{n}} in its name")
            if row.count == 1 and template:
                self.fail((*loc, "name"), "{n} in a name needs count > 1")
            words = WORDS[row.type]
            stride = row.stride if row.stride is not None else words
            if row.stride is not None and row.stride < words:
                self.fail(
                    (*loc, "stride"),
                    f"{row.stride} is less than the {words} registers of {row.type}",
                )
            last_end = row.address + stride * (row.count - 1) + words
            if last_end > 0x10000:
                self.fail((*loc, "address"), "the row runs past register 65535")
            if row.datasheet_number is not None and row.datasheet_number != row.address + 1:
                self.fail(
                    (*loc, "datasheet_number"),
                    f"register number {row.datasheet_number} is PDU address "
                    f"{row.datasheet_number - 1}, not {row.address}: one of them is wrong "
                    "(addresses are 0-based, datasheet numbers 1-based)",
                )
            if row.range is not None and not row.range[0] < row.range[1]:
                self.fail((*loc, "range"), f"{list(row.range)} is not [low, high]")
            if row.scale == 0 or not math.isfinite(row.scale):
                self.fail((*loc, "scale"), f"{row.scale} cannot scale a value")
            raw_sentinels = row.sentinel if row.sentinel is not None else d.defaults.sentinel
            sentinel_loc = (
                (*loc, "sentinel") if row.sentinel is not None else ("defaults", "sentinel")
            )
            sentinels, nan = self._sentinels(sentinel_loc, raw_sentinels, row.type)
            group = row.group or default_group
            if group not in group_names:
                self.fail((*loc, "group"), f"no [[group]] named {group!r}")
            if row.flags is not None and row.type in FLOAT_TYPES:
                self.fail((*loc, "flags"), f"a status row must be an integer, not {row.type}")
            if row.flags is not None:
                rules = [row.flags.fault_unless, row.flags.fault_if, row.flags.fault_mask]
                if sum(r is not None for r in rules) != 1:
                    self.fail(
                        (*loc, "flags"), "give exactly one of fault_unless, fault_if, fault_mask"
                    )
            for n in range(1, row.count + 1):
                name = row.name.replace(_TEMPLATE, str(n))
                if not re.match(_NAME, name):
                    self.fail((*loc, "name"), f"{name!r}: lower case letters, digits and _")
                flags = None
                if row.flags is not None:
                    f = row.flags
                    flags = StatusRule(
                        frozenset(c.replace(_TEMPLATE, str(n)) for c in f.covers),
                        f.fault_unless,
                        f.fault_if,
                        f.fault_mask,
                    )
                out.append(
                    Point(
                        name=name,
                        quantity=row.quantity,
                        unit=row.unit,
                        function=row.function or d.defaults.function,
                        address=row.address + (n - 1) * stride,
                        type=row.type,
                        order=row.order or d.defaults.order,
                        source=row.source,
                        scale=row.scale,
                        offset=row.offset,
                        sentinels=sentinels,
                        nan_sentinel=nan,
                        range=row.range,
                        group=group,
                        flags=flags,
                        inherits_order=row.order is None,
                        row=i,
                        description=row.description,
                    )
                )
        return tuple(out)

    def _check_flags(self, points: Sequence[Point]) -> None:
        names = {p.name for p in points}
        for p in points:
            if p.flags is None:
                continue
            loc = ("point", p.row, "flags", "covers")
            for covered in sorted(p.flags.covers):
                if covered == p.name:
                    self.fail(loc, f"{p.name!r} cannot cover itself")
                elif covered not in names:
                    self.fail(loc, f"{p.name!r} covers {covered!r}, which is not a point")

    def _identity(self) -> tuple[IdentityItem, ...]:
        d = self.doc
        out: list[IdentityItem] = []
        for i, row in enumerate(d.identity):
            loc: tuple[str | int, ...] = ("identity", i)
            if row.type == "ascii":
                if row.length is None:
                    self.fail((*loc, "length"), "an ascii value needs its length in registers")
                words = row.length or 1
                fmt: IdentityFormat = row.format or "text"
                if fmt != "text":
                    self.fail((*loc, "format"), "ascii is shown as text")
            else:
                if row.length is not None:
                    self.fail((*loc, "length"), f"{row.type} has a fixed length")
                words = WORDS[row.type]
                fmt = row.format or "decimal"
                if fmt == "text":
                    self.fail((*loc, "format"), f"{row.type} is a number, not text")
                if fmt == "byte_pair" and row.type != "uint16":
                    self.fail((*loc, "format"), "byte_pair reads a uint16 as high.low")
            out.append(
                IdentityItem(
                    field=row.field,
                    function=row.function or d.defaults.function,
                    address=row.address,
                    type=row.type,
                    words=words,
                    order=row.order or d.defaults.order,
                    format=fmt,
                    source=row.source,
                    inherits_order=row.order is None,
                )
            )
        for i, name in _duplicates([x.field for x in out]):
            self.fail(("identity", i, "field"), f"{name!r} is given twice")
        return tuple(out)

    def _word_order_test(self) -> WordOrderTest | None:
        row = self.doc.word_order_test
        if row is None:
            return None
        loc: tuple[str | int, ...] = ("word_order_test",)
        if row.datasheet_number is not None and row.datasheet_number != row.address + 1:
            self.fail(
                (*loc, "datasheet_number"),
                f"register number {row.datasheet_number} is PDU address "
                f"{row.datasheet_number - 1}, not {row.address}",
            )
        test = WordOrderTest(
            row.function or self.doc.defaults.function,
            row.address,
            row.type,
            row.expected,
            row.source,
        )
        try:
            encodings = {o: test.registers(o) for o in ORDERS}
        except ValueError as exc:
            self.fail((*loc, "expected"), str(exc))
            return test
        if len(set(encodings.values())) != len(ORDERS):
            same = [o for o in ORDERS if list(encodings.values()).count(encodings[o]) > 1]
            self.fail(
                (*loc, "expected"),
                f"{row.expected!r} as {row.type} reads the same in {', '.join(same)}: "
                "it cannot tell the orders apart",
            )
        return test

    def _check_blocks(
        self,
        blocks: Sequence[Block],
        points: Sequence[Point],
        identity: Sequence[IdentityItem],
        test: WordOrderTest | None,
    ) -> None:
        items: list[tuple[tuple[str | int, ...], Function, int, int]] = [
            (("point", p.row, "address"), p.function, p.address, p.end) for p in points
        ]
        items += [
            (("identity", i, "address"), x.function, x.address, x.end)
            for i, x in enumerate(identity)
        ]
        if test is not None:
            items.append((("word_order_test", "address"), test.function, test.address, test.end))
        for loc, function, first, end in items:
            if end > 0x10000:
                self.fail(loc, "the value runs past register 65535")
            declared = [b for b in blocks if b.function == function]
            if blocks and not any(b.contains(function, first, end) for b in declared):
                known = ", ".join(f"{b.name} {b.first}..{b.last}" for b in declared)
                self.fail(
                    loc,
                    f"{function} registers {first}..{end - 1} are in no [[block]] "
                    f"({known or f'none is declared for {function} registers'})",
                )


def _duplicates(names: Sequence[str]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        if name in seen:
            out.append((i, name))
        seen.add(name)
    return out
