"""The profile-built simulated device, register by register (no transport: the servers are the
same as the logger's and are exercised by the driver tests)."""

from __future__ import annotations

import math

import pytest

from loggerd.processing import humidity
from loggerd_protocol.profile_loader import builtin_profile, parse_profile
from loggerd_protocol.profile_model import decode_point
from loggerd_protocol.registers import ORDERS, Order, decode_registers
from loggerd_sim import profile_device as pd
from loggerd_sim.chamber import Chamber
from loggerd_sim.logger import ManualClock, RegisterError
from loggerd_sim.profile import builtin_profile as chamber_profile
from loggerd_sim.profile_device import ProfileDevice

HMT330 = builtin_profile("vaisala_hmt330")


def device(
    clock: ManualClock, word_order: Order | None = None, text: str | None = None
) -> ProfileDevice:
    profile = parse_profile(text, "test.toml") if text is not None else HMT330
    return ProfileDevice(profile, Chamber(chamber_profile(), seed=3), clock, word_order=word_order)


def read_point(dev: ProfileDevice, name: str) -> float:
    p = dev.profile.point(name)
    words = dev.read_registers(p.function, p.address, p.words)
    return decode_point(p, words).value


def test_values_come_from_the_chamber_in_the_profiles_order(manual_clock: ManualClock) -> None:
    manual_clock.advance(1800)  # into the cold soak: below 0 °C, a frost point
    dev = device(manual_clock)
    dev.sync()
    truth = dev.point_values()
    state = dev.state
    assert truth["temperature"] == state.air_temperature_c < 0
    assert truth["rh"] == state.rh_pct and truth["frost_point"] == state.frost_point_c
    for name in ("rh", "temperature", "frost_point", "dew_point", "ppmv", "mixing_ratio"):
        assert read_point(dev, name) == pytest.approx(truth[name], rel=1e-6), name
    # CDAB: the least significant word of RH comes first.
    low, high = dev.read_registers("holding", 0, 2)
    assert decode_registers([high, low], "float32", "ABCD") == pytest.approx(truth["rh"], rel=1e-6)
    # The humidity quantities agree with loggerd.humidity at the transmitter's 1013.25 hPa.
    t, rh = state.air_temperature_c, state.rh_pct
    assert truth["dew_point"] == pytest.approx(humidity.dew_point_c(t, rh))
    e_pa = rh / 100 * humidity.saturation_vapour_pressure_pa(t)
    # (loggerd.humidity may apply the enhancement factor, about 1.005 here: hence 2 %)
    assert truth["ppmv"] == pytest.approx(1e6 * e_pa / (101325 - e_pa), rel=2e-2)
    assert truth["ppmv"] > 0 and truth["mixing_ratio"] > 0
    assert math.isnan(truth["enthalpy"])  # not simulated: the transmitter says "unavailable"


@pytest.mark.parametrize("order", ORDERS)
def test_a_device_can_use_another_word_order(manual_clock: ManualClock, order: Order) -> None:
    dev = device(manual_clock, word_order=order)
    words = dev.read_registers("holding", 2, 2)
    assert decode_registers(words, "float32", order) == pytest.approx(
        dev.point_values()["temperature"], rel=1e-6
    )


def test_unavailable_and_fault(manual_clock: ManualClock) -> None:
    dev = device(manual_clock)
    dev.make_unavailable(["ppmv"])
    assert dev.read_registers("holding", 20, 2) == (0x0000, 0x7FC0)  # quiet NaN, CDAB
    assert dev.read_registers("holding", 512, 2) == (1, 1)  # no errors, online
    dev.device_fault = True
    assert dev.read_registers("holding", 512, 2) == (0, 0)
    with pytest.raises(KeyError):
        dev.make_unavailable(["nonexistent"])


def test_addresses_outside_the_blocks_and_split_values_are_exception_02(
    manual_clock: ManualClock,
) -> None:
    dev = device(manual_clock)
    assert dev.read_registers("holding", 4, 2) == (0, 0)  # undefined, but inside a block
    for address, count in [(100, 2), (60, 10), (1, 2), (3, 1), (510, 4)]:
        with pytest.raises(RegisterError) as exc:
            dev.read_registers("holding", address, count)
        assert exc.value.code == 2, (address, count)
    with pytest.raises(RegisterError) as exc:
        dev.read_registers("holding", 0, 126)
    assert exc.value.code == 3
    with pytest.raises(RegisterError) as exc:
        dev.write_registers(768, (0, 0))
    assert exc.value.code == 2
    with pytest.raises(RegisterError) as exc:
        dev.read_registers("input", 0, 2)  # this profile maps holding registers only
    assert exc.value.code == 2


GAPPY = """
[device]
manufacturer = "Acme"
model = "G-1"
datasheet = "G-1 manual"

[workarounds]
gap_fill_allowed = false

[[point]]
name = "a"
quantity = "temperature"
unit = "degC"
address = 10
type = "int16"
scale = 0.1
sentinel = [-32768]
source = "Table 1"

[[point]]
name = "b"
quantity = "relative_humidity"
unit = "%RH"
address = 12
type = "uint16"
scale = 0.01
sentinel = [0xFFFF]
source = "Table 1"
"""


def test_undefined_registers_are_exception_02_when_gaps_are_not_readable(
    manual_clock: ManualClock,
) -> None:
    dev = device(manual_clock, text=GAPPY)
    with pytest.raises(RegisterError) as exc:
        dev.read_registers("holding", 10, 3)
    assert exc.value.code == 2
    a, b = dev.read_registers("holding", 10, 1)[0], dev.read_registers("holding", 12, 1)[0]
    assert a != 0 and b != 0
    dev.make_unavailable(["a", "b"])
    assert dev.read_registers("holding", 10, 1) == (0x8000,)
    assert dev.read_registers("holding", 12, 1) == (0xFFFF,)
    dev.unavailable.clear()
    dev.overrides["b"] = -5.0  # does not fit a uint16: sent as the type's limit
    assert dev.read_registers("holding", 12, 1) == (0,)


def test_the_fallback_formulas_agree_with_loggerd_humidity() -> None:
    """Used where loggerd.humidity lacks a function: within its enhancement factor (about 1 %)."""
    for t, rh in [(-40.0, 30.0), (0.0, 50.0), (23.0, 45.0), (60.0, 90.0)]:
        for fallback, name in [
            (pd._ppmv, "ppmv"),
            (pd._mixing_ratio, "mixing_ratio_g_per_kg"),
            (pd._absolute_humidity, "absolute_humidity_g_m3"),
        ]:
            reference = getattr(humidity, name, None)
            if reference is not None:
                assert fallback(t, rh, 1013.25) == pytest.approx(
                    reference(t, rh, 1013.25), rel=1e-2
                )
