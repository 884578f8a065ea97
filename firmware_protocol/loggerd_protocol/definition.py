"""The reference logger's register map, loaded from reference_logger.toml (the one source)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

from .registers import ORDERS, WORDS, Order
from .registers import ValueType as NumberType

Table = Literal["input", "holding"]
ValueType = Literal["uint16", "int16", "uint32", "int32", "float32", "ascii", "record"]

# The map's numbers are the register codec's types (registers.py), of the codec's sizes.
WORDS_PER_TYPE: dict[str, int] = {
    t: WORDS[t] for t in ("uint16", "int16", "uint32", "int32", "float32")
}


@dataclass(frozen=True)
class Field:
    """One value at a fixed place: a register (address) or a slot inside a record (offset)."""

    name: str
    address: int
    type: ValueType
    words: int
    table: Table = "input"
    unit: str | None = None
    scale: float = 1.0
    writable: bool = False
    range: tuple[float, float] | None = None
    description: str = ""

    @property
    def end(self) -> int:
        """First address after this field."""
        return self.address + self.words

    @property
    def number_type(self) -> NumberType:
        """The register codec's type of a number; ValueError for text and records."""
        if self.type == "ascii" or self.type == "record":
            raise ValueError(f"{self.name} is {self.type}, not a number")
        return self.type


@dataclass(frozen=True)
class Block:
    """A range of legal addresses; reserved addresses inside it read as 0."""

    name: str
    table: Table
    first: int
    last: int

    def contains(self, address: int, count: int) -> bool:
        return self.first <= address and address + count - 1 <= self.last


@dataclass(frozen=True)
class Point:
    """A measured quantity the logger reports (temperature_1 … frost_point)."""

    name: str
    quantity: str
    unit: str
    range: tuple[float, float]
    record_scale: float


@dataclass(frozen=True)
class ModbusException:
    code: int
    name: str
    when: str


@dataclass(frozen=True)
class AsciiCommand:
    """One form of an RS-232 ASCII command, as the definition lists it: `DUMP <first> <last>`."""

    name: str
    reply: str

    @property
    def keyword(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def arguments(self) -> tuple[str, ...]:
        """The argument placeholders without their brackets: ("first", "last"), ("0|1",)."""
        return tuple(re.findall(r"<([^>]*)>", self.name))


@dataclass(frozen=True)
class AsciiError:
    code: int
    text: str


@dataclass(frozen=True)
class Definition:
    model: str
    description: str
    word_order: Order  # of every value of two registers (PROTOCOL.md §4.1)
    model_code: int
    firmware_version: int
    max_temperature_channels: int
    max_registers_per_read: int
    max_registers_per_write: int
    nan_float32: int
    record_missing_int16: int
    serial_defaults: dict[str, object]
    tcp_default_port: int
    tcp_broadcast_unit_id: int
    address_range: tuple[int, int]
    default_address: int  # the factory setting (PROTOCOL.md §2.1)
    memory_capacity_records: int
    record_registers: int
    records_per_window: int
    points: tuple[Point, ...]
    blocks: tuple[Block, ...]
    fields: tuple[Field, ...]
    record_fields: tuple[Field, ...]
    channel_status_bits: dict[str, int]
    device_status_bits: dict[str, int]
    exceptions: tuple[ModbusException, ...]
    ascii_defaults: dict[str, object] = field(default_factory=dict)
    ascii_commands: tuple[AsciiCommand, ...] = ()
    ascii_errors: tuple[AsciiError, ...] = ()
    _by_name: dict[str, Field] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    def field(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no register named {name!r} in the {self.model} map") from None

    def block_for(self, table: Table, address: int, count: int) -> Block | None:
        """The block that holds the whole range, or None when the range is not legal."""
        for b in self.blocks:
            if b.table == table and b.contains(address, count):
                return b
        return None

    def table(self, table: Table) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.table == table)

    def live_point_fields(self) -> tuple[Field, ...]:
        """The live-value fields of every point, in point order."""
        return tuple(self.field(name) for name in self.point_names())

    def point_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.points)

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"no point named {name!r} in the {self.model} map")

    def status_field(self, point: str) -> Field:
        """The status word of a point: temperature_3 -> temperature_status_3, rh -> rh_status."""
        base, _, index = point.rpartition("_")
        return self.field(f"{base}_status_{index}" if index.isdigit() else f"{point}_status")

    def exception_code(self, name: str) -> int:
        for e in self.exceptions:
            if e.name == name:
                return e.code
        raise KeyError(name)

    def ascii_error(self, text: str) -> AsciiError:
        """The ASCII error with this fixed text ("bad argument" -> code 2)."""
        for e in self.ascii_errors:
            if e.text == text:
                return e
        raise KeyError(f"no ASCII error {text!r} in the {self.model} definition")


