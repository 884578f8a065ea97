"""Write the golden Modbus vectors in this folder: `python generate.py` (deterministic).

The frames are built with `struct` and pymodbus's CRC, never with loggerd_protocol's codec, so
the vectors check the codec instead of repeating it; only the addresses come from the register
map. The tests read the committed case.toml files and never run this script: after editing it,
review the diff of every case.toml before committing, the vectors are the golden reference.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from pymodbus.framer.rtu import FramerRTU

from loggerd_protocol.definition import Definition, reference_logger

HERE = Path(__file__).resolve().parent
DEFN: Definition = reference_logger()
NAN = math.nan
MISSING_INT16 = -32768
EMPTY_SEQUENCE = 0xFFFFFFFF

# The same invented but plausible state of one logger is used throughout: 8 channels fitted,
# channel 3 open circuit, logging every 60 s, memory holding records 1 … 102.
UNIT = 1
CLOCK_S = 1_700_000_000  # 2023-11-14T22:13:20Z
OLDEST, NEWEST = 1, 102

# A case.toml table: scalars, lists of ints and nested tables.
Table = dict[str, object]


class Hex(int):
    """An int written to case.toml in hexadecimal, for addresses and status words."""


# --- bytes --------------------------------------------------------------------------------


def crc_bytes(data: bytes) -> bytes:
    # pymodbus returns the CRC byte-swapped, so that big-endian packing gives the wire order.
    return struct.pack(">H", FramerRTU.compute_CRC(data))


def rtu(unit: int, pdu: bytes) -> bytes:
    body = bytes((unit,)) + pdu
    return body + crc_bytes(body)


def tcp(transaction_id: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", transaction_id, 0, len(pdu) + 1, unit) + pdu


def read_request(function: int, address: int, count: int) -> bytes:
    return struct.pack(">BHH", function, address, count)


def read_response(function: int, words: Sequence[int]) -> bytes:
    return struct.pack(f">BB{len(words)}H", function, 2 * len(words), *words)


def write_multiple_request(address: int, words: Sequence[int]) -> bytes:
    n = len(words)
    return struct.pack(f">BHHB{n}H", 0x10, address, n, 2 * n, *words)


def write_echo(function: int, address: int, value: int) -> bytes:
    return struct.pack(">BHH", function, address, value)


def exception(function: int, code: int) -> bytes:
    return bytes((function | 0x80, code))


def hexs(frame: bytes) -> str:
    return frame.hex(" ").upper()


# --- values -> registers --------------------------------------------------------------------


def u16(value: int) -> list[int]:
    return [value & 0xFFFF]


def u32(value: int) -> list[int]:
    return [value >> 16, value & 0xFFFF]


def f32(value: float) -> list[int]:
    raw = 0x7FC00000 if math.isnan(value) else struct.unpack(">I", struct.pack(">f", value))[0]
    return u32(raw)


def ascii_words(text: str, words: int) -> list[int]:
    data = text.encode("ascii").ljust(2 * words, b"\0")
    return list(struct.unpack(f">{words}H", data))


def as_float32(value: float) -> float | str:
    """What a float32 register pair decodes to: the exact float32 value, or "nan"."""
    if math.isnan(value):
        return "nan"
    result: float = struct.unpack(">f", struct.pack(">f", value))[0]
    return result


def centi(value: float) -> int:
    """A record value in 0.01 units (int16); -32768 for missing. The nearest hundredth of the
    value's exact binary value, an exact tie to the even one (PROTOCOL.md §11.2)."""
    return MISSING_INT16 if math.isnan(value) else round(Fraction(value) * 100)


def place(start: int, count: int, items: Mapping[str, list[int]]) -> list[int]:
    """Registers start … start+count-1 with each named field's words in place, the rest 0."""
    words = [0] * count
    for name, value in items.items():
        offset = DEFN.field(name).address - start
        words[offset : offset + len(value)] = value
    return words


# --- the logger's state ----------------------------------------------------------------------

