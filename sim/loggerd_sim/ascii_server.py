"""The simulated logger's RS-232 ASCII command protocol (PROTOCOL.md §14) on a pseudo-terminal.

Lines are parsed and built with the same codec as the driver's (loggerd_protocol.ascii).

Continuous output (`CONT 1`) follows the logger's simulated time, not the host's: whenever
the server wakes up it brings the logger up to the simulated present (`sync()`) and sends one
`VAL` line for every memory record taken since the last wake-up, with that record's time,
status and values — so a `ManualClock` advanced by 35 s at a 10 s interval yields exactly the
three or four lines a real logger would have sent, whenever anyone looks. The server wakes up
when a command arrives (after answering it: lines that fell due while nobody looked never
come between a command and its reply), when `pump()` is called (tests, after advancing a
ManualClock), and every `wake_every_s` of host time if that is set (a running SimClock). While
logging is off there are no records; the server then sends the live values once per logging
interval of simulated time that has passed, at most one line a wake-up.

The wire is not paced: a pty moves a whole DUMP at once, where 9600 bit/s would take about
125 ms a line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import tty

from loggerd_protocol import ascii as asc

from .logger import RegisterError, SimulatedLogger

# The Modbus servers' lock keeps a logger's state consistent between servers that run in
# other threads (the Modbus RTU server) and this one on the event loop.
from .modbus_server import DEVICE_LOCK

log = logging.getLogger(__name__)


class AsciiPtyServer:
    """One simulated logger's RS-232 interface: drivers open `path` like any serial port.

    Fault hooks, for tests: `answering = False` reads commands and answers nothing (a logger
    switched off or unplugged); `corrupt_next_checksum = True` sends the next REC line with a
    wrong checksum; `busy_replies = n` answers the next n commands with `ERR 4 busy`;
    `before_next_reply` holds lines sent just before the next reply (a VAL line of continuous
    output, a late reply) that a master must not take for its reply.
    """

    def __init__(self, logger: SimulatedLogger, *, wake_every_s: float | None = None) -> None:
        if wake_every_s is not None and wake_every_s <= 0:
            raise ValueError(f"wake_every_s must be > 0, got {wake_every_s}")
        self.logger = logger
        self.wake_every_s = wake_every_s
        self.path = ""
        self.continuous = False
        self.commands = 0  # command lines received, answered or not
        self.answering = True
        self.corrupt_next_checksum = False
        self.busy_replies = 0
        self.before_next_reply: list[bytes] = []
        self._master_fd = -1
        self._slave_fd = -1
        self._lines = asc.LineReader()
        self._out = bytearray()
        self._writing = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streamed_through = 0  # newest record sent as a VAL line
        self._next_live_s = 0.0  # simulated time of the next VAL line while logging is off

    @property
    def url(self) -> str:
        return self.path

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._master_fd)
        tty.setraw(self._slave_fd)
        os.set_blocking(self._master_fd, False)
        # Keeping our own handle on the slave side means a driver closing the port does not
        # hang up the line (reads on the master would then fail with EIO).
        self.path = os.ttyname(self._slave_fd)
        self._loop.add_reader(self._master_fd, self._on_readable)
        if self.wake_every_s is not None:
            self._timer = self._loop.call_later(self.wake_every_s, self._on_timer)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._master_fd >= 0 and self._loop is not None:
            self._loop.remove_reader(self._master_fd)
            if self._writing:
                self._loop.remove_writer(self._master_fd)
            os.close(self._master_fd)
            os.close(self._slave_fd)
        self._master_fd = self._slave_fd = -1
        self._writing = False
        self._out.clear()

    # --- continuous output ----------------------------------------------------------------

    def pump(self) -> None:
        """Send the VAL lines of continuous output that fell due since the last wake-up."""
        if not self.continuous or not self.answering or self._master_fd < 0:
            return
        with DEVICE_LOCK:
            due = self._due_values()
        self._send(b"".join(asc.encode_reply(v, self.logger.defn) for v in due))

    def _due_values(self) -> list[asc.ValReply]:
        lg = self.logger
        lg.sync()
        # Newest first, back to the last record sent: sequence numbers are consecutive.
        seen = self._streamed_through
        fresh = list(itertools.takewhile(lambda r: r.sequence > seen, reversed(lg.memory)))
        now = lg.clock.elapsed_s()
        if fresh:
            self._streamed_through = fresh[0].sequence
            self._next_live_s = now + lg.settings.interval_s
            return [asc.ValReply(r.timestamp, r.status, r.values) for r in reversed(fresh)]
        if not lg.settings.logging and now >= self._next_live_s:
            self._next_live_s = now + lg.settings.interval_s
            return [self._live()]
        return []

    def _start_stream(self) -> None:
        lg = self.logger
        self.continuous = True
        self._streamed_through = lg.memory[-1].sequence if lg.memory else 0
        self._next_live_s = lg.clock.elapsed_s() + lg.settings.interval_s

    def _on_timer(self) -> None:
        self.pump()
        if self._loop is not None and self.wake_every_s is not None:
            self._timer = self._loop.call_later(self.wake_every_s, self._on_timer)

    # --- commands -------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        self._lines.feed(data)
        out = bytearray()
        while True:
            try:
                line = self._lines.next_line()
            except asc.LineTooLongError:
                line = b"?"  # no command is that long: answered as an unknown command
            if line is None:
                break
            out += self._answer(line)
        self._send(bytes(out))
        self.pump()

    def _answer(self, line: bytes) -> bytes:
        if not line.strip():
            return b""  # an empty line (Enter on a terminal) is no command
        self.commands += 1
        if not self.answering:
            return b""
        defn = self.logger.defn
        if self.busy_replies > 0:
            self.busy_replies -= 1
            return asc.encode_reply(asc.error_reply("busy", defn), defn)
        try:
            command = asc.decode_command(line, defn)
        except asc.CommandError as exc:
            log.debug("%r: %s", line, exc)
            replies: list[asc.Reply] = [exc.reply]
        else:
            with DEVICE_LOCK:
                replies = self._execute(command)
        before = b"".join(self.before_next_reply)
        self.before_next_reply.clear()
        return before + b"".join(self._encode(r) for r in replies)

    def _encode(self, reply: asc.Reply) -> bytes:
        line = asc.encode_reply(reply, self.logger.defn)
        if isinstance(reply, asc.RecReply) and self.corrupt_next_checksum:
            self.corrupt_next_checksum = False
            checksum = int(line[-4:-2], 16) ^ 0x01
            line = line[:-4] + f"{checksum:02X}".encode("ascii") + line[-2:]
        return line

    def _execute(self, command: asc.Command) -> list[asc.Reply]:
        lg = self.logger
        defn = lg.defn
        lg.sync()
        if lg.busy():  # after the syntax checks (ERR 1, 2), before the range check (ERR 3)
            return [asc.error_reply("busy", defn)]
        try:
            if isinstance(command, asc.IdnQuery):
                s = lg.settings
                ident = asc.IdnReply(
                    defn.model,
                    defn.firmware_version,
                    s.serial_number,
                    s.channel_count,
                    s.calibration_date,
                )
                return [ident]
            if isinstance(command, asc.ReadQuery):
                return [self._live()]
            if isinstance(command, asc.ContCommand):
                if command.on:
                    self._start_stream()
                else:
                    self.continuous = False
                return [asc.OkReply()]
            if isinstance(command, asc.IntvQuery):
                return [asc.IntvReply(lg.settings.interval_s)]
            if isinstance(command, asc.IntvCommand):
                lg.write_setting("logging_interval", command.interval_s)
                return [asc.OkReply()]
            if isinstance(command, asc.TimeQuery):
                return [asc.TimeReply(lg.clock_reading_s())]
            if isinstance(command, asc.TimeCommand):
                lg.write_setting("clock", command.epoch_s)
                return [asc.OkReply()]
            if isinstance(command, asc.LogCommand):
                lg.write_setting("logging_control", int(command.on))
                return [asc.OkReply()]
            if isinstance(command, asc.MemQuery):
                return [asc.MemReply(*self._memory_range(), lg.memory.maxlen or 0)]
            return self._dump(command)
        except RegisterError as exc:
            # The codec checks every argument's range first; this is a setting it let through.
            log.debug("%s: %s", command, exc)
            return [asc.error_reply("bad argument", defn)]

    def _live(self) -> asc.ValReply:
        lg = self.logger
        return asc.ValReply(int(lg.logger_time_s()), lg.device_status(), lg.point_values())

    def _memory_range(self) -> tuple[int, int]:
        memory = self.logger.memory
        return (memory[0].sequence, memory[-1].sequence) if memory else (0, 0)

    def _dump(self, command: asc.DumpCommand) -> list[asc.Reply]:
        oldest, newest = self._memory_range()
        memory = self.logger.memory
        if not memory or not oldest <= command.first <= command.last <= newest:
            return [asc.error_reply("sequence out of range", self.logger.defn)]
        start = command.first - oldest
        records = itertools.islice(memory, start, start + command.last - command.first + 1)
        replies: list[asc.Reply] = [asc.RecReply(r) for r in records]
        return [*replies, asc.EndReply(len(replies))]

    # --- output ---------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if not data or self._master_fd < 0:
            return
        self._out += data
        self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self._master_fd, self._out)
            except (BlockingIOError, InterruptedError):
                break  # the line is full: the rest goes when the pty can take it
            except OSError:
                self._out.clear()
                break
            del self._out[:n]
        assert self._loop is not None
        if self._out and not self._writing:
            self._loop.add_writer(self._master_fd, self._flush)
            self._writing = True
        elif not self._out and self._writing:
            with contextlib.suppress(ValueError):
                self._loop.remove_writer(self._master_fd)
            self._writing = False
