"""The reference-modbus driver against the simulator over a real pty (RTU) and a real socket."""

from __future__ import annotations

import asyncio
import itertools
import math
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from loggerd.core.errors import DeviceException, LinkError, NoReply, OutOfRangeError
from loggerd.core.samples import Quality, Reading
from loggerd.drivers.base import LoggedRecord, MemoryDriver, MemoryRange
from loggerd.link.lines import LinePool
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.modbus import READ_INPUT
from loggerd_sim.faults import FaultRates
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock

from ..simulators import simulator
from .records import assert_records_match

DEFN = reference_logger()
TRANSPORTS = ["rtu", "tcp"]
HUNDREDTH = 0.005 + 1e-9  # a record's 0.01 units, rounded to the nearest


def url_of(sim: SimulatorHost, transport: str) -> str:
    assert sim.rtu is not None and sim.tcp is not None
    return sim.rtu.path if transport == "rtu" else sim.tcp.url


@pytest.fixture
def lines() -> Iterator[LinePool]:
    pool = LinePool()
    yield pool
    pool.close()


def make_driver(
    lines: LinePool, sim: SimulatorHost, transport: str, address: int = 1, timeout_s: float = 1.0
) -> ReferenceModbusDriver:
    config = ReferenceModbusConfig(url=url_of(sim, transport), address=address, timeout_s=timeout_s)
    return ReferenceModbusDriver(config, lines)


