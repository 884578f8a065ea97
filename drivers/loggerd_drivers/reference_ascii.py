"""Driver for the reference logger (RL-1600) over its RS-232 ASCII command protocol (§14)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from typing import TypeVar

from pydantic import Field as PydanticField

from loggerd.core.errors import DeviceException, NoReply, ProtocolError
from loggerd.core.samples import Reading
from loggerd.drivers.base import (
    DeviceInfo,
    DriverConfig,
    LoggedRecord,
    MemoryDriver,
    MemoryRange,
    PointInfo,
    retry_busy,
)
from loggerd.link.lines import LinePool
from loggerd.link.transport import SerialSettings
from loggerd_protocol import ascii as asc
from loggerd_protocol.values import Record

from .rl1600 import CLOCK_RANGE_S, readings
from .rl1600 import DEFN as _DEFN

log = logging.getLogger(__name__)

_BUSY = _DEFN.ascii_error("busy").code
_OUT_OF_RANGE = _DEFN.ascii_error("sequence out of range").code
# A REC line is about 120 characters (§14.2); a DUMP is kept to about a second of them, so a
# live read from another thread never waits long for the line.
_REC_LINE_BYTES = 120
_DUMP_S = 1.0

ReplyT = TypeVar("ReplyT", bound=asc.Reply)


class ReferenceAsciiConfig(DriverConfig):
    url: str = PydanticField(
        description="any pyserial URL (a device path such as /dev/ttyUSB0, socket://, "
        "rfc2217://), or tcp://HOST:PORT for a serial device server in raw TCP mode",
        min_length=1,
    )
    baudrate: int = PydanticField(default=9600, gt=0, description="the logger sends 8N1")
    timeout_s: float = PydanticField(
        default=0.5,
        gt=0,
        le=30,
        description="how long to wait for a reply, and between the lines of a DUMP",
    )


class AsciiDeviceError(DeviceException):
    """The logger answered `ERR <code> <text>`. `code` is the ASCII error code (§14.1: 1
    unknown command, 2 bad argument, 3 sequence out of range, 4 busy), not a Modbus one."""

    def __init__(self, message: str, code: int, text: str) -> None:
        super().__init__(message, code)
        self.text = text

    @property
    def busy(self) -> bool:
        """The logger was writing a record to flash: retry after 20 ms or more."""
        return self.code == _BUSY


class ReferenceAsciiDriver(MemoryDriver):
    """The RL-1600 on its RS-232 port: one logger per line, one command at a time.

    Before each command the driver throws away whatever has arrived unasked — lines of
    continuous output, the rest of a reply it gave up on — and then accepts only lines whose
    keyword answers the command (or ERR), skipping any other. open() stops continuous output
    (CONT 0), which only competes with polling; a VAL line pushed in the instant between a
    READ? and its reply would itself be a live snapshot of that instant.

    Each exchange (a command and its whole reply, a DUMP's last line included) holds a lock, so
    threads may share the driver: a live read waits for a DUMP under way, never cuts into it.
    """

    config_model = ReferenceAsciiConfig
    config: ReferenceAsciiConfig
    clock_range_s = CLOCK_RANGE_S

    def __init__(self, config: ReferenceAsciiConfig, lines: LinePool) -> None:
        super().__init__(config, lines)
        serial = SerialSettings(baudrate=config.baudrate, parity="N", stopbits=1, bytesize=8)
        self.transport = self.lines.transport(config.url, serial)
        self._lines = asc.LineReader()
        self._lock = threading.Lock()
        # A line of MAX_LINE_BYTES at 10 bits a character, on top of the reply timeout.
        self._line_s = asc.MAX_LINE_BYTES * 10 / config.baudrate
        self._dump_max = max(1, int(_DUMP_S * config.baudrate / (_REC_LINE_BYTES * 10)))
        self._channel_count: int | None = None  # channels fitted, from IDN?

    @property
    def description(self) -> str:
        return f"RL-1600 (ASCII) on {self.transport.description}"

    @classmethod
    def points_for(cls, config: DriverConfig) -> Sequence[PointInfo]:
        return [PointInfo(p.name, p.quantity, p.unit) for p in _DEFN.points]

    def open(self) -> DeviceInfo:
        ident = self._one(asc.IdnQuery(), asc.IdnReply)
        self._channel_count = ident.channel_count
        self.transact(asc.ContCommand(False))
        return DeviceInfo(
            model=ident.model,
            serial_number=str(ident.serial_number),
            firmware_version=ident.firmware,
            channel_count=ident.channel_count,
            calibration_date=str(ident.calibration_date),
        )

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        fitted = self.channel_count()
        return readings(self._one(asc.ReadQuery(), asc.ValReply).values, channel_count=fitted)

    def channel_count(self) -> int:
        """The temperature channels fitted: from open(), or asked (IDN?) when it has not been
        called. VAL and REC lines carry no status words; this tells a channel not fitted from
        an open one."""
        if self._channel_count is None:
            self._channel_count = self._one(asc.IdnQuery(), asc.IdnReply).channel_count
        return self._channel_count

    def memory_range(self) -> MemoryRange:
        """MEM?: oldest and newest sequence held (both 0 when empty) and the capacity."""
        mem = self._one(asc.MemQuery(), asc.MemReply)
        return MemoryRange(mem.oldest, mem.newest, mem.capacity)

    def read_records(self, first: int, count: int) -> list[LoggedRecord]:
        """Records `first` … `first + count − 1` with one DUMP, fewer at the newest.

        At most about a second of REC lines at the line's baud rate (8 records at 9600 bit/s)
        come per call, so that live reads keep their turn. `first` must be held (within
        memory_range()): otherwise the logger's `ERR 3 sequence out of range` is raised as an
        AsciiDeviceError (code 3, overwritten meanwhile or past the newest), as the Modbus
        driver raises the logger's exception 3. When only the end of the range lies past the
        newest, the logger refuses the DUMP just the same: the driver then asks MEM? and dumps
        up to the newest.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        last = first + min(count, self._dump_max) - 1
        try:
            records = self._dump(first, last)
        except AsciiDeviceError as exc:
            if exc.code != _OUT_OF_RANGE:
                raise
            held = self.memory_range()
            if not held.oldest <= first <= held.newest < last:
                raise
            records = self._dump(first, held.newest)
        fitted = self.channel_count()
        return [
            LoggedRecord(
                r.sequence, r.timestamp * 1_000_000, readings(r.values, channel_count=fitted)
            )
            for r in records
        ]

    def read_clock(self) -> float:
        """TIME?: the logger's clock, whole UTC epoch seconds."""
        return float(retry_busy(lambda: self._one(asc.TimeQuery(), asc.TimeReply)).epoch_s)

    def set_clock(self, utc_s: int) -> None:
        """TIME <s>; a time outside 2000 … 2100 is refused before anything is sent (an
        OutOfRangeError)."""
        self.check_clock_value(utc_s)
        retry_busy(lambda: self._one(asc.TimeCommand(utc_s), asc.OkReply))

    def _dump(self, first: int, last: int) -> list[Record]:
        """Records first … last (inclusive) with DUMP, each line's checksum verified."""
        command = asc.DumpCommand(first, last)
        replies = self.transact(command)
        records = [r.record for r in replies if isinstance(r, asc.RecReply)]
        end = replies[-1]
        assert isinstance(end, asc.EndReply)
        sequences = [r.sequence for r in records]
        if sequences != list(range(first, last + 1)) or end.count != len(records):
            raise ProtocolError(
                f"{self.description}: {self._said(command)} brought records "
                f"{_ranges(sequences)} and END {end.count}, expected {first} … {last}"
            )
        return records

    def close(self) -> None:
        # One logger per RS-232 line: nobody else needs it open.
        with self._lock:
            self.transport.close()
            self._lines.clear()

    # --- one exchange -----------------------------------------------------------------------

    def transact(self, command: asc.Command) -> list[asc.Reply]:
        """Send one command and return its reply: one line, or a DUMP's REC lines and END.

        Raises NoReply (a LinkError) when the reply does not come within timeout_s,
        ProtocolError for a line that cannot be used (a bad REC checksum, a wrong field), and
        AsciiDeviceError for an ERR reply.
        """
        expected = asc.reply_keywords(command)
        with self._lock:
            t = self.transport
            if not t.is_open:
                t.open()
            t.discard_input()
            self._lines.clear()
            t.write(asc.encode_command(command))
            replies: list[asc.Reply] = []
            deadline = time.monotonic() + self.config.timeout_s + self._line_s
            while True:
                line = self._next_line(command, deadline, bool(replies))
                reply = self._parse(command, line, expected)
                if reply is None:
                    continue
                if isinstance(reply, asc.ErrReply):
                    raise AsciiDeviceError(
                        f"{self.description} answered ERR {reply.code} {reply.text} "
                        f"to {self._said(command)}",
                        reply.code,
                        reply.text,
                    )
                replies.append(reply)
                if not isinstance(command, asc.DumpCommand) or isinstance(reply, asc.EndReply):
                    return replies
                deadline = time.monotonic() + self.config.timeout_s + self._line_s

    def _one(self, command: asc.Command, kind: type[ReplyT]) -> ReplyT:
        reply = self.transact(command)[0]
        assert isinstance(reply, kind)  # transact accepts only the keywords that answer it
        return reply

    def _next_line(self, command: asc.Command, deadline: float, midway: bool) -> bytes:
        while True:
            try:
                line = self._lines.next_line()
            except asc.LineTooLongError as exc:
                raise ProtocolError(
                    f"{self.description}: reply to {self._said(command)}: {exc}"
                ) from exc
            if line is not None:
                return line
            chunk = self.transport.read_some(4096, deadline)
            if not chunk:
                got = self._lines.pending
                detail = f"; {len(got)} bytes came without a line end: {got!r}" if got else ""
                what = "the rest of the reply" if midway else "reply"
                raise NoReply(
                    f"no {what} to {self._said(command)} from {self.description} within "
                    f"{self.config.timeout_s:g} s{detail}. Check the cable (RS-232 TxD and "
                    "RxD crossed), the baud rate and that the logger is switched on"
                )
            self._lines.feed(chunk)

    def _parse(
        self, command: asc.Command, line: bytes, expected: frozenset[str]
    ) -> asc.Reply | None:
        """The reply a line carries, or None for a line that does not answer this command."""
        try:
            keyword = asc.reply_keyword(line)
            if keyword != "ERR" and keyword not in expected:
                # Continuous output, or a late reply to an earlier command: not ours.
                log.debug("%s: skipping %r while waiting for %s", self.description, line, expected)
                return None
            return asc.decode_reply(line, _DEFN)
        except asc.AsciiFrameError as exc:
            raise ProtocolError(
                f"{self.description}: reply to {self._said(command)}: {exc}"
            ) from exc

    @staticmethod
    def _said(command: asc.Command) -> str:
        return repr(asc.encode_command(command, _DEFN).decode("ascii").strip())


def _ranges(sequences: Sequence[int]) -> str:
    if not sequences:
        return "none"
    if sequences == list(range(sequences[0], sequences[-1] + 1)):
        return f"{sequences[0]} … {sequences[-1]}"
    return ", ".join(map(str, sequences))