OPEN_CIRCUIT = 1 << DEFN.channel_status_bits["open_circuit"]
NOT_FITTED = 1 << DEFN.channel_status_bits["not_fitted"]
DEVICE_STATUS = Hex(
    (1 << DEFN.device_status_bits["logging_on"]) | (1 << DEFN.device_status_bits["sensor_fault"])
)

IDENTITY: dict[str, int | str] = {
    "model_code": Hex(0x1600),
    "firmware_version": Hex(0x0102),
    "serial_number": 1600042,
    "channel_count": 8,
    "calibration_date": 20240115,
    "model_name": "RL-1600",
}

# Channel 1 is the air temperature the frost point is computed from (Hardy 1998 ITS-90:
# -70.25 degC and 12.5 %RH give a frost point of -79.176 degC).
TEMPERATURES_C = [-70.25, -69.875, NAN, 21.37, 23.5, -40.0, 179.5, 0.0] + [NAN] * 8
TEMPERATURE_STATUS = [0, 0, OPEN_CIRCUIT, 0, 0, 0, 0, 0] + [NOT_FITTED] * 8
RH_PERCENT = 12.5
FROST_POINT_C = -79.17636


def live_words(
    temperatures_c: Sequence[float] = TEMPERATURES_C,
    temperature_status: Sequence[int] = TEMPERATURE_STATUS,
    rh_percent: float = RH_PERCENT,
    frost_point_c: float = FROST_POINT_C,
    clock_s: int = CLOCK_S,
    device_status: Hex = DEVICE_STATUS,
) -> tuple[list[int], Table]:
    items: dict[str, list[int]] = {}
    decoded: Table = {}
    for i, (t, status) in enumerate(zip(temperatures_c, temperature_status, strict=True), 1):
        items[f"temperature_{i}"] = f32(t)
        items[f"temperature_status_{i}"] = u16(status)
        decoded[f"temperature_{i}"] = as_float32(t)
        decoded[f"temperature_status_{i}"] = Hex(status)
    for name, value in (("rh", rh_percent), ("frost_point", frost_point_c)):
        items[name] = f32(value)
        decoded[name] = as_float32(value)
    items["measurement_time"] = u32(clock_s)
    decoded["measurement_time"] = clock_s
    for name in ("rh_status", "frost_point_status"):
        items[name] = u16(0)
        decoded[name] = Hex(0)
    items["device_status"] = u16(device_status)
    decoded["device_status"] = device_status
    return place(0x0100, 67, items), dict(sorted(decoded.items(), key=lambda kv: order(kv[0])))


def order(name: str) -> int:
    return DEFN.field(name).address


@dataclass(frozen=True)
class MemoryRecord:
    sequence: int
    timestamp: int
    status: int
    temperatures_c: Sequence[float]
    rh_percent: float
    frost_point_c: float

    def words(self) -> list[int]:
        values = [*self.temperatures_c, self.rh_percent, self.frost_point_c]
        return [
            *u32(self.sequence),
            *u32(self.timestamp),
            self.status,
            *(centi(v) & 0xFFFF for v in values),
        ]

    def decoded(self) -> Table:
        out: Table = {
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "status": Hex(self.status),
        }
        for i, t in enumerate(self.temperatures_c, 1):
            out[f"temperature_{i}"] = "nan" if math.isnan(t) else reading(t)
        out["rh"] = reading(self.rh_percent)
        out["frost_point"] = reading(self.frost_point_c)
        return out


def reading(value: float) -> float:
    """What a record value reads as: its int16 in 0.01 units, as the decimal number."""
    return centi(value) / 100


RECORDS = [
    MemoryRecord(
        101,
        CLOCK_S - 60,
        DEVICE_STATUS,
        [-70.31, -69.94, NAN, 21.37, 23.5, -40.0, 179.5, 0.0] + [NAN] * 8,
        12.61,
        -79.17,
    ),
    MemoryRecord(
        102,
        CLOCK_S,
        DEVICE_STATUS,
        [-70.25, -69.88, NAN, 21.37, 23.5, -40.0, 179.5, 0.0] + [NAN] * 8,
        12.5,
        -79.18,
    ),
]
EMPTY_SLOT = [*u32(EMPTY_SEQUENCE)] + [0] * 21

