"""A device profile, resolved: its points, identity, blocks and poll groups with every default
applied, and the codec of one point (registers <-> a value in its unit, "unavailable" kept apart
from a number). Pure: no I/O, no clocks; a driver and a simulated device both use it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from .planner import Block, ReadRequest, Span, plan_reads
from .profile_document import DeviceMeta, IdentityField, IdentityFormat, Workarounds
from .registers import (
    FLOAT_TYPES,
    ORDERS,
    WORDS,
    Function,
    Order,
    ValueType,
    decode_registers,
    encode_registers,
    is_subnormal,
    scaled,
    swap_bytes,
    type_limits,
)


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


@dataclass(frozen=True)
class Decoded:
    raw: int | float  # as the registers hold it, before scale and offset
    value: float  # raw * scale + offset, in the point's unit
    unavailable: bool  # a sentinel or a NaN: the device has no value


def decode_point(point: Point, words: Sequence[int]) -> Decoded:
    raw = decode_registers(words, point.type, point.order)
    unavailable = (isinstance(raw, float) and math.isnan(raw)) or raw in point.sentinels
    return Decoded(raw, scaled(raw, point.scale) + point.offset, unavailable)


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
    return tuple(swap_bytes(w) for w in words) if item.order in ("BADC", "DCBA") else tuple(words)


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
