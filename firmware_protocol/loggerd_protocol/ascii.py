"""The RS-232 ASCII command protocol (PROTOCOL.md §14): pure lines <-> commands and replies.

No I/O and no clocks. The driver and the simulator both format and parse through this module;
the point list (order and count of the values in VAL and REC lines), the command forms and the
error codes and texts all come from reference_logger.toml, and the golden lines in
firmware_protocol/testcases/ascii_*/ pin the formats down.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce

from .definition import AsciiCommand, Definition, reference_logger
from .values import Record, ValueEncodingError, decode_record, encode_record

# A receiver's limit, not a protocol value: the longest legal line (a REC line with every
# value at -327.67 and 10-digit numbers) is under 200 bytes.
MAX_LINE_BYTES = 256

_ARGUMENT = re.compile(r"[0-9]+")  # decimal, no sign, no '+' (§14.1)
_DECIMAL_2 = re.compile(r"-?[0-9]+\.[0-9]{2}")  # exactly two decimals
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_HEX2 = re.compile(r"[0-9A-F]{2}")  # upper case only: `0d` is not the checksum `0D`
_FIRMWARE = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})")
_UINT32_MAX = 0xFFFFFFFF


class AsciiFrameError(ValueError):
    """A line that is not a valid reply. The message says what is wrong and where."""

    def __init__(self, message: str, line: bytes | str = b"") -> None:
        super().__init__(message)
        self.line = line if isinstance(line, bytes) else line.encode("ascii", "replace")


class ChecksumError(AsciiFrameError):
    """A REC line whose XOR checksum does not match its contents."""

    def __init__(
        self, message: str, line: bytes, sequence: int | None, received: int, computed: int
    ) -> None:
        super().__init__(message, line)
        self.sequence = sequence
        self.received = received
        self.computed = computed


class FieldCountError(AsciiFrameError):
    """A reply line with too many or too few comma-separated fields."""

    def __init__(self, message: str, line: bytes, fields: int, expected: int) -> None:
        super().__init__(message, line)
        self.fields = fields
        self.expected = expected


class FieldValueError(AsciiFrameError):
    """A field that is not what its place calls for: a non-numeric value, a bad hex word."""

    def __init__(self, message: str, line: bytes, field: int, name: str) -> None:
        super().__init__(message, line)
        self.field = field  # 1-based, as the message says it
        self.name = name


class UnknownKeywordError(AsciiFrameError):
    """A line that does not start with a reply keyword of this protocol."""


class LineTooLongError(AsciiFrameError):
    """More than MAX_LINE_BYTES without a line ending: not this protocol, or a broken line."""


class CommandError(Exception):
    """A command line the logger answers with `ERR <code> <text>` before executing anything."""

    def __init__(self, code: int, text: str, detail: str) -> None:
        super().__init__(f"ERR {code} {text}: {detail}")
        self.code = code
        self.text = text
        self.detail = detail

    @property
    def reply(self) -> ErrReply:
        return ErrReply(self.code, self.text)


# --- commands (master -> logger) -------------------------------------------------------------


@dataclass(frozen=True)
class IdnQuery:
    """`IDN?`: identity."""


@dataclass(frozen=True)
class ReadQuery:
    """`READ?`: one live snapshot."""


@dataclass(frozen=True)
class ContCommand:
    """`CONT 0|1`: stop or start continuous VAL output."""

    on: bool


@dataclass(frozen=True)
class IntvQuery:
    """`INTV?`: the logging interval."""


@dataclass(frozen=True)
class IntvCommand:
    """`INTV <s>`: set the logging interval."""

    interval_s: int


@dataclass(frozen=True)
class TimeQuery:
    """`TIME?`: the logger's clock."""


@dataclass(frozen=True)
class TimeCommand:
    """`TIME <epoch s>`: set the clock."""

    epoch_s: int


@dataclass(frozen=True)
class LogCommand:
    """`LOG 0|1`: stop or start logging."""

    on: bool


@dataclass(frozen=True)
class MemQuery:
    """`MEM?`: oldest and newest sequence held, capacity."""


@dataclass(frozen=True)
class DumpCommand:
    """`DUMP <first> <last>`: records first … last (inclusive) as REC lines, then END."""

    first: int
    last: int


Command = (
    IdnQuery
    | ReadQuery
    | ContCommand
    | IntvQuery
    | IntvCommand
    | TimeQuery
    | TimeCommand
    | LogCommand
    | MemQuery
    | DumpCommand
)

# --- replies (logger -> master) --------------------------------------------------------------


