"""The simulator's RS-232 ASCII server, spoken to line by line over a real pty."""

from __future__ import annotations

import asyncio
import math
import os
import tty
from collections.abc import AsyncIterator

import pytest

from loggerd_protocol import ascii as asc
from loggerd_sim.ascii_server import AsciiPtyServer
from loggerd_sim.logger import ManualClock, SimulatedLogger

REPLY_TIMEOUT_S = 2.0


class Terminal:
    """The master's end of the line, on the test's event loop: send lines, await lines."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self._reader = asc.LineReader()
        self._lines: asyncio.Queue[bytes] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(self.fd, self._on_readable)

    def _on_readable(self) -> None:
        self._reader.feed(os.read(self.fd, 4096))
        while (line := self._reader.next_line()) is not None:
            self._lines.put_nowait(line)

    def send(self, text: str, ending: bytes = b"\r\n") -> None:
        os.write(self.fd, text.encode("ascii") + ending)

    async def line(self, timeout_s: float = REPLY_TIMEOUT_S) -> str:
        return (await asyncio.wait_for(self._lines.get(), timeout_s)).decode("ascii")

    async def ask(self, text: str) -> str:
        self.send(text)
        return await self.line()

    async def nothing_more(self) -> None:
        """Nothing is queued before the reply to a fresh query: the line is quiet."""
        assert (await self.ask("INTV?")).startswith("INTV "), "an unexpected line came first"

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)


@pytest.fixture
async def term(ascii_server: AsciiPtyServer) -> AsyncIterator[Terminal]:
    t = Terminal(ascii_server.path)
    try:
        yield t
    finally:
        t.close()


def val(line: str) -> asc.ValReply:
    reply = asc.decode_reply(line.encode("ascii"))
    assert isinstance(reply, asc.ValReply), line
    return reply


async def test_identity_in_any_case(term: Terminal, ascii_logger: SimulatedLogger) -> None:
    s = ascii_logger.settings
    expected = f"IDN RL-1600,1.2,{s.serial_number},{s.channel_count},{s.calibration_date}"
    assert await term.ask("IDN?") == expected
    assert await term.ask("idn?") == expected
    term.send("Idn?", ending=b"\n")  # a lone LF ends a line too
    assert await term.line() == expected


async def test_read_gives_the_live_values_at_two_decimals(
    term: Terminal, ascii_logger: SimulatedLogger, manual_clock: ManualClock
) -> None:
    ascii_logger.settings.sensor_faults["temperature_2"] = "short"
    manual_clock.advance(600)
    reply = val(await term.ask("READ?"))
    assert reply.epoch_s == int(ascii_logger.logger_time_s())
    assert reply.device_status == ascii_logger.device_status()
    for point, want in ascii_logger.point_values().items():
        got = reply.values[point]
        assert (math.isnan(got) and math.isnan(want)) or abs(got - want) <= 0.005, point
    assert math.isnan(reply.values["temperature_2"])


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("FOO", "ERR 1 unknown command"),
        ("IDN", "ERR 1 unknown command"),
        ("LOG?", "ERR 1 unknown command"),
        ("MEM? 5", "ERR 2 bad argument"),
        ("INTV 0", "ERR 2 bad argument"),
        ("INTV 3601", "ERR 2 bad argument"),
        ("TIME 12", "ERR 2 bad argument"),
        ("LOG 2", "ERR 2 bad argument"),
        ("DUMP 1", "ERR 2 bad argument"),
        ("DUMP 2 1", "ERR 2 bad argument"),
        ("DUMP 1 99", "ERR 3 sequence out of range"),
        ("DUMP 0 1", "ERR 3 sequence out of range"),
        ("X" * 300, "ERR 1 unknown command"),
    ],
)
async def test_errors(term: Terminal, command: str, reply: str) -> None:
    assert await term.ask(command) == reply


async def test_a_blank_line_is_no_command(term: Terminal, ascii_server: AsciiPtyServer) -> None:
    term.send("")
    await term.nothing_more()
    assert ascii_server.commands == 1


async def test_settings_change_the_logger(
    term: Terminal, ascii_logger: SimulatedLogger, manual_clock: ManualClock
) -> None:
    assert await term.ask("INTV?") == "INTV 10"
    assert await term.ask("INTV 30") == "OK"
    assert await term.ask("INTV?") == "INTV 30"
    assert ascii_logger.settings.interval_s == 30

    ascii_logger.settings.clock_set = False
    assert await term.ask("TIME 1700000500") == "OK"
    assert await term.ask("TIME?") == "TIME 1700000500"
    assert ascii_logger.settings.clock_set
    manual_clock.advance(7)
    assert await term.ask("TIME?") == "TIME 1700000507"

    assert await term.ask("LOG 0") == "OK"
    assert not ascii_logger.settings.logging
    assert await term.ask("LOG 1") == "OK"
    assert ascii_logger.settings.logging


async def test_dump_sends_the_memory_with_checksums(
    term: Terminal, ascii_logger: SimulatedLogger, manual_clock: ManualClock
) -> None:
    manual_clock.advance(125)  # records at 0, 10, …, 120 s
    assert await term.ask("MEM?") == "MEM 1,13,100000"
    term.send("DUMP 3 13")
    got = [asc.decode_reply((await term.line()).encode("ascii")) for _ in range(12)]
    assert got[-1] == asc.EndReply(11)
    for reply, want in zip(got[:-1], list(ascii_logger.memory)[2:], strict=True):
        assert isinstance(reply, asc.RecReply)
        assert reply.record.sequence == want.sequence
        assert reply.record.timestamp == want.timestamp
        assert reply.record.status == want.status
        for point, value in want.values.items():
            stored = reply.record.values[point]
            assert (math.isnan(stored) and math.isnan(value)) or abs(stored - value) <= 0.005


async def test_a_corrupted_checksum_hook_breaks_one_line_only(
    term: Terminal, ascii_server: AsciiPtyServer, manual_clock: ManualClock
) -> None:
    manual_clock.advance(20)
    ascii_server.corrupt_next_checksum = True
    term.send("DUMP 1 3")
    lines = [(await term.line()).encode("ascii") for _ in range(4)]
    with pytest.raises(asc.ChecksumError) as info:
        asc.decode_reply(lines[0])
    assert info.value.sequence == 1
    assert [asc.decode_reply(x) for x in lines[1:3]]  # the others are sound
    assert lines[3] == b"END 3"


async def test_continuous_output_follows_the_simulated_logging_interval(
    term: Terminal,
    ascii_server: AsciiPtyServer,
    ascii_logger: SimulatedLogger,
    manual_clock: ManualClock,
) -> None:
    assert await term.ask("CONT 1") == "OK"  # at t = 0: record 1 has just been taken
    manual_clock.advance(35)
    ascii_server.pump()
    pushed = [val(await term.line()) for _ in range(3)]
    records = list(ascii_logger.memory)[1:4]  # taken at 10, 20 and 30 s
    assert [v.epoch_s for v in pushed] == [r.timestamp for r in records]
    assert [v.epoch_s - pushed[0].epoch_s for v in pushed] == [0, 10, 20]
    for v, r in zip(pushed, records, strict=True):
        assert v.values["temperature_1"] == pytest.approx(r.values["temperature_1"], abs=0.005)
    await term.nothing_more()

    ascii_server.pump()  # nothing new has fallen due
    await term.nothing_more()

    assert await term.ask("CONT 0") == "OK"
    manual_clock.advance(60)
    ascii_server.pump()
    await term.nothing_more()


async def test_lines_that_fell_due_unseen_follow_the_next_reply(
    term: Terminal, manual_clock: ManualClock
) -> None:
    assert await term.ask("CONT 1") == "OK"
    manual_clock.advance(20)
    assert (await term.ask("MEM?")).startswith("MEM ")  # the reply first, never after a VAL
    assert [val(await term.line()).epoch_s for _ in range(2)]
    await term.nothing_more()


async def test_continuous_output_while_logging_is_off_sends_live_values(
    term: Terminal,
    ascii_server: AsciiPtyServer,
    ascii_logger: SimulatedLogger,
    manual_clock: ManualClock,
) -> None:
    assert await term.ask("LOG 0") == "OK"
    assert await term.ask("CONT 1") == "OK"
    manual_clock.advance(9)
    ascii_server.pump()
    await term.nothing_more()
    manual_clock.advance(16)  # 25 s: two intervals passed, but the past is not on record
    ascii_server.pump()
    assert val(await term.line()).epoch_s == int(ascii_logger.logger_time_s())
    await term.nothing_more()


async def test_the_server_wakes_by_itself_when_asked_to(
    ascii_logger: SimulatedLogger, manual_clock: ManualClock
) -> None:
    ascii_server = AsciiPtyServer(ascii_logger, wake_every_s=0.01)
    await ascii_server.start()
    term = Terminal(ascii_server.path)
    try:
        assert await term.ask("CONT 1") == "OK"
        manual_clock.advance(10)
        assert val(await term.line()).epoch_s == ascii_logger.memory[-1].timestamp
    finally:
        term.close()
        await ascii_server.stop()


async def test_an_unanswering_logger_counts_commands_but_says_nothing(
    term: Terminal, ascii_server: AsciiPtyServer
) -> None:
    ascii_server.answering = False
    term.send("IDN?")
    with pytest.raises(TimeoutError):
        await term.line(timeout_s=0.3)
    assert ascii_server.commands == 1
    ascii_server.answering = True
    await term.nothing_more()


async def test_busy_and_stray_lines_hooks(term: Terminal, ascii_server: AsciiPtyServer) -> None:
    ascii_server.busy_replies = 1
    assert await term.ask("MEM?") == "ERR 4 busy"
    ascii_server.before_next_reply.append(b"OK\r\n")
    assert await term.ask("MEM?") == "OK"
    assert (await term.line()).startswith("MEM ")