async def call(fn, *args):  # type: ignore[no-untyped-def]
    # The driver blocks; the simulator serves on this event loop, so run the driver beside it.
    return await asyncio.to_thread(fn, *args)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_identity(lines: LinePool, sim: SimulatorHost, transport: str) -> None:
    driver = make_driver(lines, sim, transport, address=2)
    try:
        info = await call(driver.open)
    finally:
        driver.close()
    logger = sim.loggers[2]
    assert info.model == "RL-1600"
    assert info.serial_number == str(logger.settings.serial_number)
    assert info.channel_count == logger.settings.channel_count
    assert info.firmware_version == "1.2"
    assert info.calibration_date == "20260115"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_live_values_match_the_simulated_logger(
    lines: LinePool, sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    manual_clock.advance(1800)  # half an hour into the cold-soak ramp
    driver = make_driver(lines, sim, transport)
    try:
        await call(driver.open)
        readings = {r.point: r for r in await call(driver.read)}
    finally:
        driver.close()
    truth = sim.loggers[1].point_values()
    fitted = sim.loggers[1].settings.channel_count
    for i in range(1, 17):
        r = readings[f"temperature_{i}"]
        if i <= fitted:
            assert r.quality is Quality.GOOD
            # float32 on the wire: equal to the simulator's value at float32 precision
            assert r.value == pytest.approx(truth[f"temperature_{i}"], rel=1e-6)
        else:
            assert r.quality is Quality.NOT_FITTED and math.isnan(r.value)
    assert readings["rh"].value == pytest.approx(truth["rh"], rel=1e-6)
    assert readings["frost_point"].value == pytest.approx(truth["frost_point"], rel=1e-6)
    # 30 min at 2 K/min from +25 °C: the chamber is well below ambient by now
    assert readings["temperature_1"].value < 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sensor_fault_is_flagged_not_zero(
    lines: LinePool, sim: SimulatorHost, transport: str
) -> None:
    sim.loggers[1].settings.sensor_faults["temperature_3"] = "open"
    driver = make_driver(lines, sim, transport)
    try:
        await call(driver.open)
        readings = {r.point: r for r in await call(driver.read)}
    finally:
        driver.close()
    bad = readings["temperature_3"]
    assert bad.quality is Quality.SENSOR_FAULT
    assert math.isnan(bad.value) and math.isnan(bad.raw_value)
    assert readings["temperature_2"].quality is Quality.GOOD


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_device_exception_is_reported(
    lines: LinePool, sim: SimulatorHost, transport: str
) -> None:
    driver = make_driver(lines, sim, transport)
    try:
        with pytest.raises(DeviceException, match="illegal data address") as exc:
            await call(driver.master.read_registers, 1, READ_INPUT, 0x0050, 2)
        assert exc.value.code == 2
        # A 32-bit value split in two is illegal too.
        with pytest.raises(DeviceException) as exc:
            await call(driver.master.read_registers, 1, READ_INPUT, 0x0101, 2)
        assert exc.value.code == 2
    finally:
        driver.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_memory_range_and_records_across_windows(
    lines: LinePool, sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    manual_clock.advance(125)  # records at 0, 10, …, 120 s: 13 records
    driver = make_driver(lines, sim, transport)
    got: list[LoggedRecord] = []
    try:
        await call(driver.open)
        held = await call(driver.memory_range)
        next_sequence = held.oldest
        while next_sequence <= held.newest:
            window = await call(driver.read_records, next_sequence, 100)
            assert 0 < len(window) <= 5  # one window of five slots per call
            got += window
            next_sequence = window[-1].sequence + 1
    finally:
        driver.close()
    memory = list(sim.loggers[1].memory)
    assert held == MemoryRange(oldest=1, newest=13, capacity=100_000)
    assert [r.sequence for r in got] == list(range(1, 14))
    assert_records_match(got, memory)
    # Ten seconds apart by the logger's clock, which the simulator started at the host's time.
    assert [b.logger_time_us - a.logger_time_us for a, b in itertools.pairwise(got)] == [
        10_000_000
    ] * 12


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_read_records_takes_no_more_than_asked_and_stops_at_the_newest(
    lines: LinePool, sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    manual_clock.advance(125)  # records 1 … 13
    driver = make_driver(lines, sim, transport)
    try:
        two = await call(driver.read_records, 4, 2)
        tail = await call(driver.read_records, 11, 5)  # the window runs past the newest
    finally:
        driver.close()
    memory = list(sim.loggers[1].memory)
    assert_records_match(two, memory[3:5])
    assert_records_match(tail, memory[10:13])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_faulty_sensor_in_a_record_is_a_sensor_fault(
    lines: LinePool, sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    logger = sim.loggers[1]
    manual_clock.advance(10)  # records 1 and 2, sound
    logger.sync()
    logger.settings.sensor_faults["temperature_3"] = "open"
    manual_clock.advance(10)  # record 3 with channel 3 open
    driver = make_driver(lines, sim, transport)
    try:
        records = await call(driver.read_records, 2, 2)
    finally:
        driver.close()
    assert [r.sequence for r in records] == [2, 3]
    before, after = ({r.point: r for r in rec.readings} for rec in records)
    assert before["temperature_3"].quality is Quality.GOOD
    bad = after["temperature_3"]
    assert bad.quality is Quality.SENSOR_FAULT
    assert math.isnan(bad.value) and math.isnan(bad.raw_value)
    assert after["temperature_2"].quality is Quality.GOOD
    assert_records_match(records, list(logger.memory)[1:3])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_recorded_value_outside_its_range_is_flagged_with_its_raw_value(
    lines: LinePool,
    sim: SimulatorHost,
    manual_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    logger = sim.loggers[1]
    measured = logger.point_values
    monkeypatch.setattr(logger, "point_values", lambda: measured() | {"temperature_5": 181.25})
    driver = make_driver(lines, sim, transport)
    try:
        (record,) = await call(driver.read_records, 1, 1)
    finally:
        driver.close()
    hot = {r.point: r for r in record.readings}["temperature_5"]
    assert hot.quality is Quality.OUT_OF_RANGE
    assert math.isnan(hot.value) and hot.raw_value == 181.25


async def test_records_overwritten_before_the_pointer_write_are_a_device_exception(
    lines: LinePool, manual_clock: ManualClock
) -> None:
    host = SimulatorHost(SimOptions(capacity=5, rtu=False), clock=manual_clock)
    await host.start()
    assert host.tcp is not None
    driver = ReferenceModbusDriver(ReferenceModbusConfig(url=host.tcp.url), lines)
    try:
        manual_clock.advance(75)  # records 1 … 8 taken, 4 … 8 held
        held = await call(driver.memory_range)
        with pytest.raises(DeviceException, match="illegal data value") as info:
            await call(driver.read_records, 3, 5)
        oldest = await call(driver.read_records, held.oldest, 5)
    finally:
        driver.close()
        await host.stop()
    assert held == MemoryRange(oldest=4, newest=8, capacity=5)
    assert info.value.code == 3
    assert [r.sequence for r in oldest] == [4, 5, 6, 7, 8]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_clock_read_and_set(
    lines: LinePool, sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    logger = sim.loggers[2]
    manual_clock.advance(12.75)
    driver = make_driver(lines, sim, transport, address=2)
    try:
        before = await call(driver.read_clock)
        truth = math.floor(logger.logger_time_s(manual_clock.elapsed_s()))
        await call(driver.set_clock, 1_800_000_000)
        just_set = await call(driver.read_clock)
        manual_clock.advance(61.5)
        later = await call(driver.read_clock)
        with pytest.raises(OutOfRangeError, match="Give a time in that range"):
            await call(driver.set_clock, 4_200_000_000)  # after 2100: refused, never sent
    finally:
        driver.close()
    assert before == truth == math.floor(manual_clock.start_utc_s + 12.75)
    assert isinstance(driver, MemoryDriver) and driver.clock_resolution_s == 1.0
    assert isinstance(before, float)
    assert (just_set, later) == (1_800_000_000, 1_800_000_061)
    assert sim.loggers[1].clock_reading_s() != 1_800_000_061  # logger 1 was not set


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_live_read_between_pointer_write_and_window_read_changes_nothing(
    lines: LinePool,
    sim: SimulatorHost,
    manual_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    # Acquisition may poll the live values from one thread while another backfills: the
    # master keeps each transaction whole, and the record pointer is the logger's own state,
    # apart from the live registers. Here a live read comes between every pointer write and
    # its window read, as the other thread's poll may.
    manual_clock.advance(125)  # records 1 … 13
    driver = make_driver(lines, sim, transport)
    window = DEFN.field("record_window_1").address
    read_input = driver._read_input
    live: list[list[Reading]] = []

    def live_read_first(address: int, count: int) -> tuple[int, ...]:
        if address == window:
            live.append(driver.read())
        return read_input(address, count)

    monkeypatch.setattr(driver, "_read_input", live_read_first)
    try:
        got = await call(driver.read_records, 1, 5)
        got += await call(driver.read_records, 6, 5)
    finally:
        driver.close()
    assert len(live) == 2
    assert all({r.point: r for r in x}["temperature_1"].quality is Quality.GOOD for x in live)
    assert_records_match(got, list(sim.loggers[1].memory)[:10])


async def test_rtu_device_that_does_not_answer_times_out(
    lines: LinePool, sim: SimulatorHost
) -> None:
    driver = make_driver(lines, sim, "rtu", address=9, timeout_s=0.2)
    try:
        with pytest.raises(LinkError, match="no complete reply from device 9"):
            await call(driver.open)
    finally:
        driver.close()


async def test_tcp_connection_refused_is_a_link_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    lines = LinePool()
    driver = ReferenceModbusDriver(ReferenceModbusConfig(url=f"tcp://127.0.0.1:{free_port}"), lines)
    with pytest.raises(LinkError, match="cannot connect"):
        await call(driver.open)
    lines.close()


async def test_missing_serial_port_is_a_link_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = LinePool()
    driver = ReferenceModbusDriver(ReferenceModbusConfig(url=str(tmp_path / "ttyUSB9")), lines)
    with pytest.raises(LinkError, match="cannot open serial"):
        await call(driver.open)
    lines.close()


@pytest.fixture
async def hmt_at_2(manual_clock: ManualClock) -> AsyncIterator[SimulatorHost]:
    """A logger at address 1 and an HMT330-class transmitter at address 2, on one line."""
    options = SimOptions(profile_devices={2: "vaisala_hmt330"}, baudrate=115200)
    async with simulator(options, manual_clock) as host:
        yield host


@pytest.fixture
async def faulty(manual_clock: ManualClock) -> AsyncIterator[SimulatorHost]:
    """A logger on both transports whose faults a test scripts (host.faults)."""
    options = SimOptions(baudrate=115200, faults=FaultRates())
    async with simulator(options, manual_clock) as host:
        yield host


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_another_device_at_the_address_is_a_hint_to_check_it(
    lines: LinePool, hmt_at_2: SimulatorHost, transport: str
) -> None:
    # The transmitter has no input registers: it answers exception 02 to every read of the
    # logger's identity, as a device of another kind at a mistyped address does.
    config = ReferenceModbusConfig(
        url=url_of(hmt_at_2, transport), address=2, baudrate=115200, timeout_s=1.0
    )
    driver = ReferenceModbusDriver(config, lines)
    with pytest.raises(DeviceException) as info:
        await call(driver.open)
    message = str(info.value)
    assert info.value.code == 2
    assert "answered exception 02 (illegal data address) to a read of input registers" in message
    assert "0x0000–0x000F (16)" in message and "ReadRegisters(" not in message
    assert "Check the address: device 2 is no RL-1600" in message
    assert "\n" not in message


async def test_no_device_at_the_address_is_a_hint_to_check_it(
    lines: LinePool, sim: SimulatorHost
) -> None:
    # Over TCP the simulator answers an unknown unit id as a gateway does: exception 0B.
    assert sim.tcp is not None
    driver = ReferenceModbusDriver(ReferenceModbusConfig(url=sim.tcp.url, address=9), lines)
    with pytest.raises(DeviceException) as info:
        await call(driver.open)
    assert info.value.code == 11
    assert "Check the address: device 9 is no RL-1600" in str(info.value)


async def test_a_tcp_timeout_does_not_speak_of_baud_rates(
    lines: LinePool, faulty: SimulatorHost
) -> None:
    assert faulty.tcp is not None and faulty.faults is not None
    faulty.faults.script = ["drop"]
    config = ReferenceModbusConfig(url=faulty.tcp.url, timeout_s=0.2)
    with pytest.raises(NoReply) as info:
        await call(ReferenceModbusDriver(config, lines).open)
    message = str(info.value)
    assert "Check the address (unit id)" in message
    assert "baud" not in message and "parity" not in message


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_busy_logger_is_asked_again_for_its_clock(
    lines: LinePool, faulty: SimulatorHost, transport: str
) -> None:
    """§8.4, §15: a logger writing a record to flash answers exception 06 for up to 20 ms; the
    clock is written and read again 20 ms or more later, not given up on."""
    assert faulty.faults is not None
    driver = ReferenceModbusDriver(
        ReferenceModbusConfig(url=url_of(faulty, transport), baudrate=115200), lines
    )
    faulty.faults.writes = ["busy", "busy"]
    await call(driver.set_clock, 1_800_000_000)
    faulty.faults.script = ["busy"]
    read_back = await call(driver.read_clock)
    faulty.faults.writes = ["busy"] * 5  # busy for good: said so, once it has tried enough
    with pytest.raises(DeviceException) as info:
        await call(driver.set_clock, 1_800_000_100)
    # Busy, the logger executed none of the five writes (§8 check 4): its clock is unchanged.
    assert read_back == 1_800_000_000 == faulty.loggers[1].clock_reading_s()
    assert [a.fault for a in faulty.faults.answers] == ["busy", "busy", None, "busy", None] + [
        "busy"
    ] * 5
    assert info.value.busy
    assert "5 times 25 ms apart. The device stays busy" in str(info.value)
