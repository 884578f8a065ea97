"""When the simulated logger takes its records (PROTOCOL.md §12): timed from the start of
logging by its own clock, not aligned to the clock's multiples of the interval, and left where
it is by a clock set; and the busy window that follows each record (§8.4, §15)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import serial

from loggerd.core.errors import DeviceException
from loggerd.link.lines import LinePool
from loggerd.link.transport import SerialSettings
from loggerd.modbus.lines import LineSettings, modbus_master
from loggerd.modbus.master import ModbusMaster
from loggerd_protocol import modbus as mb
from loggerd_sim.chamber import Chamber
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import LoggerSettings, ManualClock, SimulatedLogger
from loggerd_sim.profile import builtin_profile
from tests.protocol.test_codec_vectors import load_case
from tests.sim.test_ascii_server import Terminal
from tests.simulators import simulator

START_UTC_S = 1_780_000_003.25  # not a multiple of any interval
BUSY_S = 0.02


def make_logger(clock: ManualClock, **settings: object) -> SimulatedLogger:
    chamber = Chamber(builtin_profile(), channel_count=8, seed=3)
    return SimulatedLogger(chamber, clock, LoggerSettings(interval_s=10, **settings))  # type: ignore[arg-type]


def stamps(logger: SimulatedLogger) -> list[int]:
    logger.sync()
    return [r.timestamp for r in logger.memory]


def test_records_are_timed_from_the_start_of_logging() -> None:
    """The first record at the start, then one an interval later each: 1780000003, …013,
    …023, …033 — not at the clock's multiples of 10 s."""
    clock = ManualClock(START_UTC_S)
    logger = make_logger(clock)
    clock.advance(35)
    assert stamps(logger) == [1_780_000_003, 1_780_000_013, 1_780_000_023, 1_780_000_033]


def test_a_clock_set_moves_the_timestamps_not_the_schedule() -> None:
    clock = ManualClock(START_UTC_S)
    logger = make_logger(clock)
    clock.advance(4.5)
    logger.write_setting("clock", 1_790_000_000)  # stepped 9999996.75 s forward
    clock.advance(16)  # the next records at 10 s and 20 s after the start, as before
    assert stamps(logger) == [1_780_000_003, 1_790_000_005, 1_790_000_015]


def test_restarting_logging_or_changing_the_interval_starts_the_count_again() -> None:
    clock = ManualClock(START_UTC_S)
    logger = make_logger(clock)
    clock.advance(12)  # records at 0 and 10 s
    logger.write_setting("logging_interval", 5)  # the next one 5 s after the change
    clock.advance(6)  # 18 s: one at 17 s
    logger.write_setting("logging_control", 0)
    clock.advance(3.5)  # 21.5 s
    logger.write_setting("logging_control", 1)  # a record at once, then every 5 s
    clock.advance(5)
    assert stamps(logger) == [t + 1_780_000_003 for t in (0, 10, 17, 21, 26)]


def test_a_drifting_clock_stamps_its_records_exactly_an_interval_apart() -> None:
    """The schedule counts the logger's own (here fast) seconds, so the timestamps are an
    interval apart, not an interval of true time measured by a fast clock."""
    clock = ManualClock(1_780_000_000.0)
    logger = make_logger(clock, clock_drift_ppm=777.0)
    clock.advance(100_000)
    times = stamps(logger)
    assert {b - a for a, b in itertools.pairwise(times)} == {10}
    assert times[-1] == 1_780_000_000 + 100_070  # 100 077.7 s on the logger's clock


# --- the busy window -------------------------------------------------------------------------


@pytest.fixture
async def busy_host(manual_clock: ManualClock) -> AsyncIterator[SimulatorHost]:
    """Logger 1 writes each record to flash for 20 ms after taking it; on RTU, TCP and ASCII."""
    options = SimOptions(
        ascii=True, logger_settings={1: LoggerSettings(interval_s=10, busy_window_s=BUSY_S)}
    )
    async with simulator(options, manual_clock) as host:
        yield host


def read_memory(master: ModbusMaster) -> tuple[int, ...]:
    return master.read_registers(1, mb.READ_INPUT, 0x0200, 4, 1.0)


async def test_requests_in_the_busy_window_after_a_record_are_refused_with_06(
    busy_host: SimulatorHost, manual_clock: ManualClock, lines: LinePool
) -> None:
    assert busy_host.tcp is not None
    master = modbus_master(lines, busy_host.tcp.url, LineSettings(SerialSettings()))
    manual_clock.advance(10)  # the second record is taken now: busy for 20 ms
    with pytest.raises(DeviceException) as busy:
        await asyncio.to_thread(read_memory, master)
    assert busy.value.code == 6
    # The address is checked first (§8): an illegal range is 02 even while busy.
    with pytest.raises(DeviceException) as illegal:
        await asyncio.to_thread(master.read_registers, 1, mb.READ_INPUT, 0x0050, 2, 1.0)
    assert illegal.value.code == 2
    manual_clock.advance(BUSY_S)
    assert await asyncio.to_thread(read_memory, master) == (0, 1, 0, 2)


async def test_the_busy_vector_is_what_the_logger_answers_while_it_writes_a_record(
    busy_host: SimulatorHost, manual_clock: ManualClock
) -> None:
    (exchange,) = load_case("exception_06_busy").exchanges
    assert busy_host.rtu is not None
    port = serial.serial_for_url(busy_host.rtu.url, baudrate=19200, parity="E", timeout=2.0)
    try:
        manual_clock.advance(20.01)  # 10 ms after the third record: still busy
        port.write(exchange.request)
        assert await asyncio.to_thread(port.read, len(exchange.response)) == exchange.response
    finally:
        port.close()


async def test_the_ascii_interface_answers_err_4_in_the_busy_window(
    busy_host: SimulatorHost, manual_clock: ManualClock
) -> None:
    term = Terminal(busy_host.ascii[1].path)
    try:
        assert await term.ask("FOO") == "ERR 1 unknown command"  # syntax first, as ever
        assert await term.ask("READ?") == "ERR 4 busy"  # the first record was just taken
        manual_clock.advance(BUSY_S)
        assert (await term.ask("MEM?")).startswith("MEM 1,1,")
    finally:
        term.close()