@dataclass(frozen=True)
class IdnReply:
    model: str
    firmware_version: int  # as the register holds it: major in the high byte, minor in the low
    serial_number: int
    channel_count: int
    calibration_date: int  # the decimal number YYYYMMDD

    @property
    def firmware(self) -> str:
        return f"{self.firmware_version >> 8}.{self.firmware_version & 0xFF}"


@dataclass(frozen=True)
class ValReply:
    """A live snapshot (the reply to READ?, and each line of continuous output)."""

    epoch_s: int  # logger clock when measured
    device_status: int
    values: Mapping[str, float]  # point name -> value in the point's unit, NaN when missing


@dataclass(frozen=True)
class IntvReply:
    interval_s: int


@dataclass(frozen=True)
class TimeReply:
    epoch_s: int


@dataclass(frozen=True)
class MemReply:
    oldest: int
    newest: int
    capacity: int


@dataclass(frozen=True)
class RecReply:
    """One memory record of a DUMP, checksum verified."""

    record: Record


@dataclass(frozen=True)
class EndReply:
    count: int


@dataclass(frozen=True)
class OkReply:
    pass


@dataclass(frozen=True)
class ErrReply:
    code: int
    text: str


Reply = (
    IdnReply
    | ValReply
    | IntvReply
    | TimeReply
    | MemReply
    | RecReply
    | EndReply
    | OkReply
    | ErrReply
)

REPLY_KEYWORDS: Mapping[type[Reply], str] = {
    IdnReply: "IDN",
    ValReply: "VAL",
    IntvReply: "INTV",
    TimeReply: "TIME",
    MemReply: "MEM",
    RecReply: "REC",
    EndReply: "END",
    OkReply: "OK",
    ErrReply: "ERR",
}
_OK_REPLY: frozenset[str] = frozenset({"OK"})


def reply_keywords(command: Command) -> frozenset[str]:
    """The keywords of the lines that answer `command`, besides ERR (which answers any)."""
    if isinstance(command, IdnQuery):
        return frozenset({"IDN"})
    if isinstance(command, ReadQuery):
        return frozenset({"VAL"})
    if isinstance(command, IntvQuery):
        return frozenset({"INTV"})
    if isinstance(command, TimeQuery):
        return frozenset({"TIME"})
    if isinstance(command, MemQuery):
        return frozenset({"MEM"})
    if isinstance(command, DumpCommand):
        return frozenset({"REC", "END"})
    return _OK_REPLY


# --- the definition's tables ---------------------------------------------------------------


@dataclass(frozen=True)
class _Tables:
    defn: Definition
    line_ending: bytes
    points: tuple[str, ...]
    forms: Mapping[str, tuple[AsciiCommand, ...]]  # keyword -> its forms in the definition
    interval_range: tuple[int, int]
    clock_range: tuple[int, int]


_TABLES: dict[int, _Tables] = {}


def _tables(defn: Definition) -> _Tables:
    # A Definition holds dicts and cannot be hashed: cache by identity, keeping it alive.
    found = _TABLES.get(id(defn))
    if found is None or found.defn is not defn:
        found = _TABLES[id(defn)] = _build_tables(defn)
    return found


def _build_tables(defn: Definition) -> _Tables:
    forms: dict[str, list[AsciiCommand]] = {}
    for command in defn.ascii_commands:
        forms.setdefault(command.keyword, []).append(command)

    def int_range(name: str) -> tuple[int, int]:
        rng = defn.field(name).range
        assert rng is not None, f"{name} has no range in the definition"
        return int(rng[0]), int(rng[1])

    return _Tables(
        defn=defn,
        line_ending=str(defn.ascii_defaults.get("line_ending", "\r\n")).encode("ascii"),
        points=defn.point_names(),
        forms={k: tuple(v) for k, v in forms.items()},
        interval_range=int_range("logging_interval"),
        clock_range=int_range("clock"),
    )


def error_reply(text: str, defn: Definition | None = None) -> ErrReply:
    """The ERR reply with this fixed text, its code from the definition: ERR 2 bad argument."""
    e = (defn or reference_logger()).ascii_error(text)
    return ErrReply(e.code, e.text)


# --- line framing --------------------------------------------------------------------------