# Another logger, which has just started logging: its first record is the live snapshot below,
# rounded. Channels 1, 2, 4 and 8 and the RH are exact ties between two hundredths, which go
# to the even one (half up, half away from zero or half down would each get some wrong); 0.165
# is no tie as a float32 (0.16500000655…), so it is 0.17, where rounding v * 100 computed in
# float32 (exactly 16.5) would tie to 0.16; -0.004 is 0 (sent as 0.00 in ASCII, never -0.00).
TIES_CLOCK_S = 1_700_000_600
TIES_STATUS = Hex(1 << DEFN.device_status_bits["logging_on"])
TIES_TEMPERATURES_C = [21.625, -0.125, 0.375, -69.625, 0.165, -0.004, 179.125, -40.875]
TIES_TEMPERATURES_C += [NAN] * 8
TIES_RH_PERCENT = 12.625
TIES_FROST_POINT_C = -7.40719  # Hardy 1998 from channel 1 and the RH, one valid answer (§13)


def as_float32s(values: Sequence[float]) -> list[float]:
    return [NAN if math.isnan(v) else float(as_float32(v)) for v in values]


TIES_RECORD = MemoryRecord(
    1,
    TIES_CLOCK_S,
    TIES_STATUS,
    as_float32s(TIES_TEMPERATURES_C),
    float(as_float32(TIES_RH_PERCENT)),
    float(as_float32(TIES_FROST_POINT_C)),
)


# --- cases -----------------------------------------------------------------------------------


@dataclass
class Exchange:
    request: bytes
    response: bytes
    decoded_request: Table
    decoded: Table = field(default_factory=dict)


@dataclass
class Case:
    name: str
    description: str
    framing: str
    exchanges: list[Exchange]
    unit: int = UNIT
    transaction_id: int | None = None
    extra: Table = field(default_factory=dict)


def req_read(function: int, address: int, count: int) -> Table:
    return {"function": function, "address": Hex(address), "count": count}


def req_write(address: int, values: Sequence[int], fields: Table | None = None) -> Table:
    out: Table = {
        "function": 16,
        "address": Hex(address),
        "values": [Hex(v) for v in values],
    }
    if fields:
        out["fields"] = fields
    return out


def exc(function: int, code: int) -> Table:
    return {"function": function, "exception_code": code}


def rtu_read(function: int, address: int, words: Sequence[int], decoded: Table) -> Exchange:
    """A read of `len(words)` registers over RTU, answered with `words`."""
    return Exchange(
        rtu(UNIT, read_request(function, address, len(words))),
        rtu(UNIT, read_response(function, words)),
        req_read(function, address, len(words)),
        decoded,
    )


