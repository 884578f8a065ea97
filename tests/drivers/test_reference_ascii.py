"""The reference-ascii driver against the simulator's RS-232 ASCII server over a real pty."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from loggerd.core.errors import LinkError, NoReply, OutOfRangeError, ProtocolError
from loggerd.core.samples import Quality, Reading
from loggerd.drivers.base import LoggedRecord, MemoryDriver, MemoryRange
from loggerd.drivers.registry import load_driver
from loggerd.link.lines import LinePool
from loggerd_drivers.reference_ascii import (
    AsciiDeviceError,
    ReferenceAsciiConfig,
    ReferenceAsciiDriver,
)
from loggerd_protocol import ascii as asc
from loggerd_protocol.definition import reference_logger
from loggerd_sim.ascii_server import AsciiPtyServer
from loggerd_sim.logger import LoggerSettings, ManualClock, SimulatedLogger

from .records import assert_records_match

DEFN = reference_logger()
HUNDREDTH = 0.005 + 1e-9  # the protocol's two decimals, rounded to the nearest
T = TypeVar("T")


async def call(fn: Callable[..., T], *args: Any) -> T:
    # The driver blocks; the simulator serves on this event loop, so run the driver beside it.
    return await asyncio.to_thread(fn, *args)


@pytest.fixture
def driver(ascii_server: AsciiPtyServer) -> Iterator[ReferenceAsciiDriver]:
    d = ReferenceAsciiDriver(ReferenceAsciiConfig(url=ascii_server.path, timeout_s=1.0), LinePool())
    try:
        yield d
    finally:
        d.close()


def same(a: float, b: float, tolerance: float = HUNDREDTH) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tolerance


def test_the_driver_is_registered_and_speaks_9600_8n1() -> None:
    cls = load_driver("reference-ascii")
    assert cls is ReferenceAsciiDriver
    config = cls.config_model.model_validate({"url": "/dev/ttyS0"})
    assert isinstance(config, ReferenceAsciiConfig) and config.baudrate == 9600
    driver = cls(config, LinePool())
    assert "9600 8N1" in driver.description
    assert [p.name for p in driver.points()] == list(DEFN.point_names())


async def test_identity(
    driver: ReferenceAsciiDriver, ascii_server: AsciiPtyServer, ascii_logger: SimulatedLogger
) -> None:
    ascii_server.continuous = True  # left running by someone: open() stops it
    info = await call(driver.open)
    assert info.model == "RL-1600"
    assert info.serial_number == str(ascii_logger.settings.serial_number)
    assert info.channel_count == ascii_logger.settings.channel_count
    assert info.firmware_version == "1.2"
    assert info.calibration_date == "20260115"
    assert not ascii_server.continuous


async def test_live_values_match_the_simulated_logger_at_two_decimals(
    driver: ReferenceAsciiDriver, ascii_logger: SimulatedLogger, manual_clock: ManualClock
) -> None:
    manual_clock.advance(1800)  # half an hour into the cold-soak ramp
    await call(driver.open)
    readings = {r.point: r for r in await call(driver.read)}
    truth = ascii_logger.point_values()
    fitted = ascii_logger.settings.channel_count
    for i in range(1, 17):
        r = readings[f"temperature_{i}"]
        if i <= fitted:
            assert r.quality is Quality.GOOD
            assert same(r.value, truth[f"temperature_{i}"]) and r.raw_value == r.value
        else:
            assert r.quality is Quality.NOT_FITTED and math.isnan(r.value)
    for point in ("rh", "frost_point"):
        assert readings[point].quality is Quality.GOOD
        assert same(readings[point].value, truth[point]), point
    assert readings["temperature_1"].value < 0  # 30 min at 2 K/min from +25 °C


async def test_sensor_fault_is_flagged_not_zero(
    driver: ReferenceAsciiDriver, ascii_logger: SimulatedLogger
) -> None:
    ascii_logger.settings.sensor_faults["temperature_3"] = "open"
    readings = {r.point: r for r in await call(driver.read)}
    bad = readings["temperature_3"]
    assert bad.quality is Quality.SENSOR_FAULT
    assert math.isnan(bad.value) and math.isnan(bad.raw_value)
    assert readings["temperature_2"].quality is Quality.GOOD


async def test_a_value_outside_its_range_is_flagged_with_its_raw_value(
    driver: ReferenceAsciiDriver, ascii_logger: SimulatedLogger, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured = ascii_logger.point_values

    def hot_channel_5() -> dict[str, float]:
        return measured() | {"temperature_5": 181.25}

    monkeypatch.setattr(ascii_logger, "point_values", hot_channel_5)
    readings = {r.point: r for r in await call(driver.read)}
    hot = readings["temperature_5"]
    assert hot.quality is Quality.OUT_OF_RANGE
    assert math.isnan(hot.value) and hot.raw_value == 181.25


async def test_memory_read_in_dumps_equals_the_loggers_memory(
    driver: ReferenceAsciiDriver,
    ascii_server: AsciiPtyServer,
    ascii_logger: SimulatedLogger,
    manual_clock: ManualClock,
) -> None:
    ascii_logger.settings.sensor_faults["rh"] = "short"
    manual_clock.advance(125)  # records at 0, 10, …, 120 s: 13 records
    await call(driver.open)
    held = await call(driver.memory_range)
    got: list[LoggedRecord] = []
    sizes = []
    while not got or got[-1].sequence < held.newest:
        records = await call(driver.read_records, len(got) + held.oldest, 100)
        sizes.append(len(records))
        got += records
    assert held == MemoryRange(oldest=1, newest=13, capacity=100_000)
    # About a second of REC lines at 9600 bit/s a DUMP, so live reads keep their turn.
    assert sizes == [8, 5]
    assert_records_match(got, list(ascii_logger.memory))
    rh = [{r.point: r for r in record.readings}["rh"] for record in got]
    assert all(r.quality is Quality.SENSOR_FAULT and math.isnan(r.value) for r in rh)
    assert got[1].logger_time_us - got[0].logger_time_us == 10_000_000


async def test_a_range_past_the_newest_is_read_up_to_the_newest(
    driver: ReferenceAsciiDriver,
    ascii_server: AsciiPtyServer,
    ascii_logger: SimulatedLogger,
    manual_clock: ManualClock,
) -> None:
    manual_clock.advance(125)  # records 1 … 13
    assert_records_match(await call(driver.read_records, 12, 2), list(ascii_logger.memory)[11:])
    commands = ascii_server.commands
    tail = await call(driver.read_records, 11, 5)
    # DUMP 11 15 is refused (ERR 3); MEM? says 13 is the newest; DUMP 11 13.
    assert ascii_server.commands - commands == 3
    assert_records_match(tail, list(ascii_logger.memory)[10:])


async def test_records_no_longer_held_are_a_device_error_with_code_3(
    ascii_logger: SimulatedLogger, manual_clock: ManualClock
) -> None:
    small = SimulatedLogger(ascii_logger.chamber, manual_clock, LoggerSettings(capacity=5))
    server = AsciiPtyServer(small)
    await server.start()
    driver = ReferenceAsciiDriver(ReferenceAsciiConfig(url=server.path, timeout_s=1.0), LinePool())
    try:
        manual_clock.advance(75)  # records 1 … 8 taken, 4 … 8 held
        held = await call(driver.memory_range)
        with pytest.raises(AsciiDeviceError, match="sequence out of range") as overwritten:
            await call(driver.read_records, 3, 5)
        with pytest.raises(AsciiDeviceError) as past_the_newest:
            await call(driver.read_records, 9, 1)
        oldest = await call(driver.read_records, held.oldest, 10)
    finally:
        driver.close()
        await server.stop()
    assert held == MemoryRange(oldest=4, newest=8, capacity=5)
    assert overwritten.value.code == past_the_newest.value.code == 3
    assert [r.sequence for r in oldest] == [4, 5, 6, 7, 8]


async def test_recorded_faults_and_values_out_of_range_are_flagged(
    driver: ReferenceAsciiDriver,
    ascii_logger: SimulatedLogger,
    manual_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    measured = ascii_logger.point_values
    monkeypatch.setattr(ascii_logger, "point_values", lambda: measured() | {"rh": 100.4})
    manual_clock.advance(10)  # records 1 and 2, the RH above its range
    ascii_logger.sync()
    ascii_logger.settings.sensor_faults["temperature_3"] = "open"
    manual_clock.advance(10)  # record 3 with channel 3 open
    first, _, third = await call(driver.read_records, 1, 3)
    before = {r.point: r for r in first.readings}
    after = {r.point: r for r in third.readings}
    assert before["temperature_3"].quality is Quality.GOOD
    assert after["temperature_3"].quality is Quality.SENSOR_FAULT
    assert math.isnan(after["temperature_3"].value)
    assert math.isnan(after["temperature_3"].raw_value)
    # The live read's rules: out of range, and a frost point computed from it too (§13).
    for point in ("rh", "frost_point"):
        assert before[point].quality is Quality.OUT_OF_RANGE, point
        assert math.isnan(before[point].value) and not math.isnan(before[point].raw_value)
    assert before["rh"].raw_value == 100.4
    assert before["temperature_2"].quality is Quality.GOOD


async def test_clock_read_and_set(
    driver: ReferenceAsciiDriver,
    ascii_server: AsciiPtyServer,
    ascii_logger: SimulatedLogger,
    manual_clock: ManualClock,
) -> None:
    manual_clock.advance(12.75)
    before = await call(driver.read_clock)
    await call(driver.set_clock, 1_800_000_000)
    just_set = await call(driver.read_clock)
    manual_clock.advance(61.5)
    later = await call(driver.read_clock)
    commands = ascii_server.commands
    with pytest.raises(OutOfRangeError, match="Give a time in that range"):
        await call(driver.set_clock, 4_200_000_000)  # after 2100: refused, never sent
    assert ascii_server.commands == commands
    assert isinstance(driver, MemoryDriver) and driver.clock_resolution_s == 1.0
    assert before == math.floor(manual_clock.start_utc_s + 12.75)
    assert (just_set, later) == (1_800_000_000, 1_800_000_061)
    assert ascii_logger.clock_reading_s() == later


async def test_a_busy_logger_is_asked_again_for_its_clock(
    driver: ReferenceAsciiDriver, ascii_server: AsciiPtyServer, ascii_logger: SimulatedLogger
) -> None:
    """§14.1, §15: ERR 4 busy while the logger writes a record to flash; asked again 20 ms or
    more later, TIME and TIME? are not given up on."""
    ascii_server.busy_replies = 2
    await call(driver.set_clock, 1_800_000_000)
    ascii_server.busy_replies = 1
    read_back = await call(driver.read_clock)
    assert read_back == 1_800_000_000 == ascii_logger.clock_reading_s()
    assert ascii_server.commands == 5  # TIME three times, TIME? twice


async def test_live_reads_and_records_from_two_threads_take_turns(
    driver: ReferenceAsciiDriver, ascii_logger: SimulatedLogger, manual_clock: ManualClock
) -> None:
    # Acquisition polls the live values while a backfill reads the memory, from two threads:
    # each exchange holds the line until its reply (a whole DUMP) is in.
    manual_clock.advance(125)  # records 1 … 13
    await call(driver.open)
    truth = ascii_logger.point_values()

    def backfill() -> list[list[LoggedRecord]]:
        return [driver.read_records(1, 8) + driver.read_records(9, 5) for _ in range(15)]

    def poll() -> list[list[Reading]]:
        return [driver.read() for _ in range(30)]

    passes, polls = await asyncio.gather(call(backfill), call(poll))
    for records in passes:
        assert_records_match(records, list(ascii_logger.memory))
    for readings in polls:
        values = {r.point: r.value for r in readings}
        assert same(values["temperature_1"], truth["temperature_1"])
        assert same(values["rh"], truth["rh"])


async def test_a_bad_checksum_is_a_protocol_error_naming_the_record(
    driver: ReferenceAsciiDriver, ascii_server: AsciiPtyServer, manual_clock: ManualClock
) -> None:
    manual_clock.advance(60)
    ascii_server.corrupt_next_checksum = True
    with pytest.raises(ProtocolError, match=r"record 3: checksum .* b'REC 3,") as info:
        await call(driver.read_records, 3, 3)
    assert isinstance(info.value.__cause__, asc.ChecksumError)
    # The rest of that dump is still on the line; the next exchange is not disturbed by it.
    assert [r.sequence for r in await call(driver.read_records, 3, 3)] == [3, 4, 5]


async def test_a_logger_that_does_not_answer_is_a_link_error(
    ascii_server: AsciiPtyServer,
) -> None:
    driver = ReferenceAsciiDriver(
        ReferenceAsciiConfig(url=ascii_server.path, timeout_s=0.2), LinePool()
    )
    ascii_server.answering = False
    try:
        with pytest.raises(NoReply, match=r"no reply to 'IDN\?' from .* within 0.2 s") as info:
            await call(driver.open)
        assert isinstance(info.value, LinkError)
    finally:
        driver.close()


async def test_a_logger_that_goes_away_is_a_link_error(
    driver: ReferenceAsciiDriver, ascii_server: AsciiPtyServer
) -> None:
    await call(driver.open)
    await ascii_server.stop()  # the pty is gone under the open port
    with pytest.raises(LinkError):
        await call(driver.read)
    driver.close()
    with pytest.raises(LinkError, match="cannot open serial"):
        await call(driver.open)


async def test_missing_serial_port_is_a_link_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    driver = ReferenceAsciiDriver(ReferenceAsciiConfig(url=str(tmp_path / "ttyUSB9")), LinePool())
    with pytest.raises(LinkError, match="cannot open serial"):
        await call(driver.open)
    driver.close()


async def test_continuous_output_between_commands_is_not_taken_for_a_reply(
    driver: ReferenceAsciiDriver,
    ascii_server: AsciiPtyServer,
    ascii_logger: SimulatedLogger,
    manual_clock: ManualClock,
) -> None:
    await call(driver.open)
    assert await call(driver.transact, asc.ContCommand(True)) == [asc.OkReply()]
    manual_clock.advance(30)
    ascii_server.pump()  # records at 10, 20 and 30 s go out as VAL lines, unasked
    manual_clock.advance(5)
    # READ? is answered by a VAL line too: only throwing away what came unasked tells them apart.
    readings = {r.point: r.value for r in await call(driver.read)}
    truth, stale = ascii_logger.point_values(), ascii_logger.memory[-1].values
    assert same(readings["temperature_1"], truth["temperature_1"])
    assert not same(readings["temperature_1"], stale["temperature_1"], 0.01)
    ascii_server.pump()  # nothing new: the next record falls due at 40 s
    manual_clock.advance(10)
    ascii_server.pump()
    assert await call(driver.memory_range) == MemoryRange(1, 5, 100_000)

    # A line that is not the reply, arriving between a command and its reply, is skipped.
    val = asc.encode_reply(asc.ValReply(1, 0, stale))
    ascii_server.before_next_reply += [val, b"OK\r\n"]
    assert await call(driver.memory_range) == MemoryRange(1, 5, 100_000)
    ascii_server.before_next_reply += [val]
    assert [r.sequence for r in await call(driver.read_records, 2, 3)] == [2, 3, 4]


async def test_a_line_of_garbage_is_a_protocol_error(
    driver: ReferenceAsciiDriver, ascii_server: AsciiPtyServer
) -> None:
    ascii_server.before_next_reply.append(b"#$%!\r\n")
    with pytest.raises(ProtocolError, match="unknown reply keyword"):
        await call(driver.memory_range)
    assert await call(driver.memory_range) == MemoryRange(1, 1, 100_000)


async def test_err_replies_are_device_errors_with_the_ascii_code(
    driver: ReferenceAsciiDriver, ascii_server: AsciiPtyServer, manual_clock: ManualClock
) -> None:
    manual_clock.advance(20)  # records 1 … 3
    with pytest.raises(AsciiDeviceError, match="ERR 2 bad argument to 'INTV 0'") as info:
        await call(driver.transact, asc.IntvCommand(0))
    assert (info.value.code, info.value.text) == (2, "bad argument")

    with pytest.raises(AsciiDeviceError, match="ERR 3 sequence out of range") as info:
        await call(driver.read_records, 100, 101)
    assert info.value.code == 3 and not info.value.busy
    with pytest.raises(ValueError, match="count"):
        await call(driver.read_records, 3, 0)

    ascii_server.busy_replies = 1
    with pytest.raises(AsciiDeviceError) as info:
        await call(driver.read)
    assert info.value.code == 4 and info.value.busy
    assert len(await call(driver.read)) == len(DEFN.points)


async def test_busy_logger_is_retried_by_acquisition(
    ascii_server: AsciiPtyServer, driver: ReferenceAsciiDriver
) -> None:
    from loggerd.acquisition.poller import ChannelBinding, DevicePoller, PollPolicy
    from loggerd.core.samples import Sample

    got: list[Sample] = []

    async def sink(samples: list[Sample]) -> None:
        got.extend(samples)

    async with DevicePoller(
        "c",
        "d",
        driver,
        [ChannelBinding("t1", "temperature_1")],
        1.0,
        sink,
        policy=PollPolicy(retries=1, busy_retry_delay_s=0.001),
    ) as poller:
        await poller.poll_once()  # opens the device (IDN?, CONT 0)
        ascii_server.busy_replies = 1  # the next command is answered ERR 4 busy
        await poller.poll_once()
        assert [s.quality for s in got] == [Quality.GOOD, Quality.GOOD]
        assert poller.health.retries == 1


async def test_simulator_host_serves_ascii_per_logger(manual_clock: ManualClock) -> None:
    from loggerd_sim.host import SimOptions, SimulatorHost

    host = SimulatorHost(
        SimOptions(addresses=(1, 2), tcp=False, rtu=False, ascii=True), clock=manual_clock
    )
    await host.start()
    try:
        assert set(host.ascii) == {1, 2}
        assert [k for k in host.endpoints() if k.startswith("ascii")] == [
            "ascii-rs232 (logger 1)",
            "ascii-rs232 (logger 2)",
        ]
        cls = load_driver("reference-ascii")
        d = cls(cls.config_model.model_validate({"url": host.ascii[2].url}), LinePool())
        try:
            info = await call(d.open)
        finally:
            d.close()
        assert info.serial_number == str(host.loggers[2].settings.serial_number)
    finally:
        await host.stop()
