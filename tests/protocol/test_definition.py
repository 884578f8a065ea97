"""The register map in reference_logger.toml is self-consistent, and PROTOCOL.md agrees with it."""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Iterator
from functools import reduce
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from loggerd_protocol.definition import Block, Definition, Field, reference_logger

DEFN: Definition = reference_logger()
TABLES = ("input", "holding")
PROTOCOL_MD = Path(__file__).resolve().parents[2] / "firmware_protocol" / "PROTOCOL.md"


def raw_toml_text() -> str:
    return resources.files("loggerd_protocol").joinpath("reference_logger.toml").read_text("utf-8")


def raw_toml() -> dict[str, Any]:
    return tomllib.loads(raw_toml_text())


def blocks_holding(f: Field) -> list[Block]:
    return [
        b
        for b in DEFN.blocks
        if b.table == f.table and b.first <= f.address and f.end - 1 <= b.last
    ]


# --- the map ---------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_no_fields_overlap_within_a_table(table: str) -> None:
    fields = sorted(DEFN.table(table), key=lambda f: f.address)  # type: ignore[arg-type]
    assert fields
    for before, after in itertools.pairwise(fields):
        assert before.end <= after.address, f"{before.name} overlaps {after.name}"


@pytest.mark.parametrize("table", TABLES)
def test_no_blocks_overlap_within_a_table(table: str) -> None:
    blocks = sorted((b for b in DEFN.blocks if b.table == table), key=lambda b: b.first)
    for b in blocks:
        assert b.first <= b.last, b.name
    for before, after in itertools.pairwise(blocks):
        assert before.last < after.first, f"{before.name} overlaps {after.name}"


def test_every_field_lies_inside_exactly_one_block_of_its_table() -> None:
    for f in DEFN.fields:
        assert len(blocks_holding(f)) == 1, f"{f.name} is in {blocks_holding(f)}"
        assert DEFN.block_for(f.table, f.address, f.words) is not None, f.name


def test_no_multi_register_value_is_split_by_a_block_edge() -> None:
    edges = {(b.table, b.first) for b in DEFN.blocks} | {(b.table, b.last + 1) for b in DEFN.blocks}
    for f in DEFN.fields:
        if f.words > 1:
            inside = {(f.table, a) for a in range(f.address + 1, f.end)}
            assert not inside & edges, f"a block edge splits {f.name}"


def test_32_bit_fields_take_two_registers() -> None:
    for f in (*DEFN.fields, *DEFN.record_fields):
        if f.type in ("uint32", "int32", "float32"):
            assert f.words == 2, f.name


def test_record_fields_tile_exactly_one_record() -> None:
    fields = sorted(DEFN.record_fields, key=lambda f: f.address)
    position = 0
    for f in fields:
        assert f.address == position, f"gap or overlap before record field {f.name}"
        position = f.end
    assert position == DEFN.record_registers == 23


def test_record_window_holds_whole_records() -> None:
    window = [f for f in DEFN.fields if f.type == "record"]
    assert len(window) == DEFN.records_per_window
    block = next(b for b in DEFN.blocks if b.name == "record_window")
    assert [f.address for f in window] == [
        block.first + i * DEFN.record_registers for i in range(DEFN.records_per_window)
    ]
    assert all(f.words == DEFN.record_registers for f in window)
    assert block.last - block.first + 1 == DEFN.records_per_window * DEFN.record_registers
    assert DEFN.records_per_window * DEFN.record_registers <= DEFN.max_registers_per_read


def test_every_point_has_a_live_field_a_status_field_and_a_record_field() -> None:
    record_fields = {f.name: f for f in DEFN.record_fields}
    assert len(DEFN.points) == DEFN.max_temperature_channels + 2
    for point in DEFN.points:
        live = DEFN.field(point.name)
        assert (live.table, live.type, live.words) == ("input", "float32", 2), point.name
        status = DEFN.status_field(point.name)
        assert (status.table, status.type) == ("input", "uint16"), point.name
        record = record_fields[point.name]
        assert record.type == "int16", point.name
        assert record.scale == point.record_scale, point.name
        assert record.unit == live.unit == point.unit, point.name
        # The record's int16 must hold the whole range, and -32768 stays free for "missing".
        assert -32767 * record.scale <= point.range[0] < point.range[1] <= 32767 * record.scale


