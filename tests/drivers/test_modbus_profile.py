"""The modbus-profile driver against profile-built simulated devices, over a real pty (RTU) and a
real TCP socket: values, word order, unavailable values, transactions and poll schedules."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from pydantic import ValidationError

from loggerd.acquisition.poller import ChannelBinding, DevicePoller
from loggerd.core.errors import ConfigError, DeviceException, ProtocolError
from loggerd.core.samples import Quality, Reading, Sample
from loggerd.link.lines import LinePool
from loggerd.service.config import parse_config
from loggerd_drivers.modbus_profile import ProfileModbusConfig, ProfileModbusDriver
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.profile_loader import builtin_profile, builtin_profile_names, parse_profile
from loggerd_protocol.profile_model import Profile
from loggerd_protocol.registers import Order, decode_registers
from loggerd_protocol.values import decode_field
from loggerd_sim.chamber import Chamber
from loggerd_sim.host import SimulatorHost
from loggerd_sim.logger import ManualClock
from loggerd_sim.modbus_server import ModbusRtuPtyServer, ModbusTcpServer, RegisterDevice
from loggerd_sim.profile import builtin_profile as chamber_profile
from loggerd_sim.profile_device import ProfileDevice

TRANSPORTS = ["rtu", "tcp"]
HMT330 = builtin_profile("vaisala_hmt330")
HUMIDITY = ["rh", "temperature", "frost_point", "dew_point", "ppmv", "mixing_ratio"]
T = TypeVar("T")

# A probe whose map has a word-order test register, as Vaisala's newer probes do (HMP series,
# M212022EN, and HMDW110, M211726EN: "floating point test" at 1F01hex holds -123.45; reading
# it is how their guides say to check the host's float format). A test fixture, not a product.
PROBE = """
[device]
manufacturer = "loggerd tests"
model = "Probe with a test register"
datasheet = "test fixture modelled on Vaisala M211726EN (test value registers)"

[defaults]
order = "CDAB"
sentinel = ["nan"]

[workarounds]
gap_fill_allowed = true

[[block]]
name = "measurements"
first = 0
last = 15
source = "fixture"

[[block]]
name = "test_values"
first = 0x1F00
last = 0x1F06
source = "fixture"

[word_order_test]
address = 0x1F01
datasheet_number = 7938
type = "float32"
expected = -123.45
source = "M211726EN Table: Modbus test registers, 7938 (1F01hex), floating point test, -123.45"

[[point]]
name = "rh"
quantity = "relative_humidity"
unit = "%RH"
address = 0
type = "float32"
range = [0.0, 100.0]
source = "fixture"

[[point]]
name = "temperature"
quantity = "temperature"
unit = "degC"
address = 2
type = "float32"
range = [-100.0, 200.0]
source = "fixture"

