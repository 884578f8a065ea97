"""The reference-modbus driver against the simulator over a real pty (RTU) and a real socket."""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Iterator

import pytest

from loggerd.bus import BusPool
from loggerd.errors import DeviceException, LinkError
from loggerd.samples import Quality
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_protocol.modbus import READ_INPUT
from loggerd_sim.host import SimulatorHost
from loggerd_sim.logger import ManualClock

TRANSPORTS = ["rtu", "tcp"]


def url_of(sim: SimulatorHost, transport: str) -> str:
    assert sim.rtu is not None and sim.tcp is not None
    return sim.rtu.path if transport == "rtu" else sim.tcp.url


@pytest.fixture
def buses() -> Iterator[BusPool]:
    pool = BusPool()
    yield pool
    pool.close()


def make_driver(
    buses: BusPool, sim: SimulatorHost, transport: str, address: int = 1, timeout_s: float = 1.0
) -> ReferenceModbusDriver:
    config = ReferenceModbusConfig(url=url_of(sim, transport), address=address, timeout_s=timeout_s)
    return ReferenceModbusDriver(config, buses)


async def call(fn, *args):  # type: ignore[no-untyped-def]
    # The driver blocks; the simulator serves on this event loop, so run the driver beside it.
    return await asyncio.to_thread(fn, *args)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_identity(buses: BusPool, sim: SimulatorHost, transport: str) -> None:
    driver = make_driver(buses, sim, transport, address=2)
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
    buses: BusPool, sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    manual_clock.advance(1800)  # half an hour into the cold-soak ramp
    driver = make_driver(buses, sim, transport)
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
            assert r.quality is Quality.SENSOR_FAULT and math.isnan(r.value)
    assert readings["rh"].value == pytest.approx(truth["rh"], rel=1e-6)
    assert readings["frost_point"].value == pytest.approx(truth["frost_point"], rel=1e-6)
    # 30 min at 2 K/min from +25 °C: the chamber is well below ambient by now
    assert readings["temperature_1"].value < 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sensor_fault_is_flagged_not_zero(
    buses: BusPool, sim: SimulatorHost, transport: str
) -> None:
    sim.loggers[1].settings.sensor_faults["temperature_3"] = "open"
    driver = make_driver(buses, sim, transport)
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
    buses: BusPool, sim: SimulatorHost, transport: str
) -> None:
    driver = make_driver(buses, sim, transport)
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
async def test_memory_records_read_by_sequence(
    buses: BusPool, sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    manual_clock.advance(125)  # records at 0, 10, …, 120 s: 13 records
    driver = make_driver(buses, sim, transport)
    try:
        await call(driver.open)
        oldest, newest = await call(driver.memory_range)
        records = await call(driver.read_records, 11)
    finally:
        driver.close()
    memory = list(sim.loggers[1].memory)
    assert (oldest, newest) == (1, 13) == (memory[0].sequence, memory[-1].sequence)
    assert [r.sequence for r in records] == [11, 12, 13]  # the window runs past the newest
    for got, want in zip(records, memory[10:], strict=True):
        assert got.timestamp == want.timestamp
        assert got.values["temperature_1"] == pytest.approx(want.values["temperature_1"], abs=0.005)
        assert math.isnan(got.values["temperature_16"])


async def test_rtu_device_that_does_not_answer_times_out(
    buses: BusPool, sim: SimulatorHost
) -> None:
    driver = make_driver(buses, sim, "rtu", address=9, timeout_s=0.2)
    try:
        with pytest.raises(LinkError, match="no complete reply from device 9"):
            await call(driver.open)
    finally:
        driver.close()


async def test_tcp_connection_refused_is_a_link_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    buses = BusPool()
    driver = ReferenceModbusDriver(ReferenceModbusConfig(url=f"tcp://127.0.0.1:{free_port}"), buses)
    with pytest.raises(LinkError, match="cannot connect"):
        await call(driver.open)
    buses.close()


async def test_missing_serial_port_is_a_link_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    buses = BusPool()
    driver = ReferenceModbusDriver(ReferenceModbusConfig(url=str(tmp_path / "ttyUSB9")), buses)
    with pytest.raises(LinkError, match="cannot open serial"):
        await call(driver.open)
    buses.close()