def test_the_live_values_fit_one_read() -> None:
    names = [*DEFN.point_names(), "device_status"]
    names += [DEFN.status_field(p).name for p in DEFN.point_names()]
    first = min(DEFN.field(n).address for n in names)
    end = max(DEFN.field(n).end for n in names)
    assert (first, end - first) == (0x0100, 67)
    assert DEFN.block_for("input", first, end - first) is not None


def test_writable_fields_are_holding_registers_with_ranges_where_needed() -> None:
    for f in DEFN.fields:
        assert f.writable == (f.table == "holding"), f.name
        if f.range is not None:
            assert f.range[0] <= f.range[1], f.name
            assert f.range[0] >= 0, f.name
            assert f.range[1] < 2 ** (16 * f.words), f.name


def test_status_bits_are_distinct() -> None:
    for bits in (DEFN.channel_status_bits, DEFN.device_status_bits):
        assert len(set(bits.values())) == len(bits)
        assert all(0 <= b < 16 for b in bits.values())


def test_no_value_has_an_offset() -> None:
    """value = raw × scale, and nothing else (PROTOCOL.md §4): a row carries no key the loader
    would not read, so no value offset can hide in one. `offset` in a record row is where the
    field sits in the record, not something added to its value."""
    doc = raw_toml()
    common = {"name", "type", "count", "stride", "unit", "scale", "description", "length"}
    keys = {
        "register": common | {"table", "address", "writable", "range"},
        "record": common | {"offset"},
    }
    for kind, allowed in keys.items():
        for row in doc[kind]:
            assert set(row) <= allowed, f"{kind} {row['name']}: {set(row) - allowed}"
    header = "".join(line for line in raw_toml_text().splitlines(True) if line.startswith("#"))
    assert "value = raw * scale " in header and "+ offset" not in header


def test_exception_codes_are_the_ones_the_protocol_uses() -> None:
    assert [e.code for e in DEFN.exceptions] == [1, 2, 3, 6]


# --- PROTOCOL.md agrees with the map ---------------------------------------------------------

UNITS = {"degC": "°C", "%RH": "%RH", "s": "s", None: "—"}