class LineReader:
    """Splits a byte stream into lines: CR LF ends a line, so does a lone LF.

    Pure and stateful: feed() what arrives, take complete lines with next_line().
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buf = bytearray()
        self._skipping = False  # inside an over-long line: drop up to its end

    def feed(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        self._buf.clear()
        self._skipping = False

    @property
    def pending(self) -> bytes:
        """Bytes received that do not yet make a complete line."""
        return bytes(self._buf)

    def next_line(self) -> bytes | None:
        """The next complete line without its line ending, or None until one is in.

        Raises LineTooLongError once for a line longer than max_line_bytes; its bytes are
        dropped up to its line ending, and reading goes on with the line after it.
        """
        while True:
            end = self._buf.find(b"\n")
            if self._skipping:
                if end < 0:
                    self._buf.clear()
                    return None
                del self._buf[: end + 1]
                self._skipping = False
                continue
            if end < 0:
                if len(self._buf) > self.max_line_bytes:
                    head = bytes(self._buf[:40])
                    self._buf.clear()
                    self._skipping = True
                    raise LineTooLongError(
                        f"no line ending within {self.max_line_bytes} bytes "
                        f"(starting {head!r}): not a line of this protocol",
                        head,
                    )
                return None
            line = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.max_line_bytes:
                raise LineTooLongError(
                    f"line of {len(line)} bytes is longer than {self.max_line_bytes} "
                    f"(starting {line[:40]!r})",
                    line[:40],
                )
            return line


# --- numbers -------------------------------------------------------------------------------


def format_value(value: float) -> str:
    """A measured value with exactly two decimals, rounded to the nearest 0.01; NaN as NaN.

    An infinite value cannot be sent and is missing too (never a made-up number).
    """
    if not math.isfinite(value):
        return "NaN"
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def xor_checksum(body: bytes) -> int:
    """XOR of every byte: the REC checksum over the line from `R` up to, not including, `*`."""
    return reduce(lambda acc, byte: acc ^ byte, body, 0)


def _text(line: bytes) -> str:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise AsciiFrameError(f"line {line!r} is not ASCII", line) from None
    if not text.isprintable():
        raise AsciiFrameError(f"line {line!r} holds control characters", line)
    return text


class _Fields:
    """The comma-separated fields of one reply line, parsed with errors that say where."""

    def __init__(self, keyword: str, line: bytes, body: str, names: tuple[str, ...]) -> None:
        self.keyword = keyword
        self.line = line
        self.names = names
        self.items = body.split(",") if body else []
        if len(self.items) != len(names):
            raise FieldCountError(
                f"{keyword} line has {len(self.items)} fields, expected {len(names)} "
                f"({_summary(names)}): {line!r}",
                line,
                len(self.items),
                len(names),
            )

    def _error(self, index: int, expected: str) -> FieldValueError:
        return FieldValueError(
            f"{self.keyword} field {index + 1} ({self.names[index]}) is "
            f"{self.items[index]!r}, expected {expected}: {self.line!r}",
            self.line,
            index + 1,
            self.names[index],
        )

    def integer(self, index: int, maximum: int = _UINT32_MAX) -> int:
        item = self.items[index]
        if not _ARGUMENT.fullmatch(item) or int(item) > maximum:
            raise self._error(index, f"a decimal integer 0 … {maximum}")
        return int(item)

    def hex4(self, index: int) -> int:
        item = self.items[index]
        if not _HEX4.fullmatch(item):
            raise self._error(index, "4 hex digits")
        return int(item, 16)

    def value(self, index: int) -> float:
        item = self.items[index]
        if item == "NaN":
            return math.nan
        if not _DECIMAL_2.fullmatch(item):
            raise self._error(index, "a number with two decimals or NaN")
        return float(item)

    def text(self, index: int) -> str:
        item = self.items[index]
        if not item:
            raise self._error(index, "text")
        return item


def _summary(names: tuple[str, ...]) -> str:
    return ", ".join(names) if len(names) <= 6 else f"{', '.join(names[:3])} … {names[-1]}"


# --- commands ------------------------------------------------------------------------------


def encode_command(command: Command, defn: Definition | None = None) -> bytes:
    """The command line with its CR LF. Arguments are not range-checked: the logger does that."""
    if isinstance(command, IdnQuery):
        text = "IDN?"
    elif isinstance(command, ReadQuery):
        text = "READ?"
    elif isinstance(command, ContCommand):
        text = f"CONT {int(command.on)}"
    elif isinstance(command, IntvQuery):
        text = "INTV?"
    elif isinstance(command, IntvCommand):
        text = f"INTV {_argument(command.interval_s)}"
    elif isinstance(command, TimeQuery):
        text = "TIME?"
    elif isinstance(command, TimeCommand):
        text = f"TIME {_argument(command.epoch_s)}"
    elif isinstance(command, LogCommand):
        text = f"LOG {int(command.on)}"
    elif isinstance(command, MemQuery):
        text = "MEM?"
    else:
        text = f"DUMP {_argument(command.first)} {_argument(command.last)}"
    return text.encode("ascii") + _tables(defn or reference_logger()).line_ending


def _argument(value: int) -> str:
    if value < 0:
        raise ValueEncodingError(f"command argument {value} is negative: arguments have no sign")
    return str(value)


def decode_command(line: bytes, defn: Definition | None = None) -> Command:
    """Parse one command line (without its line ending), as the logger does.

    Raises CommandError with the code and text the logger answers: 1 for a keyword (or form)
    the definition does not list, 2 for a missing, extra, non-numeric or out-of-range argument.
    """
    t = _tables(defn or reference_logger())
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    keyword, *args = text.split(" ") if text else [""]
    keyword = keyword.upper()
    forms = t.forms.get(keyword)
    if not forms:
        raise _error(t, "unknown command", f"{keyword!r} is not a command")
    form = next((f for f in forms if len(f.arguments) == len(args)), None)
    if form is None:
        counts = " or ".join(str(len(f.arguments)) for f in forms)
        raise _error(
            t, "bad argument", f"{keyword}: {len(args)} arguments given, {counts} expected"
        )
    numbers: list[int] = []
    for name, arg in zip(form.arguments, args, strict=True):
        if not _ARGUMENT.fullmatch(arg):
            raise _error(t, "bad argument", f"{keyword} <{name}>: {arg!r} is not a number")
        numbers.append(int(arg))

    def within(value: int, lo: int, hi: int, name: str) -> int:
        if not lo <= value <= hi:
            raise _error(t, "bad argument", f"{keyword} <{name}>: {value} outside {lo} … {hi}")
        return value

    if keyword == "IDN?":
        return IdnQuery()
    if keyword == "READ?":
        return ReadQuery()
    if keyword == "INTV?":
        return IntvQuery()
    if keyword == "TIME?":
        return TimeQuery()
    if keyword == "MEM?":
        return MemQuery()
    if keyword == "CONT":
        return ContCommand(bool(within(numbers[0], 0, 1, form.arguments[0])))
    if keyword == "LOG":
        return LogCommand(bool(within(numbers[0], 0, 1, form.arguments[0])))
    if keyword == "INTV":
        return IntvCommand(within(numbers[0], *t.interval_range, form.arguments[0]))
    if keyword == "TIME":
        return TimeCommand(within(numbers[0], *t.clock_range, form.arguments[0]))
    if keyword == "DUMP":
        first = within(numbers[0], 0, _UINT32_MAX, "first")
        last = within(numbers[1], 0, _UINT32_MAX, "last")
        if first > last:
            raise _error(t, "bad argument", f"DUMP first {first} > last {last}")
        return DumpCommand(first, last)
    # A form the definition lists that this codec does not implement: the two drifted apart.
    raise _error(t, "unknown command", f"{keyword!r} is not implemented")


def _error(t: _Tables, text: str, detail: str) -> CommandError:
    e = t.defn.ascii_error(text)
    return CommandError(e.code, e.text, detail)


# --- replies -------------------------------------------------------------------------------


def encode_reply(reply: Reply, defn: Definition | None = None) -> bytes:
    """The reply line with its CR LF (a REC line with its checksum)."""
    t = _tables(defn or reference_logger())
    if isinstance(reply, IdnReply):
        model = reply.model
        if not model or "," in model or not (model.isascii() and model.isprintable()):
            raise ValueEncodingError(f"model {model!r}: printable ASCII without commas")
        text = (
            f"IDN {reply.model},{reply.firmware},{reply.serial_number},"
            f"{reply.channel_count},{reply.calibration_date}"
        )
    elif isinstance(reply, ValReply):
        values = ",".join(format_value(reply.values.get(p, math.nan)) for p in t.points)
        text = f"VAL {reply.epoch_s},{reply.device_status:04X},{values}"
    elif isinstance(reply, IntvReply):
        text = f"INTV {reply.interval_s}"
    elif isinstance(reply, TimeReply):
        text = f"TIME {reply.epoch_s}"
    elif isinstance(reply, MemReply):
        text = f"MEM {reply.oldest},{reply.newest},{reply.capacity}"
    elif isinstance(reply, RecReply):
        text = _rec_body(t, reply.record)
        return f"{text}*{xor_checksum(text.encode('ascii')):02X}".encode("ascii") + t.line_ending
    elif isinstance(reply, EndReply):
        text = f"END {reply.count}"
    elif isinstance(reply, OkReply):
        text = "OK"
    else:
        text = f"ERR {reply.code} {reply.text}"
    return text.encode("ascii") + t.line_ending


def _rec_body(t: _Tables, record: Record) -> str:
    # Through the record's registers, so that a REC line carries exactly what the Modbus record
    # window carries: int16 in 0.01 units, limited to ±327.67, −32768 (NaN) when missing.
    stored = decode_record(t.defn, encode_record(t.defn, record))
    assert stored is not None
    values = ",".join(format_value(stored.values[p]) for p in t.points)
    return f"REC {stored.sequence},{stored.timestamp},{stored.status:04X},{values}"


def reply_keyword(line: bytes) -> str:
    """The keyword a reply line starts with; AsciiFrameError when it is not a reply keyword."""
    keyword = line.split(b" ", 1)[0]
    if keyword.decode("ascii", "replace") not in REPLY_KEYWORDS.values():
        raise UnknownKeywordError(f"unknown reply keyword {keyword!r} in line {line!r}", line)
    return keyword.decode("ascii")


def decode_reply(line: bytes, defn: Definition | None = None) -> Reply:
    """Parse one reply line (without its line ending). Raises AsciiFrameError, ChecksumError."""
    t = _tables(defn or reference_logger())
    keyword = reply_keyword(line)
    text = _text(line)
    body = text[len(keyword) + 1 :] if len(text) > len(keyword) else ""
    if len(text) > len(keyword) and text[len(keyword)] != " ":
        raise AsciiFrameError(f"no space after {keyword}: {line!r}", line)
    if keyword == "OK":
        if body:
            raise AsciiFrameError(f"OK line with trailing text: {line!r}", line)
        return OkReply()
    if keyword == "ERR":
        code, _, message = body.partition(" ")
        if not _ARGUMENT.fullmatch(code) or not message:
            raise AsciiFrameError(f"ERR line is not 'ERR <code> <text>': {line!r}", line)
        return ErrReply(int(code), message)
    if keyword == "REC":
        return _decode_rec(t, line, body)
    if keyword == "IDN":
        names = ("model", "firmware", "serial number", "channel count", "calibration date")
        f = _Fields(keyword, line, body, names)
        fw = _FIRMWARE.fullmatch(f.items[1])
        if fw is None or int(fw[1]) > 255 or int(fw[2]) > 255:
            raise f._error(1, "major.minor, each 0 … 255")
        return IdnReply(
            model=f.text(0),
            firmware_version=int(fw[1]) << 8 | int(fw[2]),
            serial_number=f.integer(2),
            channel_count=f.integer(3),
            calibration_date=f.integer(4),
        )
    if keyword == "VAL":
        f = _Fields(keyword, line, body, ("epoch s", "device status", *t.points))
        return ValReply(
            epoch_s=f.integer(0),
            device_status=f.hex4(1),
            values={p: f.value(2 + i) for i, p in enumerate(t.points)},
        )
    if keyword == "MEM":
        f = _Fields(keyword, line, body, ("oldest", "newest", "capacity"))
        return MemReply(f.integer(0), f.integer(1), f.integer(2))
    f = _Fields(keyword, line, body, (_SINGLE_FIELD[keyword],))
    if keyword == "INTV":
        return IntvReply(f.integer(0))
    if keyword == "TIME":
        return TimeReply(f.integer(0))
    return EndReply(f.integer(0))


_SINGLE_FIELD = {"INTV": "seconds", "TIME": "epoch s", "END": "count"}


def _decode_rec(t: _Tables, line: bytes, body: str) -> RecReply:
    star = line.rfind(b"*")
    if star < 0:
        raise AsciiFrameError(f"REC line without '*<checksum>': {line!r}", line)
    checksum_text = line[star + 1 :].decode("ascii", "replace")
    fields = body[: body.rfind("*")]
    items = fields.split(",")
    # The sequence, for the messages: where a broken line came from matters to the master.
    sequence = int(items[0]) if _ARGUMENT.fullmatch(items[0]) else None
    where = f"REC line of record {sequence}" if sequence is not None else "REC line"
    if not _HEX2.fullmatch(checksum_text):
        raise AsciiFrameError(
            f"{where}: checksum {checksum_text!r} is not 2 upper-case hex digits: {line!r}", line
        )
    received = int(checksum_text, 16)
    computed = xor_checksum(line[:star])
    if received != computed:
        raise ChecksumError(
            f"{where}: checksum {received:02X} received, {computed:02X} computed "
            f"over the line: {line!r}",
            line,
            sequence,
            received,
            computed,
        )
    f = _Fields("REC", line, fields, ("sequence", "epoch s", "status", *t.points))
    return RecReply(
        Record(
            sequence=f.integer(0),
            timestamp=f.integer(1),
            status=f.hex4(2),
            values={p: f.value(3 + i) for i, p in enumerate(t.points)},
        )
    )
