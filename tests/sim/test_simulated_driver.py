"""The in-process `simulated` driver reports what its simulated logger measures."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from loggerd.core.errors import DeviceException, OutOfRangeError
from loggerd.core.samples import Quality
from loggerd.drivers.base import MemoryDriver, MemoryRange
from loggerd.drivers.registry import load_driver
from loggerd.link.lines import LinePool
from loggerd_sim.driver import SimulatedLoggerConfig, SimulatedLoggerDriver
from loggerd_sim.logger import ManualClock


def test_simulated_driver_reads_the_chamber() -> None:
    cls = load_driver("simulated")
    driver = cls(cls.config_model.model_validate({"channel_count": 4, "seed": 3}), LinePool())
    info = driver.open()
    readings = {r.point: r for r in driver.read()}
    driver.close()
    assert info.channel_count == 4 and "simulated" in info.model
    assert {p.name for p in driver.points()} == set(readings)
    for i in range(1, 5):
        r = readings[f"temperature_{i}"]
        assert r.quality is Quality.GOOD and 20 < r.value < 30  # the profile starts at +25 °C
    assert readings["temperature_5"].quality is Quality.NOT_FITTED
    assert math.isnan(readings["temperature_5"].value)
    assert readings["frost_point"].value < readings["temperature_1"].value


def make(clock: ManualClock, **settings: object) -> SimulatedLoggerDriver:
    config = SimulatedLoggerConfig.model_validate({"seed": 3, **settings})
    return SimulatedLoggerDriver(config, LinePool(), clock=clock)


def test_config_reaches_the_simulated_logger(manual_clock: ManualClock) -> None:
    driver = make(
        manual_clock, interval_s=30, capacity=4, clock_offset_s=-2.5, clock_drift_ppm=1000
    )
    assert isinstance(driver, MemoryDriver)
    manual_clock.advance(200)  # records at 0, 30, …, 180 s: 7 taken, the last 4 held
    start = int(manual_clock.start_utc_s)
    assert driver.memory_range() == MemoryRange(oldest=4, newest=7, capacity=4)
    assert driver.read_clock() == start + 197  # 200 × 1.001 − 2.5 = 197.7 s
    records = driver.read_records(4, 10)
    assert [r.sequence for r in records] == [4, 5, 6, 7]
    assert records[0].logger_time_us == (start + 87) * 1_000_000  # 90 × 1.001 − 2.5 s


def test_records_are_the_loggers_memory(manual_clock: ManualClock) -> None:
    driver = make(manual_clock)
    manual_clock.advance(125)  # records at 0, 10, …, 120 s
    held = driver.memory_range()
    records = driver.read_records(held.oldest, 100)
    memory = list(driver.logger.memory)
    assert held == MemoryRange(oldest=1, newest=13, capacity=100_000)
    assert [r.sequence for r in records] == list(range(1, 14))
    for record, truth in zip(records, memory, strict=True):
        assert record.logger_time_us == truth.timestamp * 1_000_000
        for reading in record.readings:
            want = truth.values[reading.point]
            if math.isnan(want):  # channels 9 … 16 are not fitted
                assert reading.point.startswith("temperature_")
                assert int(reading.point.split("_")[1]) > 8
                assert reading.quality is Quality.NOT_FITTED and math.isnan(reading.value)
            else:
                assert reading.quality is Quality.GOOD, reading
                assert reading.value == reading.raw_value == want
    assert [r.sequence for r in driver.read_records(11, 2)] == [11, 12]
    assert [r.sequence for r in driver.read_records(12, 5)] == [12, 13]


def test_record_qualities_follow_the_live_rules(
    manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = make(manual_clock)
    logger = driver.logger
    measured = logger.point_values
    monkeypatch.setattr(logger, "point_values", lambda: measured() | {"temperature_5": 181.25})
    logger.settings.sensor_faults["temperature_3"] = "open"
    manual_clock.advance(5)
    (record,) = driver.read_records(1, 1)
    recorded = {r.point: r for r in record.readings}
    live = {r.point: r for r in driver.read()}
    for readings in (recorded, live):
        assert readings["temperature_3"].quality is Quality.SENSOR_FAULT
        assert math.isnan(readings["temperature_3"].value)
        hot = readings["temperature_5"]
        assert hot.quality is Quality.OUT_OF_RANGE
        assert math.isnan(hot.value) and hot.raw_value == 181.25
        assert readings["temperature_2"].quality is Quality.GOOD


def test_records_no_longer_held_are_a_device_exception(manual_clock: ManualClock) -> None:
    driver = make(manual_clock, capacity=5)
    manual_clock.advance(75)  # records 1 … 8 taken, 4 … 8 held
    for first in (3, 9):
        with pytest.raises(DeviceException, match="not held") as info:
            driver.read_records(first, 2)
        assert info.value.code == 3
    with pytest.raises(ValueError, match="count"):
        driver.read_records(4, 0)


def test_clock_read_and_set(manual_clock: ManualClock) -> None:
    driver = make(manual_clock, clock_offset_s=37.25)
    manual_clock.advance(0.8)  # 38.05 s on the logger's clock
    assert driver.read_clock() == int(manual_clock.start_utc_s) + 38
    manual_clock.advance(12.75)
    driver.set_clock(1_800_000_000)
    assert driver.read_clock() == 1_800_000_000
    manual_clock.advance(61.5)
    assert driver.read_clock() == 1_800_000_061
    assert (
        not driver.logger.device_status()
        & 1 << driver.logger.defn.device_status_bits["clock_not_set"]
    )
    with pytest.raises(OutOfRangeError, match="Give a time in that range"):
        driver.set_clock(4_200_000_000)  # after 2100: refused, as the other drivers refuse it
    assert driver.read_clock() == 1_800_000_061


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match="capacity"):
        SimulatedLoggerConfig.model_validate({"capacity": 0})
    with pytest.raises(ValidationError, match="clock_drift_ppm"):
        SimulatedLoggerConfig.model_validate({"clock_drift_ppm": 1e6})


def test_a_bad_chamber_profile_stops_config_check_at_its_line(tmp_path: Path) -> None:
    """The simulated driver's profile is found beside the configuration and checked with it."""
    from loggerd.core.errors import ConfigError
    from loggerd.service.config import load_config

    (tmp_path / "programmes").mkdir()
    (tmp_path / "programmes" / "soak.toml").write_text(
        'name = "soak"\nstart_temperature_c = 20\nstart_frost_point_c = 5\n'
        '[[step]]\nkind = "soak"\nduration_min = -1\n'
    )
    config = tmp_path / "lab.toml"
    config.write_text(
        '[[chamber]]\nid = "c"\n[[chamber.device]]\nid = "sim"\ndriver = "simulated"\n'
        'profile = "programmes/soak.toml"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert str(info.value) == (
        f"{config}:6: chamber[0] (id 'c').device[0] (id 'sim').profile: "
        f"{tmp_path / 'programmes' / 'soak.toml'}:6: step[0].duration_min: must be a finite "
        "number >= 0 min, got -1.0"
    )