def markdown_tables(text: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """(header, rows) of every pipe table; `\\|` inside a cell is kept as a literal pipe."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header = cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(cells(lines[i]))
                i += 1
            yield header, rows
        else:
            i += 1


def cells(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def tables_with_header(first_cells: list[str]) -> list[list[str]]:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    n = len(first_cells)
    found = [rows for header, rows in markdown_tables(text) if header[:n] == first_cells]
    assert found, f"PROTOCOL.md has no table headed {first_cells}"
    return [row for rows in found for row in rows]


def name_in(cell: str) -> str | None:
    match = re.fullmatch(r"`([a-z0-9_]+)`", cell)
    return match.group(1) if match else None


def parse_span(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("–")
    return int(lo, 0), int(hi or lo, 0)


def test_protocol_md_register_tables_match_the_map() -> None:
    rows = tables_with_header(["PDU address", "Register no.", "Field"])
    seen: dict[str, list[str]] = {}
    covered: set[tuple[str, int]] = set()
    for row in rows:
        assert len(row) == 8, row
        address, number, name_cell, table_cell, type_cell, unit, scale, _ = row
        first, last = parse_span(address)
        assert parse_span(number) == (first + 1, last + 1), row
        table = table_cell.split()[0]
        assert table in TABLES, row
        name = name_in(name_cell)
        if name is None:
            assert name_cell == "*reserved*", row
            assert not any(
                f.table == table and f.address <= last and f.end > first for f in DEFN.fields
            ), f"{address} is not reserved"
            span = {(table, a) for a in range(first, last + 1)}
        else:
            f = DEFN.field(name)
            span = {(table, a) for a in range(f.address, f.end)}
        assert not span & covered, f"PROTOCOL.md lists {address} twice"
        covered |= span
        if name is None:
            continue
        assert name not in seen, f"{name} listed twice"
        seen[name] = row
        assert (f.address, f.address) == (first, last), row
        assert f.table == table, row
        if f.table == "input":
            assert table_cell == "input (04)", row
        else:
            assert table_cell == ("holding (03; 06, 16)" if f.words == 1 else "holding (03; 16)")
        assert type_cell.split(",")[0] == f.type, row
        if f.type in ("ascii", "record"):
            assert type_cell == f"{f.type}, {f.words} registers", row
        assert unit == UNITS[f.unit], row
        assert float(scale) == f.scale, row
    assert sorted(seen) == sorted(f.name for f in DEFN.fields)
    every_block_address = {(b.table, a) for b in DEFN.blocks for a in range(b.first, b.last + 1)}
    assert covered == every_block_address, "the tables must cover every block exactly"


def test_protocol_md_record_table_matches_the_map() -> None:
    rows = tables_with_header(["Offset (registers)", "Field"])
    assert [name_in(r[1]) for r in rows] == [f.name for f in DEFN.record_fields]
    for row, f in zip(rows, DEFN.record_fields, strict=True):
        offset, _, type_cell, unit, scale, _ = row
        assert (int(offset), type_cell, unit, float(scale)) == (
            f.address,
            f.type,
            UNITS[f.unit],
            f.scale,
        ), row


def test_protocol_md_blocks_status_bits_and_exceptions_match_the_map() -> None:
    blocks = tables_with_header(["Block", "Table", "First", "Last"])
    assert [(r[0], r[1], int(r[2], 16), int(r[3], 16), int(r[4])) for r in blocks] == [
        (b.name, b.table, b.first, b.last, b.last - b.first + 1) for b in DEFN.blocks
    ]
    channel = tables_with_header(["Bit", "Mask", "Name", "Meaning", "Value reported"])
    device = [r for r in tables_with_header(["Bit", "Mask", "Name", "Meaning"]) if len(r) == 4]
    for rows, bits in ((channel, DEFN.channel_status_bits), (device, DEFN.device_status_bits)):
        assert {name_in(r[2]): (int(r[0]), int(r[1], 16)) for r in rows} == {
            name: (bit, 1 << bit) for name, bit in bits.items()
        }
    exceptions = tables_with_header(["Code", "Name", "Sent when"])
    assert [(int(r[0]), r[1], r[2]) for r in exceptions] == [
        (e.code, e.name.replace("_", " "), e.when) for e in DEFN.exceptions
    ]


def test_protocol_md_ascii_commands_and_errors_match_the_definition() -> None:
    doc = raw_toml()
    commands = tables_with_header(["Command", "Reply"])
    assert [r[0].strip("`") for r in commands] == [c["name"] for c in doc["command"]]
    errors = tables_with_header(["Code", "Text", "Sent when"])
    assert [(int(r[0]), r[1].strip("`")) for r in errors] == [
        (e["code"], e["text"]) for e in doc["ascii_error"]
    ]


def test_protocol_md_rec_line_checksums_are_right() -> None:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    lines = re.findall(r"^\s*< (REC [^*\n]+)\*([0-9A-F]{2})$", text, flags=re.MULTILINE)
    assert lines, "PROTOCOL.md shows no REC line"
    for body, checksum in lines:
        assert f"{reduce(lambda acc, b: acc ^ b, body.encode('ascii'), 0):02X}" == checksum, body
        assert len(body.split(",")) == 3 + DEFN.max_temperature_channels + 2, body


def test_protocol_md_lists_every_golden_vector() -> None:
    rows = tables_with_header(["Case", "Shows"])
    listed = [re.fullmatch(r"\[`([a-z0-9_]+)`\]\(testcases/\1/case\.toml\)", r[0]) for r in rows]
    assert all(listed), rows
    cases = PROTOCOL_MD.parent / "testcases"
    assert sorted(m.group(1) for m in listed if m) == sorted(
        c.parent.name for c in cases.glob("*/case.toml")
    )


def test_protocol_md_gives_the_factory_address_of_the_definition() -> None:
    (row,) = [r for r in tables_with_header(["Setting", "Value"]) if r[0] == "Device address"]
    low, high = DEFN.address_range
    assert f"{low} … {high}" in row[1]
    assert f"**{DEFN.default_address}** when it leaves the factory" in row[1]
    assert low <= DEFN.default_address <= high