def cases() -> list[Case]:
    out: list[Case] = []

    # Classic frames whose CRCs are printed in countless Modbus tutorials; this logger has no
    # holding register 0, so it answers both with exception 02.
    out.append(
        Case(
            "crc_anchor_classic_frames",
            "CRC anchors: the textbook requests 01 03 00 00 00 01 84 0A and "
            "01 03 00 00 00 0A C5 CD; holding register 0 is not in the map, so the logger "
            "answers exception 02 (01 83 02 C0 F1)",
            "rtu",
            [
                Exchange(
                    rtu(1, read_request(3, 0, 1)),
                    rtu(1, exception(3, 2)),
                    req_read(3, 0, 1),
                    exc(3, 2),
                ),
                Exchange(
                    rtu(1, read_request(3, 0, 10)),
                    rtu(1, exception(3, 2)),
                    req_read(3, 0, 10),
                    exc(3, 2),
                ),
            ],
        )
    )

    ident_items = {
        "model_code": u16(0x1600),
        "firmware_version": u16(0x0102),
        "serial_number": u32(1600042),
        "channel_count": u16(8),
        "calibration_date": u32(20240115),
        "model_name": ascii_words("RL-1600", 8),
    }
    out.append(
        Case(
            "read_identity_rtu",
            "Read the identity block: function 04, input registers 0x0000-0x000F (16 "
            "registers); register 0x0007 is reserved and reads 0",
            "rtu",
            [rtu_read(4, 0x0000, place(0x0000, 16, ident_items), dict(IDENTITY))],
        )
    )

    live, live_decoded = live_words()
    out.append(
        Case(
            "read_live_rtu",
            "Read all live values: function 04, input registers 0x0100-0x0142 (67 registers). "
            "Channel 3 is open (NaN, status bit 0), channels 9-16 are not fitted (NaN, status "
            "bit 3), device status 0x0011 = logging on + sensor fault",
            "rtu",
            [rtu_read(4, 0x0100, live, dict(live_decoded))],
        )
    )
    out.append(
        Case(
            "read_live_tcp",
            "The same live read over Modbus TCP: MBAP header with transaction id 0x1234, "
            "protocol 0, unit id 1",
            "tcp",
            [
                Exchange(
                    tcp(0x1234, UNIT, read_request(4, 0x0100, 67)),
                    tcp(0x1234, UNIT, read_response(4, live)),
                    req_read(4, 0x0100, 67),
                    dict(live_decoded),
                )
            ],
            transaction_id=0x1234,
        )
    )

    memory = place(
        0x0200,
        6,
        {
            "oldest_sequence": u32(OLDEST),
            "newest_sequence": u32(NEWEST),
            "record_capacity": u32(DEFN.memory_capacity_records),
        },
    )
    out.append(
        Case(
            "read_memory_state_tcp_unit_255",
            "Read oldest/newest sequence and capacity (function 04, 0x0200, 6 registers) over "
            "Modbus TCP addressed to unit id 255, which the logger answers as its own; the "
            "reply echoes unit id 255",
            "tcp",
            [
                Exchange(
                    tcp(0x0001, 255, read_request(4, 0x0200, 6)),
                    tcp(0x0001, 255, read_response(4, memory)),
                    req_read(4, 0x0200, 6),
                    {
                        "oldest_sequence": OLDEST,
                        "newest_sequence": NEWEST,
                        "record_capacity": DEFN.memory_capacity_records,
                    },
                )
            ],
            unit=255,
            transaction_id=0x0001,
        )
    )

    clock_words = u32(CLOCK_S)
    out.append(
        Case(
            "read_clock_rtu",
            "Read the clock: function 03, holding registers 0x0310-0x0311, UTC epoch seconds "
            "1700000000 (2023-11-14T22:13:20Z) = 0x6553F100",
            "rtu",
            [rtu_read(3, 0x0310, clock_words, {"clock": CLOCK_S})],
        )
    )
    out.append(
        Case(
            "write_clock_rtu",
            "Set the clock to 1700000000 s: function 16, both registers 0x0310-0x0311 in one "
            "request; the reply echoes address and register count",
            "rtu",
            [
                Exchange(
                    rtu(UNIT, write_multiple_request(0x0310, clock_words)),
                    rtu(UNIT, write_echo(0x10, 0x0310, 2)),
                    req_write(0x0310, clock_words, {"clock": CLOCK_S}),
                    {"function": 16, "address": Hex(0x0310), "value": 2},
                )
            ],
        )
    )
    out.append(
        Case(
            "broadcast_write_clock_rtu",
            "Set the clock of every logger on the bus: function 16 to address 0 (broadcast); "
            "nobody replies (response_hex is empty)",
            "rtu",
            [
                Exchange(
                    rtu(0, write_multiple_request(0x0310, clock_words)),
                    b"",
                    req_write(0x0310, clock_words, {"clock": CLOCK_S}),
                )
            ],
            unit=0,
        )
    )
    out.append(
        Case(
            "write_logging_interval_rtu",
            "Set the logging interval to 60 s with function 06 (write single register) at "
            "holding 0x0312; the reply echoes the request",
            "rtu",
            [
                Exchange(
                    rtu(UNIT, write_echo(0x06, 0x0312, 60)),
                    rtu(UNIT, write_echo(0x06, 0x0312, 60)),
                    {"function": 6, "address": Hex(0x0312), "value": 60},
                    {"function": 6, "address": Hex(0x0312), "value": 60},
                )
            ],
        )
    )

    pointer_words = u32(101)
    window = RECORDS[0].words() + RECORDS[1].words() + EMPTY_SLOT * 3
    assert len(window) == 115
    window_decoded: Table = {
        "record_window_1": RECORDS[0].decoded(),
        "record_window_2": RECORDS[1].decoded(),
        "record_window_3": "empty",
        "record_window_4": "empty",
        "record_window_5": "empty",
    }
    out.append(
        Case(
            "backfill_window_rtu",
            "Backfill from record 101 while the memory holds 1-102: write the record pointer "
            "(function 16, holding 0x0300, 2 registers) then read the record window (function "
            "04, input 0x0400, 115 registers = 5 records): records 101 and 102, then three "
            "empty slots (sequence 0xFFFFFFFF)",
            "rtu",
            [
                Exchange(
                    rtu(UNIT, write_multiple_request(0x0300, pointer_words)),
                    rtu(UNIT, write_echo(0x10, 0x0300, 2)),
                    req_write(0x0300, pointer_words, {"record_pointer": 101}),
                    {"function": 16, "address": Hex(0x0300), "value": 2},
                ),
                rtu_read(4, 0x0400, window, window_decoded),
            ],
        )
    )

    out.append(
        Case(
            "exception_01_illegal_function",
            "Function 05 (write single coil, the textbook frame 01 05 00 00 FF 00 8C 3A) is not "
            "implemented: exception 01. Our codec refuses to decode the request "
            "(UnsupportedFunction)",
            "rtu",
            [
                Exchange(
                    rtu(UNIT, struct.pack(">BHH", 5, 0x0000, 0xFF00)),
                    rtu(UNIT, exception(5, 1)),
                    {"function": 5, "address": Hex(0x0000), "value": Hex(0xFF00)},
                    exc(5, 1),
                )
            ],
            extra={"expect_request_error": "unsupported_function"},
        )
    )
    out.append(
        Case(
            "exception_02_illegal_address",
            "Read input registers 0x0050-0x0051: outside every block, exception 02",
            "rtu",
            [
                Exchange(
                    rtu(UNIT, read_request(4, 0x0050, 2)),
                    rtu(UNIT, exception(4, 2)),
                    req_read(4, 0x0050, 2),
                    exc(4, 2),
                )
            ],
        )
    )
    out.append(
        Case(
            "exception_02_split_32bit_write",
            "Function 06 to holding 0x0310 would write half of the 32-bit clock: exception 02",
            "rtu",
            [
                Exchange(
                    rtu(UNIT, write_echo(0x06, 0x0310, 0x6553)),
                    rtu(UNIT, exception(6, 2)),
                    {"function": 6, "address": Hex(0x0310), "value": Hex(0x6553)},
                    exc(6, 2),
                )
            ],
        )
    )
    out.append(
        Case(
            "exception_03_pointer_out_of_range",
            "Write record pointer 103 while the memory holds 1-102: outside [oldest, newest], "
            "exception 03",
            "rtu",
            [
                Exchange(
                    rtu(UNIT, write_multiple_request(0x0300, u32(103))),
                    rtu(UNIT, exception(16, 3)),
                    req_write(0x0300, u32(103), {"record_pointer": 103}),
                    exc(16, 3),
                )
            ],
        )
    )
    out.append(
        Case(
            "exception_06_busy",
            "Read the record window while the logger writes a record to flash: exception 06, "
            "retry after 20 ms or more",
            "rtu",
            [
                Exchange(
                    rtu(UNIT, read_request(4, 0x0400, 115)),
                    rtu(UNIT, exception(4, 6)),
                    req_read(4, 0x0400, 115),
                    exc(4, 6),
                )
            ],
        )
    )

    ties_live, ties_live_decoded = live_words(
        TIES_TEMPERATURES_C,
        [0] * 8 + [NOT_FITTED] * 8,
        TIES_RH_PERCENT,
        TIES_FROST_POINT_C,
        TIES_CLOCK_S,
        TIES_STATUS,
    )
    first = u32(1)
    out.append(
        Case(
            "rounding_ties_rtu",
            "Rounding to 0.01: a logger that has just started logging. Its live values "
            "(float32) include exact ties - 21.625, -0.125, -69.625, -40.875 degC, 12.625 %RH - "
            "and its first record, taken at that measurement, holds each rounded to the "
            "nearest 0.01 of its exact value, a tie to the even hundredth: 2162, -12, -6962, "
            "-4088, 1262; 0.375 gives 38; 0.165 (as float32 0.16500000655) gives 17; -0.004 "
            "gives 0",
            "rtu",
            [
                rtu_read(4, 0x0100, ties_live, dict(ties_live_decoded)),
                Exchange(
                    rtu(UNIT, write_multiple_request(0x0300, first)),
                    rtu(UNIT, write_echo(0x10, 0x0300, 2)),
                    req_write(0x0300, first, {"record_pointer": 1}),
                    {"function": 16, "address": Hex(0x0300), "value": 2},
                ),
                rtu_read(
                    4, 0x0400, TIES_RECORD.words(), {"record_window_1": TIES_RECORD.decoded()}
                ),
            ],
        )
    )

    good = rtu(UNIT, read_response(3, clock_words))
    corrupted = good[:-1] + bytes((good[-1] ^ 0x01,))
    out.append(
        Case(
            "error_crc_corrupted",
            "Read the clock; the last CRC byte of the reply is corrupted (bit 0 flipped): the "
            "master must reject it with a CRC error",
            "rtu",
            [Exchange(rtu(UNIT, read_request(3, 0x0310, 2)), corrupted, req_read(3, 0x0310, 2))],
            extra={"expect_error": "crc"},
        )
    )
    short = rtu(UNIT, read_response(3, clock_words[:1]))
    out.append(
        Case(
            "error_byte_count_mismatch",
            "Read the clock (2 registers); the reply has a valid CRC but byte count 2 and one "
            "register: the master must reject it as not belonging to the request",
            "rtu",
            [Exchange(rtu(UNIT, read_request(3, 0x0310, 2)), short, req_read(3, 0x0310, 2))],
            extra={"expect_error": "byte_count"},
        )
    )
    return out


