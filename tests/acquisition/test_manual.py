"""What a person does to one logger by hand: setting its clock, against the simulator on a real
socket, with the logger busy or silent exactly where it hurts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest

from loggerd.acquisition.manual import set_logger_clock
from loggerd.core.errors import NoReply, OutOfRangeError
from loggerd.core.events import ClockCheck, Event, EventKind, LogItem
from loggerd.link.lines import LinePool
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_sim.faults import FaultRates
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import SimClock

from ..simulators import simulator

TARGET_S = 1_800_000_000


@pytest.fixture
async def host() -> AsyncIterator[SimulatorHost]:
    """One logger on Modbus TCP, its clock running in real time (so that it ticks and an
    offset is timed at a tick), with scripted faults."""
    async with simulator(SimOptions(rtu=False, faults=FaultRates()), SimClock()) as host:
        yield host


@pytest.fixture
def driver(host: SimulatorHost) -> Iterator[ReferenceModbusDriver]:
    assert host.tcp is not None
    lines = LinePool()
    yield ReferenceModbusDriver(ReferenceModbusConfig(url=host.tcp.url, timeout_s=0.3), lines)
    lines.close()


class Recorded:
    """What set_logger_clock hands on to be stored."""

    def __init__(self) -> None:
        self.items: list[LogItem] = []

    async def __call__(self, items: Sequence[LogItem]) -> None:
        self.items.extend(items)

    def events(self) -> list[Event]:
        return [i for i in self.items if isinstance(i, Event)]

    def checks(self) -> list[ClockCheck]:
        return [i for i in self.items if isinstance(i, ClockCheck)]


async def test_a_busy_read_back_is_asked_again_and_the_setting_recorded(
    host: SimulatorHost, driver: ReferenceModbusDriver
) -> None:
    # The logger writes a record to flash just as the clock is read back: exception 06 (§8.4).
    assert host.faults is not None
    host.faults.writes = ["busy"]  # the write itself, too: asked again, not given up
    host.faults.after_write = ["busy"]
    emitted = Recorded()
    report = await set_logger_clock(driver, "c", "logger", emitted, TARGET_S)
    assert report.set_to_utc_s == TARGET_S
    assert abs(report.after.offset_us - (TARGET_S - report.after.utc_us / 1e6) * 1e6) < 2e6
    (event,) = emitted.events()
    assert event.kind is EventKind.CLOCK_SET
    assert event.details["confirmed"] is True
    assert len(emitted.checks()) == 2  # before and after
    faults = [(a.request_pdu[0], a.fault) for a in host.faults.answers if a.fault]
    assert faults == [(0x10, "busy"), (0x03, "busy")]
    assert host.loggers[1].clock_reading_s() - TARGET_S in (0, 1, 2)


async def test_a_write_acknowledged_is_recorded_even_when_the_read_back_fails(
    host: SimulatorHost, driver: ReferenceModbusDriver
) -> None:
    assert host.faults is not None
    host.faults.after_write = ["drop"]  # the first read after the write gets no reply
    emitted = Recorded()
    with pytest.raises(NoReply) as info:
        await set_logger_clock(driver, "c", "logger", emitted, TARGET_S)
    message = str(info.value)
    assert message.startswith(f"c/logger: the clock was set to {TARGET_S} (UTC epoch s)")
    assert "the clock_set event is recorded, but reading the clock back failed" in message
    assert "no complete reply" in message and "\n" not in message
    (event,) = emitted.events()
    assert event.kind is EventKind.CLOCK_SET
    assert event.details["confirmed"] is False
    assert event.details["set_to_utc_s"] == TARGET_S
    assert "no complete reply" in event.details["confirm_error"]
    assert "reading the clock back failed" in event.message
    assert len(emitted.checks()) == 1  # the offset before the setting
    # The logger did take the time.
    assert host.loggers[1].clock_reading_s() - TARGET_S in (0, 1, 2)


@pytest.mark.parametrize("to_utc_s", [946_684_799, 4_102_444_801])
async def test_a_time_outside_the_clocks_range_is_refused_before_anything_is_sent(
    host: SimulatorHost, driver: ReferenceModbusDriver, to_utc_s: int
) -> None:
    assert host.faults is not None
    emitted = Recorded()
    with pytest.raises(OutOfRangeError) as info:
        await set_logger_clock(driver, "c", "logger", emitted, to_utc_s)
    message = str(info.value)
    assert "its clock cannot be set to" in message
    assert "it takes 2000-01-01T00:00:00Z … 2100-01-01T00:00:00Z" in message
    assert "exception" not in message and "WriteMultiple" not in message
    assert host.faults.answers == [] and emitted.items == []


async def test_the_driver_refuses_such_a_time_itself(
    host: SimulatorHost, driver: ReferenceModbusDriver
) -> None:
    assert host.faults is not None
    with pytest.raises(OutOfRangeError, match="Give a time in that range"):
        await asyncio.to_thread(driver.set_clock, 4_200_000_000)
    assert host.faults.answers == []
