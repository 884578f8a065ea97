"""A line on which no device answers any more (a cut cable, an adapter or a gateway without
power) is quarantined as a line: one probe a back-off period instead of a timeout per device,
each device's ticks recorded meanwhile, and every device polled again when the line is back.
One dead device among answering ones is quarantined on its own, as before."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

import pytest

from loggerd.acquisition.acquisition import Acquisition, DeviceSpec
from loggerd.acquisition.ledger import HistoryEnd
from loggerd.acquisition.line_gate import LineGate
from loggerd.acquisition.poller import ChannelBinding, DevicePoller, PollPolicy
from loggerd.core.backoff import Backoff
from loggerd.core.events import ClockCheck, LogItem
from loggerd.core.samples import Quality, Sample
from loggerd.link.lines import LinePool
from loggerd.link.worker import LineWorker
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_sim.faults import FaultPlan, FaultRates
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock
from loggerd_sim.modbus_server import ModbusRtuPtyServer

ADDRESSES = (1, 2, 3, 4)
# Device back-offs far longer than any test: a device quarantined on its own stays so.
POLICY = PollPolicy(retries=0, quarantine_after=2, backoff_initial_s=3600, backoff_jitter=0)


@pytest.fixture
def lines() -> Iterator[LinePool]:
    pool = LinePool()
    yield pool
    pool.close()


@pytest.fixture
async def rack(manual_clock: ManualClock) -> AsyncIterator[ModbusRtuPtyServer]:
    """Four reference loggers on one simulated RS-485 line."""
    host = SimulatorHost(
        SimOptions(addresses=ADDRESSES, tcp=False, baudrate=115200, seed=5), clock=manual_clock
    )
    await host.start()
    try:
        assert host.rtu is not None
        yield host.rtu
    finally:
        await host.stop()


def cut(line: ModbusRtuPtyServer) -> None:
    """The cable is cut behind the adapter: requests still go out, and no device answers."""
    line.faults = FaultPlan(FaultRates(drop=1.0))


def mend(line: ModbusRtuPtyServer) -> None:
    line.faults = None


def driver(lines: LinePool, url: str, address: int) -> ReferenceModbusDriver:
    config = ReferenceModbusConfig(
        url=url, address=address, baudrate=115200, timeout_s=0.05, late_reply_guard_s=0.01
    )
    return ReferenceModbusDriver(config, lines)


class Clock:
    """The line's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


class Rack:
    """Pollers of devices on one line, sharing its thread and its gate, polled by hand one
    round (a tick of each device) at a time; the line's back-off runs on a clock the test
    moves (10 s, doubling to 40 s, no jitter)."""

    def __init__(self, line: ModbusRtuPtyServer, lines: LinePool, addresses: Sequence[int]):
        self.line = line
        self.clock = Clock()
        names = [f"rack/logger-{a}" for a in addresses]
        self.gate = LineGate(line.url, names, Backoff(10, 40, jitter=0), monotonic=self.clock)
        self.worker = LineWorker(line.url)
        self.samples: dict[str, list[Sample]] = {}
        self.pollers = [
            DevicePoller(
                "rack",
                f"logger-{a}",
                driver(lines, line.url, a),
                [ChannelBinding(f"air-{a}", "temperature_1")],
                1.0,
                self._sink,
                policy=POLICY,
                worker=self.worker,
                line_gate=self.gate,
            )
            for a in addresses
        ]

    async def _sink(self, samples: list[Sample]) -> None:
        for s in samples:
            self.samples.setdefault(s.channel_id.removeprefix("air-"), []).append(s)

    def qualities(self, address: int) -> list[Quality]:
        return [s.quality for s in self.samples[str(address)]]

    async def round(self) -> int:
        """Each device's tick, in turn; how many requests the line received meanwhile."""
        before = self.line.requests
        for poller in self.pollers:
            await poller.poll_once()
        return self.line.requests - before

    async def aclose(self) -> None:
        for poller in self.pollers:
            await poller.aclose()
        self.worker.stop()