[[point]]
name = "frost_point"
quantity = "frost_point"
unit = "degC"
address = 8
type = "float32"
range = [-100.0, 100.0]
source = "fixture"
"""


@pytest.fixture
def lines() -> Iterator[LinePool]:
    pool = LinePool()
    yield pool
    pool.close()


@pytest.fixture
def probe_path(tmp_path: Path) -> Path:
    path = tmp_path / "probe.toml"
    path.write_text(PROBE, "utf-8")
    return path


def profile_device(
    clock: ManualClock, profile: Profile = HMT330, word_order: Order | None = None
) -> ProfileDevice:
    chamber = Chamber(chamber_profile(), seed=5)
    return ProfileDevice(profile, chamber, clock, word_order=word_order)


@asynccontextmanager
async def served(device: RegisterDevice, transport: str, unit: int = 1) -> AsyncIterator[str]:
    """The device on a real transport; yields the URL a driver opens."""
    server: ModbusTcpServer | ModbusRtuPtyServer
    if transport == "tcp":
        server = ModbusTcpServer({unit: device})
    else:
        server = ModbusRtuPtyServer({unit: device}, baudrate=115200)
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


def make_driver(lines: LinePool, url: str, profile: str, **settings: Any) -> ProfileModbusDriver:
    config = ProfileModbusConfig(url=url, profile=profile, baudrate=115200, **settings)
    return ProfileModbusDriver(config, lines)


async def call(fn: Callable[..., T], *args: Any) -> T:
    # The driver blocks; the servers answer on this event loop: run the driver beside it.
    return await asyncio.to_thread(fn, *args)


def by_point(readings: list[Reading]) -> dict[str, Reading]:
    return {r.point: r for r in readings}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_hmt330_reads_the_simulated_values(
    lines: LinePool, manual_clock: ManualClock, transport: str
) -> None:
    manual_clock.advance(1800)  # half an hour into the cold soak: a frost point, a few ppmv
    device = profile_device(manual_clock)
    async with served(device, transport) as url:
        driver = make_driver(lines, url, "vaisala_hmt330")
        info = await call(driver.open)
        readings = by_point(await call(driver.read))
        # On the wire the least significant word of RH comes first (M210566EN: "Modicon").
        words = await call(driver.master.read_registers, 1, 0x03, 0, 2)
    device.sync()
    truth = device.point_values()
    assert driver.word_order == "CDAB" and info.model == "HMT330"
    for name in HUMIDITY:
        r = readings[name]
        assert r.quality is Quality.GOOD, name
        assert r.value == pytest.approx(truth[name], rel=1e-6), name  # float32 on the wire
    assert readings["temperature"].value < 0 and readings["frost_point"].value < -30
    assert decode_registers(words[::-1], "float32", "ABCD") == pytest.approx(truth["rh"], rel=1e-6)
    assert readings["fault_status"].value == 1 and readings["online_status"].value == 1
    # The transmitter simulates no enthalpy: unavailable, missing, never 0 nor a sensor fault.
    assert readings["enthalpy"].quality is Quality.MISSING
    assert math.isnan(readings["enthalpy"].value) and math.isnan(readings["enthalpy"].raw_value)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("device_order", ["ABCD", "BADC", "DCBA"])
async def test_a_device_in_another_word_order_is_detected_at_connect_time(
    lines: LinePool,
    manual_clock: ManualClock,
    probe_path: Path,
    transport: str,
    device_order: Order,
) -> None:
    profile = parse_profile(PROBE, "probe.toml")
    device = profile_device(manual_clock, profile, word_order=device_order)
    async with served(device, transport) as url:
        driver = make_driver(lines, url, str(probe_path))
        assert driver.word_order == "CDAB"  # what the profile says, until open() looks
        await call(driver.open)
        readings = by_point(await call(driver.read))
    device.sync()
    truth = device.point_values()
    assert driver.word_order == device_order
    for name in ("rh", "temperature", "frost_point"):
        assert readings[name].quality is Quality.GOOD
        assert readings[name].value == pytest.approx(truth[name], rel=1e-6)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_wrong_explicit_order_is_an_error_where_a_test_register_exists(
    lines: LinePool, manual_clock: ManualClock, probe_path: Path, transport: str
) -> None:
    profile = parse_profile(PROBE, "probe.toml")
    device = profile_device(manual_clock, profile)  # CDAB, as its profile says
    async with served(device, transport) as url:
        driver = make_driver(lines, url, str(probe_path), word_order="ABCD")
        with pytest.raises(ProtocolError) as exc:
            await call(driver.open)
        right = make_driver(lines, url, str(probe_path), word_order="CDAB")
        await call(right.open)
    message = str(exc.value)
    assert "word_order is set to ABCD" in message
    assert "read 0xE666 0xC2F6" in message  # -123.45 is C2F6 E666: least significant first
    assert "that is the expected value in CDAB only" in message
    assert right.word_order == "CDAB"


async def test_a_test_register_holding_something_else_is_an_error(
    lines: LinePool, manual_clock: ManualClock, probe_path: Path
) -> None:
    other = parse_profile(PROBE.replace("expected = -123.45", "expected = 98.76"), "other.toml")
    device = profile_device(manual_clock, other)
    async with served(device, "tcp") as url:
        driver = make_driver(lines, url, str(probe_path))
        with pytest.raises(ProtocolError) as exc:
            await call(driver.open)
    message = str(exc.value)
    assert "none is the expected -123.45" in message
    assert "98.76" in message and "in CDAB" in message  # what it read, in every order


@pytest.mark.parametrize("setting", ["ABCD", "auto"])
async def test_a_wrong_order_without_a_test_register_is_caught_at_connect_time(
    lines: LinePool, manual_clock: ManualClock, setting: Literal["ABCD", "auto"]
) -> None:
    """The HMT330 has no test register. Read in a wrong order its values fall out of range
    (or become subnormal floats) where the right order puts every one in range: open() says
    so instead of passing numbers on. 5.7e-14 %RH is what RH reads as here in ABCD."""
    manual_clock.advance(1800)
    device_order: Order = "CDAB" if setting == "ABCD" else "ABCD"  # a gateway swapping words
    device = profile_device(manual_clock, word_order=device_order)
    async with served(device, "tcp") as url:
        driver = make_driver(lines, url, "vaisala_hmt330", word_order=setting)
        with pytest.raises(ProtocolError) as exc:
            await call(driver.open)
        right = make_driver(lines, url, "vaisala_hmt330", word_order=device_order)
        await call(right.open)
        readings = by_point(await call(right.read))
    message = str(exc.value)
    wrong = "ABCD" if setting == "ABCD" else "CDAB"
    whose = "configured" if setting == "ABCD" else "profile's"
    assert f"read in {wrong} (the {whose} word order)" in message
    assert "every value is plausible" in message
    assert f'set word_order = "{device_order}"' in message
    assert all(readings[name].quality is Quality.GOOD for name in HUMIDITY)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unavailable_values_are_missing_not_zero(
    lines: LinePool, manual_clock: ManualClock, transport: str
) -> None:
    device = profile_device(manual_clock)
    device.make_unavailable(["ppmv"])
    device.overrides["rh"] = 150.0
    async with served(device, transport) as url:
        driver = make_driver(lines, url, "vaisala_hmt330")
        await call(driver.open)
        readings = by_point(await call(driver.read))
        device.device_fault = True
        faulted = by_point(await call(driver.read))
    ppmv = readings["ppmv"]
    assert ppmv.quality is Quality.MISSING  # the device says it has none: no sensor at fault
    assert math.isnan(ppmv.value) and math.isnan(ppmv.raw_value)
    rh = readings["rh"]
    assert rh.quality is Quality.OUT_OF_RANGE and math.isnan(rh.value) and rh.raw_value == 150.0
    assert readings["temperature"].quality is Quality.GOOD
    # The transmitter reports a fault: every value it qualifies is flagged, what came is kept.
    assert faulted["fault_status"].value == 0
    for name in HUMIDITY:
        assert faulted[name].quality is Quality.SENSOR_FAULT, name
        assert math.isnan(faulted[name].value)
    assert faulted["temperature"].raw_value == pytest.approx(device.point_values()["temperature"])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_one_transaction_per_planned_request(
    lines: LinePool, manual_clock: ManualClock, transport: str
) -> None:
    device = profile_device(manual_clock)
    async with served(device, transport) as url:
        driver = make_driver(lines, url, "vaisala_hmt330")
        narrow = make_driver(lines, url, "vaisala_hmt330", max_span=8)
        await call(driver.open)
        await call(narrow.open)
        for d in (driver, narrow):
            for groups in (None, ["live"], ["derived"], ["live", "derived"]):
                before, reads = d.master.transactions, len(device.reads)
                readings = await call(d.read, groups)
                requests = d.plan(groups)
                assert d.master.transactions - before == len(requests)
                assert device.reads[reads:] == [(r.function, r.address, r.count) for r in requests]
                assert {r.point for r in readings} == {n for r in requests for n in r.names}
    # All of the HMT330 in two requests: the float block (0-31) and the status block (512-516).
    assert [(r.address, r.count) for r in driver.plan()] == [(0, 32), (512, 5)]
    assert [(r.address, r.count) for r in driver.plan(["live"])] == [(0, 22), (512, 5)]
    assert [(r.address, r.count) for r in narrow.plan()] == [
        (0, 8),
        (8, 8),
        (16, 8),
        (24, 8),
        (512, 5),
    ]


async def test_a_slow_group_is_read_only_on_its_ticks(
    lines: LinePool, manual_clock: ManualClock
) -> None:
    device = profile_device(manual_clock)
    async with served(device, "tcp") as url:
        driver = make_driver(lines, url, "vaisala_hmt330")
        got: list[list[Sample]] = []

        async def sink(samples: list[Sample]) -> None:
            got.append(samples)

        bindings = [ChannelBinding("rh", "rh"), ChannelBinding("a", "absolute_humidity")]
        # Polled every 20 s, the 60 s "derived" group is due on every third tick.
        async with DevicePoller("c", "hmt", driver, bindings, 20.0, sink) as poller:
            for _ in range(7):
                reads = len(device.reads)
                await poller.poll_once()
                tick = len(got) - 1
                # registers 22-31 (pw … ΔT) belong to "derived" alone; "live" ends at 21
                derived_read = any(a < 512 and a + n > 22 for _, a, n in device.reads[reads:])
                assert derived_read == (tick % 3 == 0), tick
    assert [[s.channel_id for s in samples] for samples in got] == [
        ["rh", "a"] if tick % 3 == 0 else ["rh"] for tick in range(7)
    ]
    assert all(s.quality is Quality.GOOD for samples in got for s in samples)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_reference_profile_reads_what_the_reference_driver_reads(
    lines: LinePool, sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    manual_clock.advance(1800)
    sim.loggers[2].settings.sensor_faults["temperature_3"] = "open"
    assert sim.rtu is not None and sim.tcp is not None
    url = sim.rtu.path if transport == "rtu" else sim.tcp.url
    reference = ReferenceModbusDriver(ReferenceModbusConfig(url=url, address=2), lines)
    generic = ProfileModbusDriver(
        ProfileModbusConfig(url=url, address=2, profile="reference_logger"), lines
    )
    assert generic.master is reference.master  # one line, one master
    assert await call(generic.open) == await call(reference.open)
    want = by_point(await call(reference.read))
    before = generic.master.transactions
    got = by_point(await call(generic.read))
    assert generic.master.transactions - before == 1  # the whole live block in one read
    # A profile's status row knows one kind of fault: where the logger's status word says
    # more (not fitted, out of range), the generic driver can only say sensor_fault.
    coarse = {Quality.NOT_FITTED, Quality.OUT_OF_RANGE, Quality.MISSING}
    for name, r in want.items():
        g = got[name]
        assert g.quality is (Quality.SENSOR_FAULT if r.quality in coarse else r.quality), name
        for a, b in ((g.value, r.value), (g.raw_value, r.raw_value)):
            assert (math.isnan(a) and math.isnan(b)) or a == b, name
    assert got["temperature_3"].quality is Quality.SENSOR_FAULT
    assert want["temperature_12"].quality is Quality.NOT_FITTED
    assert got["temperature_12"].quality is Quality.SENSOR_FAULT
    assert got["temperature_1"].quality is Quality.GOOD
    # The rows the dedicated driver has no reading for (status words, the measurement time) hold
    # what the logger's registers hold, decoded by the definition's own value codec.
    logger = sim.loggers[2]
    defn = reference_logger()
    live = next(b for b in defn.blocks if b.name == "live")
    in_live_block = {f.name for f in defn.table("input") if live.first <= f.address <= live.last}
    assert set(want) == set(defn.point_names())
    assert set(got) == in_live_block
    for name in set(got) - set(want):
        f = defn.field(name)
        expected = decode_field(f, logger.read_registers(f.table, f.address, f.words))
        assert got[name].raw_value == expected, name


def test_every_builtin_profile_makes_a_driver() -> None:
    for name in builtin_profile_names():
        driver = ProfileModbusDriver(ProfileModbusConfig(url="/dev/null", profile=name), LinePool())
        profile = builtin_profile(name)
        assert [p.name for p in driver.points()] == [p.name for p in profile.points]
        assert driver.poll_groups() == profile.poll_intervals()
        driver.lines.close()


def test_profile_errors_name_the_profile_file_row_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = PROBE.replace('type = "float32"\nrange = [0.0, 100.0]', 'type = "real"')
    bad.write_text(text, "utf-8")
    line = text.splitlines().index('type = "real"') + 1
    with pytest.raises(ValidationError) as exc:
        ProfileModbusConfig(url="/dev/ttyUSB0", profile=str(bad))
    assert f"{bad}:{line}: point[0] (name 'rh').type: Input should be" in str(exc.value)
    with pytest.raises(ValidationError, match="max_span 1 is less than the 2 registers"):
        ProfileModbusConfig(url="/dev/ttyUSB0", profile="vaisala_hmt330", max_span=1)
    config = f"""