# --- TOML ------------------------------------------------------------------------------------


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Hex):
        return f"0x{int(value):04X}" if value <= 0xFFFF else f"0x{int(value):08X}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def toml_table(header: str, table: Mapping[str, object]) -> list[str]:
    lines = [header]
    subtables = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            subtables.append((key, value))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    name = header.strip("[]")
    for key, sub in subtables:
        lines += ["", *toml_table(f"[{name}.{key}]", sub)]
    return lines


def render(case: Case) -> str:
    lines = [
        "# Golden vector, written by generate.py; see README.md for the format.",
        f"description = {toml_value(case.description)}",
        f"framing = {toml_value(case.framing)}",
        f"unit = {case.unit}",
    ]
    if case.transaction_id is not None:
        lines.append(f"transaction_id = {toml_value(Hex(case.transaction_id))}")
    lines += [f"{k} = {toml_value(v)}" for k, v in case.extra.items()]
    several = len(case.exchanges) > 1
    if several:
        lines.append("request_hex = [")
        lines += [f"    {toml_value(hexs(x.request))}," for x in case.exchanges]
        lines += ["]", "response_hex = ["]
        lines += [f"    {toml_value(hexs(x.response))}," for x in case.exchanges]
        lines.append("]")
    else:
        lines.append(f"request_hex = {toml_value(hexs(case.exchanges[0].request))}")
        lines.append(f"response_hex = {toml_value(hexs(case.exchanges[0].response))}")
    for x in case.exchanges:
        for key, table in (("request", x.decoded_request), ("decoded", x.decoded)):
            if table or several:
                lines += ["", *toml_table(f"[[{key}]]" if several else f"[{key}]", table)]
    return "\n".join(lines) + "\n"


def main() -> None:
    for case in cases():
        folder = HERE / case.name
        folder.mkdir(exist_ok=True)
        (folder / "case.toml").write_text(render(case), encoding="utf-8")


if __name__ == "__main__":
    main()