@pytest.fixture
async def polled(rack: ModbusRtuPtyServer, lines: LinePool) -> AsyncIterator[Rack]:
    r = Rack(rack, lines, ADDRESSES)
    try:
        yield r
    finally:
        await r.aclose()


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


async def test_a_dead_line_gets_one_probe_a_period_not_a_timeout_per_device(
    polled: Rack, rack: ModbusRtuPtyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loggerd.acquisition")
    await polled.round()
    cut(rack)
    assert await polled.round() == 4  # every device tried, each once: none has given up
    # logger-1 fails its second poll in a row with every device silent: the line, not the
    # device, is quarantined, and the others send nothing.
    assert await polled.round() == 1
    gate = polled.gate.health
    assert (gate.quarantined, gate.quarantines) == (True, 1)
    assert [await polled.round() for _ in range(3)] == [0, 0, 0]  # the first period runs

    async def period(length_s: float) -> int:
        polled.clock.s += length_s  # the period is over: its rounds until the next end
        return sum([await polled.round() for _ in range(3)])

    # One request a period (10 s, 20 s, 40 s), to one device after the other.
    assert [await period(s) for s in (10, 20, 40)] == [1, 1, 1]
    assert rack.faults is not None
    assert [a.unit for a in rack.faults.answers[-3:]] == [2, 3, 4]
    assert gate.quarantines == 4

    # Every tick of the quarantine is recorded, for each device, with why it was not polled:
    # of 15 ticks, one answered, two got no reply (two polls; or a poll and a probe), and
    # twelve were not polled.
    for poller in polled.pollers:
        qualities = polled.qualities(int(poller.device_id.removeprefix("logger-")))
        h = poller.health
        assert len(qualities) == 15 and qualities[0] is Quality.GOOD
        assert qualities.count(Quality.MISSING) == h.reads_failed == 2
        assert qualities.count(Quality.SKIPPED) == h.line_quarantined_ticks == 12
        assert (h.quarantined, h.quarantine_reason, h.quarantines) == (True, "line", 0)
        assert h.quarantine_until_utc_us == gate.quarantine_until_utc_us
        assert h.state == "offline"
    assert polled.qualities(1)[1:3] == [Quality.MISSING] * 2  # before the verdict: polled

    # The cable is mended: the next probe finds it, and every device polls at its next tick.
    mend(rack)
    polled.clock.s += 40
    await polled.round()
    assert not gate.quarantined and gate.quarantine_until_utc_us is None
    assert await polled.round() == 4
    for poller in polled.pollers:
        a = int(poller.device_id.removeprefix("logger-"))
        assert polled.qualities(a)[-2:] == [Quality.GOOD] * 2
        h = poller.health
        assert (h.state, h.quarantined, h.quarantine_reason) == ("ok", False, None)

    # One line said the line was down, and one that it is back: no quarantine per device.
    (down,) = [m for m in messages(caplog, logging.WARNING) if "quarantined" in m]
    assert down.startswith(
        f"line {rack.url} (4 devices): no device answered (the last, rack/logger-1: no "
        "complete reply from device 1"
    )
    assert "; quarantined for 10 s" in down and "check the cable" in down
    back = [m for m in messages(caplog, logging.INFO) if "answer" in m]
    assert back == [
        f"line {rack.url}: rack/logger-1 answered; the line is back after 110 s, its 4 devices "
        "are polled again"
    ]


async def test_one_dead_device_among_answering_ones_is_quarantined_alone(
    rack: ModbusRtuPtyServer, lines: LinePool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loggerd.acquisition")
    polled = Rack(rack, lines, (1, 2, 3, 9))  # nobody answers at address 9
    try:
        assert [await polled.round() for _ in range(4)] == [6, 3, 3, 3]  # open + read, then read
        dead = polled.pollers[-1].health
        assert (dead.quarantined, dead.quarantine_reason, dead.quarantines) == (True, "device", 1)
        assert polled.qualities(9) == [Quality.MISSING] * 4
        for a in (1, 2, 3):
            assert polled.qualities(a) == [Quality.GOOD] * 4
        assert not polled.gate.health.quarantined and polled.gate.health.quarantines == 0
        assert not any(m.startswith("line ") for m in messages(caplog, logging.WARNING))
    finally:
        await polled.aclose()


def test_a_line_of_one_device_has_no_line_quarantine(lines: LinePool) -> None:
    """The line's rule needs two devices: a device alone on its line is quarantined as before."""

    async def sink(samples: list[Sample]) -> None:
        pass

    specs = [
        DeviceSpec("rack", name, driver(lines, url, a), (), 1.0)
        for name, url, a in [
            ("shared-1", "/dev/ttyRS485-0", 1),
            ("alone", "/dev/ttyRS485-1", 1),
            ("shared-2", "/dev/ttyRS485-0", 2),
        ]
    ]
    acquisition = Acquisition(specs, lines, sink)
    try:
        assert list(acquisition.gates) == ["/dev/ttyRS485-0"]
        shared_1, alone, shared_2 = acquisition.pollers
        assert alone.line_gate is None
        assert shared_1.line_gate is shared_2.line_gate is acquisition.gates["/dev/ttyRS485-0"]
        assert shared_1.line_gate.health.devices == ["rack/shared-1", "rack/shared-2"]
    finally:
        acquisition.close()


class Ledger:
    """History holds nothing yet, and no clock check."""

    async def cursor(self, chamber_id: str, device_id: str) -> HistoryEnd | None:
        return None

    async def last_clock_check(self, chamber_id: str, device_id: str) -> ClockCheck | None:
        return None


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not predicate():
            await asyncio.sleep(0.01)  # sync-ok: polling a condition under a deadline


async def test_loggers_with_a_memory_send_nothing_but_the_probes_on_a_dead_line(
    rack: ModbusRtuPtyServer, lines: LinePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polled on their own schedules, with their memories followed: while the line is
    quarantined, the only requests on it are the probes (no memory window, no clock read)."""

    async def ignore(items: Sequence[LogItem] | list[Sample]) -> None:
        pass

    policy = PollPolicy(
        retries=0, quarantine_after=2, backoff_initial_s=0.2, backoff_max_s=0.2, backoff_jitter=0
    )
    specs = [
        DeviceSpec(
            "rack",
            f"logger-{a}",
            driver(lines, rack.url, a),
            (ChannelBinding(f"air-{a}", "temperature_1"),),
            0.1,
            policy,
        )
        for a in ADDRESSES
    ]
    sink: Callable[[list[Sample]], Awaitable[None]] = ignore
    acquisition = Acquisition(specs, lines, sink, sink, ignore, Ledger())
    gate = acquisition.gates[rack.url]
    # The requests the line received by the end of each failed probe (each starts a period).
    at_renewals: list[int] = []
    silent = gate.silent

    def counting(device: str, error: str, give_up: bool) -> bool:
        periods = gate.health.quarantines
        down = silent(device, error, give_up)
        if gate.health.quarantines > periods:
            at_renewals.append(rack.requests)
        return down

    monkeypatch.setattr(gate, "silent", counting)
    pollers = acquisition.pollers
    tasks = acquisition.start()
    try:
        # Every logger answers and its memory is followed (each tick reads where it stands).
        await until(
            lambda: all(p.follower and p.follower.health.state == "following" for p in pollers)
        )
        cut(rack)
        await until(lambda: len(at_renewals) >= 4)  # the verdict, then three failed probes
        assert [b - a for a, b in itertools.pairwise(at_renewals[1:])] == [1, 1]
        assert all(p.health.quarantine_reason == "line" for p in pollers)
        await until(lambda: all(p.health.line_quarantined_ticks > 0 for p in pollers))
        mend(rack)
        await until(lambda: not gate.health.quarantined)
        reads = [p.health.reads_ok for p in pollers]
        await until(lambda: all(p.health.reads_ok > r for p, r in zip(pollers, reads, strict=True)))
        assert all(p.health.state == "ok" and not p.health.quarantined for p in pollers)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        acquisition.close()
