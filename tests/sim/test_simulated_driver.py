"""The in-process `simulated` driver reports what its simulated logger measures."""

from __future__ import annotations

import math

from loggerd.plugins import load_driver
from loggerd.samples import Quality


def test_simulated_driver_reads_the_chamber() -> None:
    cls = load_driver("simulated")
    driver = cls(cls.config_model.model_validate({"channel_count": 4, "seed": 3}))
    info = driver.open()
    readings = {r.point: r for r in driver.read()}
    driver.close()
    assert info.channel_count == 4 and "simulated" in info.model
    assert {p.name for p in driver.points()} == set(readings)
    for i in range(1, 5):
        r = readings[f"temperature_{i}"]
        assert r.quality is Quality.GOOD and 20 < r.value < 30  # the profile starts at +25 °C
    assert readings["temperature_5"].quality is Quality.SENSOR_FAULT
    assert math.isnan(readings["temperature_5"].value)
    assert readings["frost_point"].value < readings["temperature_1"].value