[[chamber]]
id = "c1"

[[chamber.device]]
id = "hmt-1"
driver = "modbus-profile"
url = "/dev/ttyUSB0"
profile = "{bad}"

[[chamber.device.channel]]
id = "rh"
point = "rh"
"""
    with pytest.raises(ConfigError) as config_error:
        parse_config(config, "lab.toml")
    message = str(config_error.value)
    assert message.startswith("lab.toml:9: chamber[0] (id 'c1').device[0] (id 'hmt-1').profile:")
    assert f"{bad}:{line}: point[0] (name 'rh').type" in message
    with pytest.raises(ConfigError, match="no built-in profile 'hmt999'"):
        parse_config(config.replace(str(bad), "hmt999"), "lab.toml")


async def test_min_request_interval_is_kept_between_requests(
    lines: LinePool, manual_clock: ManualClock, probe_path: Path
) -> None:
    """A workaround for devices that need a pause between requests: measured, not slept."""
    paced = PROBE.replace("gap_fill_allowed = true", "min_request_interval_s = 0.05")
    probe_path.write_text(paced, "utf-8")
    device = profile_device(manual_clock, parse_profile(paced, "paced.toml"))
    async with served(device, "tcp") as url:
        driver = make_driver(lines, url, str(probe_path))
        await call(driver.open)
        assert len(driver.plan()) == 2  # 0-3 and 8-9: the gap 4-7 may not be read
        started = time.monotonic()
        await call(driver.read)
        await call(driver.read)
        elapsed = time.monotonic() - started
    assert elapsed >= 4 * 0.05 - 0.01  # the test register, then four requests, 0.05 s apart


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_another_device_at_the_address_is_a_hint_to_check_it(
    lines: LinePool, sim: SimulatorHost, transport: str
) -> None:
    # The reference logger has no holding registers where an HMT330 keeps its values: it
    # answers exception 02, as another kind of device at a mistyped address does.
    assert sim.rtu is not None and sim.tcp is not None
    url = sim.rtu.path if transport == "rtu" else sim.tcp.url
    driver = ProfileModbusDriver(
        ProfileModbusConfig(url=url, address=2, profile="vaisala_hmt330"), lines
    )
    with pytest.raises(DeviceException) as info:
        await call(driver.open)
    assert info.value.code == 2
    assert "Check the address: device 2 is no Vaisala HMT330" in str(info.value)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_device_that_refuses_a_gap_is_read_around_it_from_then_on(
    lines: LinePool, manual_clock: ManualClock, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The HMT330 profile reads 512-516 in one request (gaps are readable per the datasheet),
    across 514, which no row defines; a transmitter that answers exception 02 for it is read
    in parts instead, for good, and the driver says so once."""
    manual_clock.advance(1800)
    chamber = Chamber(chamber_profile(), seed=5)
    device = ProfileDevice(HMT330, chamber, manual_clock, gaps_readable=False)
    async with served(device, transport) as url:
        driver = make_driver(lines, url, "vaisala_hmt330")
        assert [(r.address, r.count) for r in driver.plan()] == [(0, 32), (512, 5)]
        with caplog.at_level("WARNING", logger="loggerd_drivers.modbus_profile"):
            await call(driver.open)
            first = by_point(await call(driver.read))
            reads, transactions = len(device.reads), driver.master.transactions
            second = by_point(await call(driver.read))
    parts = [(0, 4), (6, 4), (14, 14), (30, 2), (512, 2), (515, 2)]
    assert [(r.address, r.count) for r in driver.plan()] == parts
    # The second read asks for the parts straight away: nothing refused, nothing asked twice.
    assert driver.master.transactions - transactions == len(parts)
    assert [(a, n) for _, a, n in device.reads[reads:]] == parts
    device.sync()
    truth = device.point_values()
    for readings in (first, second):
        for name in HUMIDITY:
            assert readings[name].quality is Quality.GOOD, name
            assert readings[name].value == pytest.approx(truth[name], rel=1e-6), name
        assert readings["fault_status"].value == 1 and readings["online_status"].value == 1
    said = [r.getMessage() for r in caplog.records if r.name == "loggerd_drivers.modbus_profile"]
    assert len(said) == 2, said  # once for each request refused, not at every poll
    assert "registers 512–516, across 514, which no row of the profile defines" in said[1]
    assert "reading 512–513, 515–516 apart from now on" in said[1]
