"""The simulated logger's clock, read and set over the wire: it ticks when the logger's own
clock crosses a whole second, with its offset and drift, and reads what was written to it."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from loggerd.link.lines import LinePool
from loggerd.link.transport import SerialSettings
from loggerd.modbus.lines import LineSettings, modbus_master
from loggerd.modbus.master import ModbusMaster
from loggerd_drivers.reference_ascii import ReferenceAsciiConfig, ReferenceAsciiDriver
from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.values import decode_field, encode_field
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock, SimClock
from tests.simulators import simulator

DEFN = reference_logger()
CLOCK = DEFN.field("clock")
T = TypeVar("T")


async def call(fn: Callable[..., T], *args: Any) -> T:
    # The master blocks; the simulator serves on this event loop, so run it beside it.
    return await asyncio.to_thread(fn, *args)


@pytest.fixture
async def offset_host(manual_clock: ManualClock) -> AsyncIterator[SimulatorHost]:
    """Logger 1 on Modbus TCP and on its ASCII pty, its clock 0.5 s ahead of true time."""
    async with simulator(
        SimOptions(rtu=False, ascii=True, clock_offset_s=0.5), manual_clock
    ) as host:
        yield host


def tcp_master(lines: LinePool, host: SimulatorHost) -> ModbusMaster:
    assert host.tcp is not None
    return modbus_master(lines, host.tcp.url, LineSettings(SerialSettings()))


def read_clock(master: ModbusMaster) -> int:
    words = master.read_registers(1, mb.READ_HOLDING, CLOCK.address, CLOCK.words, 1.0)
    return int(decode_field(CLOCK, words))


def write_clock(master: ModbusMaster, utc_s: int) -> None:
    master.write_registers(1, CLOCK.address, encode_field(CLOCK, utc_s), 1.0)


async def test_the_clock_register_reads_true_time_plus_the_offset_on_a_real_clock(
    lines: LinePool,
) -> None:
    async with simulator(SimOptions(rtu=False, clock_offset_s=37.25), SimClock(speed=1.0)) as host:
        master = tcp_master(lines, host)
        for _ in range(5):
            before = time.time()
            clock = await call(read_clock, master)
            after = time.time()
            # The read may straddle a tick of the logger's clock, never more.
            assert math.floor(before + 37.25) <= clock <= math.floor(after + 37.25)


async def test_the_clock_ticks_when_the_loggers_clock_crosses_a_second(
    lines: LinePool, offset_host: SimulatorHost, manual_clock: ManualClock
) -> None:
    start = int(manual_clock.start_utc_s)  # a whole second: the logger's clock is at +0.5
    master = tcp_master(lines, offset_host)
    ascii_driver = ReferenceAsciiDriver(
        ReferenceAsciiConfig(url=offset_host.ascii[1].url), LinePool()
    )
    seen = []
    try:
        for step_s in (0.0, 0.49, 0.01, 0.99, 0.01):
            manual_clock.advance(step_s)
            seen.append((await call(read_clock, master), await call(ascii_driver.read_clock)))
    finally:
        ascii_driver.close()
    # True time 0, 0.49, 0.5, 1.49, 1.5 s: the logger's clock 0.5, 0.99, 1.0, 1.99, 2.0 s.
    offsets = [start, start, start + 1, start + 1, start + 2]
    assert seen == [(s, float(s)) for s in offsets]


async def test_records_keep_the_loggers_clock_at_the_moment_they_fell_due(
    lines: LinePool, offset_host: SimulatorHost, manual_clock: ManualClock
) -> None:
    manual_clock.advance(35.3)  # records at 0, 10, 20 and 30 s of true time
    clock = await call(read_clock, tcp_master(lines, offset_host))
    start = int(manual_clock.start_utc_s)
    assert [r.timestamp for r in offset_host.loggers[1].memory] == [
        start + 0,  # at 0.5 s on the logger's clock
        start + 10,
        start + 20,
        start + 30,
    ]
    assert clock == start + 35  # 35.8 s


async def test_a_fast_clock_gains_its_drift(lines: LinePool, manual_clock: ManualClock) -> None:
    start = int(manual_clock.start_utc_s)
    async with simulator(SimOptions(rtu=False, clock_drift_ppm=300), manual_clock) as host:
        master = tcp_master(lines, host)
        manual_clock.advance(3332.5)
        early = await call(read_clock, master)  # 3333.49975 s on the logger's clock
        manual_clock.advance(668)
        late = await call(read_clock, master)  # 4001.70015 s: more than a second gained
    assert (early, late) == (start + 3333, start + 4001)
    # The logger times its records by its own clock (PROTOCOL.md §12): every 10 s of it, so
    # they are stamped exactly 10 s apart, and record 401 (4000 s on the logger's clock) was
    # taken at 3998.8 s of true time.
    stamps = {r.sequence: r.timestamp for r in host.loggers[1].memory}
    assert (stamps[2], stamps[400], stamps[401]) == (start + 10, start + 3990, start + 4000)
    assert len(host.loggers[1].memory) == 401


async def test_writing_the_clock_sets_it_exactly_at_the_write(
    lines: LinePool, offset_host: SimulatorHost, manual_clock: ManualClock
) -> None:
    master = tcp_master(lines, offset_host)
    logger = offset_host.loggers[1]
    logger.settings.clock_set = False
    manual_clock.advance(13.7)  # records 1 and 2 are stamped by the old clock
    await call(write_clock, master, 1_800_000_000)
    just_written = await call(read_clock, master)
    manual_clock.advance(0.99)
    still = await call(read_clock, master)
    manual_clock.advance(0.01)  # one second after the write: the clock ticks
    ticked = await call(read_clock, master)
    manual_clock.advance(5.5)  # 20.2 s: record 3 (due at 20 s), stamped by the new clock
    await call(read_clock, master)
    assert (just_written, still, ticked) == (1_800_000_000, 1_800_000_000, 1_800_000_001)
    assert logger.settings.clock_set
    start = int(manual_clock.start_utc_s)
    assert [r.timestamp for r in logger.memory] == [start, start + 10, 1_800_000_006]


async def test_time_sets_the_clock_over_ascii_and_drift_runs_on_from_there(
    manual_clock: ManualClock,
) -> None:
    options = SimOptions(tcp=False, rtu=False, ascii=True, clock_drift_ppm=-500)
    async with simulator(options, manual_clock) as host:
        driver = ReferenceAsciiDriver(ReferenceAsciiConfig(url=host.ascii[1].url), LinePool())
        try:
            manual_clock.advance(100.25)
            await call(driver.set_clock, 1_800_000_000)
            written = await call(driver.read_clock)
            manual_clock.advance(2000.5)  # 1999.49975 s on a clock 500 ppm slow
            later = await call(driver.read_clock)
        finally:
            driver.close()
    assert (written, later) == (1_800_000_000, 1_800_001_999)