def _int(row: dict[str, object], key: str, default: int | None = None) -> int:
    value = row.get(key, default)
    if not isinstance(value, int):
        raise ValueError(f"{row.get('name')!r}: {key} must be an integer, got {value!r}")
    return value


def _words(kind: str, row: dict[str, object]) -> int:
    if kind == "ascii":
        return _int(row, "length")
    if kind == "record":
        return _int(row, "stride")
    return WORDS_PER_TYPE[kind]


def _expand(rows: list[dict[str, object]], key: str, table: Table | None) -> list[Field]:
    """Expand rows with `count` > 1 into numbered fields: temperature -> temperature_1 …"""
    out: list[Field] = []
    for row in rows:
        kind = str(row["type"])
        count = _int(row, "count", 1)
        stride = _int(row, "stride", _words(kind, row))
        raw_range = row.get("range")
        rng = (float(raw_range[0]), float(raw_range[1])) if isinstance(raw_range, list) else None
        for i in range(count):
            name = f"{row['name']}_{i + 1}" if count > 1 else str(row["name"])
            out.append(
                Field(
                    name=name,
                    address=_int(row, key) + i * stride,
                    type=kind,  # type: ignore[arg-type]
                    words=_words(kind, row),
                    table=table if table is not None else str(row.get("table", "input")),  # type: ignore[arg-type]
                    unit=str(row["unit"]) if "unit" in row else None,
                    scale=float(row.get("scale", 1.0)),  # type: ignore[arg-type]
                    writable=bool(row.get("writable", False)),
                    range=rng,
                    description=str(row.get("description", "")),
                )
            )
    return out


def _points(rows: list[dict[str, object]]) -> tuple[Point, ...]:
    out: list[Point] = []
    for row in rows:
        count = _int(row, "count", 1)
        rng = row["range"]
        assert isinstance(rng, list)
        for i in range(count):
            out.append(
                Point(
                    name=f"{row['name']}_{i + 1}" if count > 1 else str(row["name"]),
                    quantity=str(row["quantity"]),
                    unit=str(row["unit"]),
                    range=(float(rng[0]), float(rng[1])),
                    record_scale=float(row["record_scale"]),  # type: ignore[arg-type]
                )
            )
    return tuple(out)


def _word_order(value: object) -> Order:
    for order in ORDERS:
        if value == order:
            return order
    raise ValueError(f"device.word_order must be one of {', '.join(ORDERS)}, got {value!r}")


def parse_definition(text: str) -> Definition:
    doc = tomllib.loads(text)
    dev = doc["device"]
    mem = doc["memory"]
    fields = _expand(doc["register"], "address", None)
    record_fields = _expand(doc["record"], "offset", "input")
    return Definition(
        model=dev["model"],
        description=dev.get("description", ""),
        word_order=_word_order(dev["word_order"]),
        model_code=dev["model_code"],
        firmware_version=dev["firmware_version"],
        max_temperature_channels=dev["max_temperature_channels"],
        max_registers_per_read=dev["max_registers_per_read"],
        max_registers_per_write=dev["max_registers_per_write"],
        nan_float32=dev["nan_float32"],
        record_missing_int16=dev["record_missing_int16"],
        serial_defaults=dict(doc["serial"]),
        tcp_default_port=doc["tcp"]["default_port"],
        tcp_broadcast_unit_id=doc["tcp"]["broadcast_unit_id"],
        address_range=(doc["serial"]["addresses"][0], doc["serial"]["addresses"][1]),
        default_address=doc["serial"]["default_address"],
        memory_capacity_records=mem["capacity_records"],
        record_registers=mem["record_registers"],
        records_per_window=mem["records_per_window"],
        points=_points(doc["point"]),
        blocks=tuple(
            Block(name=b["name"], table=b["table"], first=b["first"], last=b["last"])
            for b in doc["block"]
        ),
        fields=tuple(fields),
        record_fields=tuple(record_fields),
        channel_status_bits=dict(doc["channel_status_bits"]),
        device_status_bits=dict(doc["device_status_bits"]),
        exceptions=tuple(
            ModbusException(code=e["code"], name=e["name"], when=e["when"])
            for e in doc["exception"]
        ),
        ascii_defaults=dict(doc.get("ascii", {})),
        ascii_commands=tuple(
            AsciiCommand(name=c["name"], reply=c["reply"]) for c in doc.get("command", [])
        ),
        ascii_errors=tuple(
            AsciiError(code=e["code"], text=e["text"]) for e in doc.get("ascii_error", [])
        ),
    )


@cache
def reference_logger() -> Definition:
    """The reference logger's definition, as shipped beside this module."""
    text = resources.files(__package__).joinpath("reference_logger.toml").read_text("utf-8")
    return parse_definition(text)
