"""Lines as they are in a lab: several devices on one RS-485 line, faults that never corrupt
or stall, a USB adapter that is unplugged and comes back, a TCP gateway that reboots."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from loggerd.acquisition.poller import ChannelBinding, DevicePoller, PollPolicy
from loggerd.core.errors import DeviceException, NoReply, ProtocolError
from loggerd.core.samples import Quality, Sample
from loggerd.link.lines import LinePool
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_sim.faults import FaultPlan, FaultRates
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock

BINDINGS = [ChannelBinding("air", "temperature_1"), ChannelBinding("rh", "rh")]


@pytest.fixture
def lines() -> Iterator[LinePool]:
    pool = LinePool()
    yield pool
    pool.close()


@pytest.fixture
async def line(manual_clock: ManualClock, tmp_path: Path) -> AsyncIterator[SimulatorHost]:
    """Three loggers on one simulated RS-485 line behind a by-id style link, with faults."""
    host = SimulatorHost(
        SimOptions(
            addresses=(1, 2, 3),
            seed=11,
            baudrate=115200,
            faults=FaultRates(late_delay_s=0.25),
            rtu_link=tmp_path / "usb-FTDI_FT232R_A12345-if00-port0",
        ),
        clock=manual_clock,
    )
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


def driver(
    lines: LinePool, url: str, address: int, timeout_s: float = 0.2
) -> ReferenceModbusDriver:
    config = ReferenceModbusConfig(
        url=url, address=address, timeout_s=timeout_s, baudrate=115200, late_reply_guard_s=0.4
    )
    return ReferenceModbusDriver(config, lines)


async def read(d: ReferenceModbusDriver) -> dict[str, float]:
    return {r.point: r.value for r in await asyncio.to_thread(d.read)}


def truth(host: SimulatorHost, address: int) -> dict[str, float]:
    logger = host.loggers[address]
    logger.sync()  # bring it to the simulated present, as a request would
    return logger.point_values()


def close_to(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6)


async def test_devices_on_one_line_share_one_master(line: SimulatorHost, lines: LinePool) -> None:
    assert line.rtu is not None
    d1, d2, d3 = (driver(lines, line.rtu.url, a) for a in (1, 2, 3))
    assert d1.master is d2.master is d3.master
    results = await asyncio.gather(read(d1), read(d2), read(d3), read(d1), read(d2))
    for values, address in zip(results, (1, 2, 3, 1, 2), strict=True):
        assert close_to(values["temperature_1"], truth(line, address)["temperature_1"])
    assert line.rtu.requests == 5 and d1.master.transactions == 5


async def test_wire_timing_is_emulated(manual_clock: ManualClock) -> None:
    host = SimulatorHost(SimOptions(addresses=(1,), tcp=False, baudrate=9600), clock=manual_clock)
    await host.start()
    pool = LinePool()
    try:
        assert host.rtu is not None
        d = ReferenceModbusDriver(
            ReferenceModbusConfig(url=host.rtu.url, baudrate=9600, timeout_s=1.0), pool
        )
        t0 = time.monotonic()
        await read(d)
        elapsed = time.monotonic() - t0
    finally:
        pool.close()
        await host.stop()
    # 8-byte request + 139-byte reply at 11 bits per character, 9600 baud, + 3.5 chars + 2 ms
    wire_s = (8 + 139) * 11 / 9600 + 3.5 * 11 / 9600 + 0.002
    assert elapsed >= wire_s


async def test_garbage_before_a_reply_is_skipped(line: SimulatorHost, lines: LinePool) -> None:
    assert line.rtu is not None and line.faults is not None
    d = driver(lines, line.rtu.url, 2)
    line.faults.script = ["garbage", "garbage", "garbage"]
    for _ in range(3):
        assert close_to((await read(d))["rh"], truth(line, 2)["rh"])


async def test_corrupted_reply_is_an_error_not_a_value(
    line: SimulatorHost, lines: LinePool
) -> None:
    assert line.rtu is not None and line.faults is not None
    d = driver(lines, line.rtu.url, 1)
    line.faults.script = ["crc"]
    with pytest.raises((ProtocolError, NoReply)):
        await read(d)
    assert close_to((await read(d))["rh"], truth(line, 1)["rh"])  # the line is fine after


async def test_late_reply_is_never_taken_for_the_next_one(
    line: SimulatorHost, lines: LinePool, manual_clock: ManualClock
) -> None:
    assert line.rtu is not None and line.faults is not None
    d = driver(lines, line.rtu.url, 1)
    line.faults.script = ["late"]  # the reply comes 0.25 s late: after the 0.2 s timeout
    before = truth(line, 1)
    with pytest.raises(NoReply):
        await read(d)
    manual_clock.advance(600)  # the chamber moves on: the late reply's values are stale
    now = truth(line, 1)
    assert not close_to(now["temperature_1"], before["temperature_1"])
    values = await read(d)
    assert close_to(values["temperature_1"], now["temperature_1"])


async def test_busy_device_is_retried(line: SimulatorHost, lines: LinePool) -> None:
    assert line.rtu is not None and line.faults is not None
    d = driver(lines, line.rtu.url, 3)
    line.faults.script = ["busy"]
    with pytest.raises(DeviceException) as exc:
        await read(d)
    assert exc.value.code == 6
    got: list[Sample] = []

    async def sink(samples: list[Sample]) -> None:
        got.extend(samples)

    async with DevicePoller(
        "c", "d", d, BINDINGS, 1.0, sink, policy=PollPolicy(retries=1)
    ) as poller:
        line.faults.script = ["busy"]
        await poller.poll_once()
        assert [s.quality for s in got] == [Quality.GOOD, Quality.GOOD]
        assert poller.health.retries == 1


async def test_quarantined_device_costs_no_line_time(line: SimulatorHost, lines: LinePool) -> None:
    assert line.rtu is not None
    dead = driver(lines, line.rtu.url, 9, timeout_s=0.05)
    got: list[Sample] = []

    async def sink(samples: list[Sample]) -> None:
        got.extend(samples)

    policy = PollPolicy(retries=0, quarantine_after=2, backoff_initial_s=3600)
    async with DevicePoller("c", "dead", dead, BINDINGS, 1.0, sink, policy=policy) as poller:
        for _ in range(2):
            await poller.poll_once()
        assert poller.health.quarantined
        transactions = dead.master.transactions
        for _ in range(5):
            await poller.poll_once()  # quarantined: missing samples, and not a byte on the line
        assert dead.master.transactions == transactions
        assert {s.quality for s in got} == {Quality.MISSING}
        assert all(math.isnan(s.value) for s in got)
        assert len(got) == 7 * len(BINDINGS)


async def test_unplugged_adapter_is_picked_up_again(line: SimulatorHost, lines: LinePool) -> None:
    assert line.rtu is not None and line.options.rtu_link is not None
    d = driver(lines, str(line.options.rtu_link), 1)
    got: list[Sample] = []

    async def sink(samples: list[Sample]) -> None:
        got.extend(samples)

    policy = PollPolicy(retries=0, quarantine_after=100)
    async with DevicePoller("c", "d", d, BINDINGS, 1.0, sink, policy=policy) as poller:
        await poller.poll_once()
        old_tty = line.rtu.path
        line.rtu.vanish()
        assert not line.options.rtu_link.exists()
        await poller.poll_once()
        await poller.poll_once()
        assert poller.health.state == "offline"
        assert "cannot open serial" in (poller.health.last_error or "")
        line.rtu.reappear()
        assert line.rtu.path and line.options.rtu_link.exists()
        await poller.poll_once()
        assert poller.health.state == "ok"
        assert [s.quality for s in got] == [Quality.GOOD] * 2 + [Quality.MISSING] * 4 + [
            Quality.GOOD
        ] * 2
        assert old_tty  # a new tty may or may not reuse the number; the link is what counts


async def test_tcp_gateway_reboot_is_reconnected(manual_clock: ManualClock) -> None:
    host = SimulatorHost(SimOptions(addresses=(1,), rtu=False), clock=manual_clock)
    await host.start()
    pool = LinePool()
    try:
        assert host.tcp is not None
        d = ReferenceModbusDriver(ReferenceModbusConfig(url=host.tcp.url, timeout_s=1.0), pool)
        got: list[Sample] = []

        async def sink(samples: list[Sample]) -> None:
            got.extend(samples)

        async with DevicePoller(
            "c", "d", d, BINDINGS, 1.0, sink, policy=PollPolicy(retries=0, quarantine_after=100)
        ) as poller:
            await poller.poll_once()
            await host.tcp.reboot()
            await poller.poll_once()  # the old connection is gone: missing, and reconnect next
            await poller.poll_once()
            qualities = [s.quality for s in got]
            assert qualities[:2] == [Quality.GOOD] * 2 and qualities[-2:] == [Quality.GOOD] * 2
            assert poller.health.state == "ok"
    finally:
        pool.close()
        await host.stop()


async def test_ground_truth_records_every_answer(line: SimulatorHost, lines: LinePool) -> None:
    assert line.rtu is not None and line.faults is not None
    d = driver(lines, line.rtu.url, 2)
    line.faults.script = [None, "drop", None]
    await read(d)
    with pytest.raises(NoReply):
        await read(d)
    await read(d)
    assert [a.fault for a in line.faults.answers] == [None, "drop", None]
    assert {a.unit for a in line.faults.answers} == {2}


def test_fault_rates_parse() -> None:
    rates = FaultRates.parse("crc=0.05, drop=0.02,late=0.01")
    assert replace(rates) == FaultRates(crc=0.05, drop=0.02, late=0.01)
    with pytest.raises(ValueError, match="NAME=RATE"):
        FaultRates.parse("crc:0.05")
    with pytest.raises(ValueError, match="add up to at most 1"):
        FaultRates.parse("crc=0.7,drop=0.6")
    assert FaultPlan(FaultRates(drop=1.0)).draw(1) == "drop"
