"""One condition, one quality word: the RL-1600 read live and from its memory, over Modbus RTU,
Modbus TCP, its ASCII port and in-process, against one simulated logger."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loggerd.core.samples import Quality, Reading
from loggerd.drivers.base import MemoryDriver
from loggerd.link.lines import LinePool
from loggerd_drivers.reference_ascii import ReferenceAsciiConfig, ReferenceAsciiDriver
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_drivers.rl1600 import DEFN, OUT_OF_RANGE, _by_the_rules, readings
from loggerd_sim.driver import SimulatedLoggerConfig, SimulatedLoggerDriver
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock, SimulatedLogger

from ..simulators import simulator

FITTED = 4
HOT_C = 181.25  # above the channels' range, −90 … +180 °C (PROTOCOL.md §10)
INTERFACES = ["modbus-rtu", "modbus-tcp", "ascii", "in-process"]
# What each point of the logger below reads as, however it is read (docs/qualities.md).
EXPECTED = {
    "temperature_1": Quality.SENSOR_FAULT,  # open circuit
    "temperature_2": Quality.GOOD,
    "temperature_3": Quality.OUT_OF_RANGE,
    "temperature_4": Quality.GOOD,
    **{f"temperature_{i}": Quality.NOT_FITTED for i in range(FITTED + 1, 17)},
    "rh": Quality.GOOD,
    "frost_point": Quality.MISSING,  # computed from channel 1, which has no value
}


def spoil(logger: SimulatedLogger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Channel 1 open, channel 3 above its range (the logger sets its status bit, §7.1)."""
    logger.settings.sensor_faults["temperature_1"] = "open"
    measured = logger.point_values
    monkeypatch.setattr(logger, "point_values", lambda: measured() | {"temperature_3": HOT_C})
    assert logger.channel_status("temperature_3") & OUT_OF_RANGE


@pytest.fixture
async def host(manual_clock: ManualClock) -> AsyncIterator[SimulatorHost]:
    options = SimOptions(channel_count=FITTED, baudrate=115200, ascii=True)
    async with simulator(options, manual_clock) as host:
        yield host


def make(interface: str, host: SimulatorHost, lines: LinePool, clock: ManualClock) -> Any:
    assert host.rtu is not None and host.tcp is not None
    if interface == "ascii":
        return ReferenceAsciiDriver(ReferenceAsciiConfig(url=host.ascii[1].url), lines)
    if interface == "in-process":
        config = SimulatedLoggerConfig(channel_count=FITTED)
        return SimulatedLoggerDriver(config, lines, clock=clock)
    url = host.rtu.url if interface == "modbus-rtu" else host.tcp.url
    return ReferenceModbusDriver(ReferenceModbusConfig(url=url, baudrate=115200), lines)


@pytest.mark.parametrize("interface", INTERFACES)
async def test_one_condition_reads_as_one_quality_live_and_from_memory(
    host: SimulatorHost,
    manual_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    interface: str,
) -> None:
    lines = LinePool()
    driver: MemoryDriver = make(interface, host, lines, manual_clock)
    logger = driver.logger if isinstance(driver, SimulatedLoggerDriver) else host.loggers[1]
    spoil(logger, monkeypatch)
    try:
        await asyncio.to_thread(driver.open)
        live = await asyncio.to_thread(driver.read)
        (record,) = await asyncio.to_thread(driver.read_records, 1, 1)
    finally:
        driver.close()
        lines.close()
    for how, got in (("live", live), ("from memory", record.readings)):
        by_point = {r.point: r for r in got}
        assert {p: r.quality for p, r in by_point.items()} == EXPECTED, how
        hot = by_point["temperature_3"]
        assert math.isnan(hot.value) and hot.raw_value == HOT_C, how  # what came is kept
        assert all(math.isnan(r.value) for r in got if r.quality is not Quality.GOOD), how


def rules(values: dict[str, float], **kw: Any) -> dict[str, Quality]:
    return {r.point: r.quality for r in readings(values, **kw)}


def test_the_rules_without_status_words() -> None:
    """What a VAL or REC line, or a memory record, says without a status word (§7.1, §13)."""
    base = {f"temperature_{i}": math.nan for i in range(1, 17)}
    good = base | {"temperature_1": -70.25, "rh": 12.5, "frost_point": -79.18}
    assert rules(good, channel_count=1) == {
        "temperature_1": Quality.GOOD,
        **{f"temperature_{i}": Quality.NOT_FITTED for i in range(2, 17)},
        "rh": Quality.GOOD,
        "frost_point": Quality.GOOD,
    }
    # Channel 2 fitted and NaN: open or short, a record cannot tell which.
    assert rules(good, channel_count=2)["temperature_2"] is Quality.SENSOR_FAULT
    assert rules(good | {"temperature_1": -90.01})["temperature_1"] is Quality.OUT_OF_RANGE
    assert rules(good | {"rh": 100.01})["rh"] is Quality.OUT_OF_RANGE
    # A frost point computed from an RH above its range is out of range too (§13 step 6).
    assert rules(good | {"rh": 100.4, "frost_point": 20.5})["frost_point"] is Quality.OUT_OF_RANGE
    # No frost point: for want of an input it is missing; with both inputs, not computable.
    assert rules(good | {"rh": math.nan, "frost_point": math.nan})["frost_point"] is (
        Quality.MISSING
    )
    assert rules(good | {"rh": 0.0, "frost_point": math.nan})["frost_point"] is (
        Quality.OUT_OF_RANGE
    )


def test_status_words_say_what_values_cannot() -> None:
    values = {f"temperature_{i}": 21.5 for i in range(1, 17)} | {"rh": 40.0, "frost_point": 7.6}
    values["temperature_2"] = math.nan
    got = readings(values, status={"temperature_2": 0x0002, "temperature_5": 0x0004})
    by_point: dict[str, Reading] = {r.point: r for r in got}
    assert by_point["temperature_2"].quality is Quality.SENSOR_FAULT  # short circuit
    assert by_point["temperature_5"].quality is Quality.OUT_OF_RANGE
    assert by_point["temperature_5"].raw_value == 21.5 and math.isnan(
        by_point["temperature_5"].value
    )
    assert by_point["temperature_6"].quality is Quality.GOOD


_NAMES = [p.name for p in DEFN.points]
# Values that land in, at and out of the points' ranges, and NaN (nothing came).
_VALUE = st.one_of(
    st.sampled_from([math.nan, -90.0, 180.0, 0.0, 100.0, -100.0, 200.0, -80.0, HOT_C]),
    st.floats(-200.0, 250.0),
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.fixed_dictionaries({n: _VALUE for n in _NAMES}),
    status=st.none()
    | st.fixed_dictionaries({n: st.sampled_from([0, 0, 0, 1, 2, 4, 8, 15]) for n in _NAMES}),
    channel_count=st.none() | st.integers(1, 16),
)
def test_the_shortcut_for_good_values_gives_what_the_rules_give(
    values: dict[str, float], status: dict[str, int] | None, channel_count: int | None
) -> None:
    """readings() decides an in-range value with no status bit without walking the rules: it
    must give what the rules give for every point, whatever the values and status words."""
    expected = [_by_the_rules(p, values, status, channel_count) for p in DEFN.points]
    got = readings(values, status, channel_count)
    assert [(r.point, r.quality) for r in got] == [(r.point, r.quality) for r in expected]
    for r, e in zip(got, expected, strict=True):
        assert r.value == e.value or (math.isnan(r.value) and math.isnan(e.value))
        assert (r.raw_value == e.raw_value) or (math.isnan(r.raw_value) and math.isnan(e.raw_value))
