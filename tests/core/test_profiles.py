"""Test profiles: read from what people write, with errors that name the segment and field."""

from __future__ import annotations

from typing import Any

import pytest

from loggerd.core.errors import ConfigError
from loggerd.core.profiles import parse_profile


def seg(kind: str, duration_s: float, **targets: Any) -> dict[str, Any]:
    return {"kind": kind, "duration_s": duration_s, **targets}


def temp(setpoint: float, tolerance: float = 2.0) -> dict[str, float]:
    return {"setpoint": setpoint, "tolerance": tolerance}


PROFILE = parse_profile(
    {
        "segments": [
            seg("soak", 600, temperature_c=temp(23), rh_pct=temp(50, 5)),
            seg("ramp", 5400, temperature_c=temp(-70, 3)),
            seg("soak", 7200, temperature_c=temp(-70), frost_point_c=temp(-75, 1)),
        ]
    }
)


def test_setpoints_along_the_profile() -> None:
    assert PROFILE.duration_s == 13200
    assert PROFILE.starts_s() == [0, 600, 6000]
    assert PROFILE.setpoint_at("temperature_c", 300) == 23
    assert PROFILE.setpoint_at("temperature_c", 600) == 23  # the ramp starts from 23
    assert PROFILE.setpoint_at("temperature_c", 600 + 2700) == pytest.approx(-23.5)  # halfway
    assert PROFILE.setpoint_at("temperature_c", 6000) == -70
    assert PROFILE.setpoint_at("rh_pct", 300) == 50
    assert PROFILE.setpoint_at("rh_pct", 3000) is None  # the ramp sets no humidity
    assert PROFILE.setpoint_at("frost_point_c", 7000) == -75
    assert PROFILE.setpoint_at("temperature_c", 13200) is None  # after the end
    assert PROFILE.target_at("temperature_c", 3300) == (pytest.approx(-23.5), 3.0)
    assert PROFILE.target_at("frost_point_c", 7000) == (-75, 1.0)
    assert PROFILE.target_at("rh_pct", 3000) is None


def test_a_ramp_may_say_where_it_starts() -> None:
    ramp_first = parse_profile(
        {"segments": [seg("ramp", 100, temperature_c={**temp(-70), "start": 25})]}
    )
    assert ramp_first.setpoint_at("temperature_c", 50) == pytest.approx(-22.5)
    assert parse_profile(ramp_first.to_dict()) == ramp_first


def test_a_profile_survives_its_json_form() -> None:
    assert parse_profile(PROFILE.to_dict()) == PROFILE


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([], "needs a list of segments"),
        ([seg("hold", 60, temperature_c=temp(0))], "segment 1: kind must be 'ramp' or 'soak'"),
        ([seg("soak", 0, temperature_c=temp(0))], "segment 1: duration_s must be above 0"),
        ([seg("soak", 60)], "segment 1: sets no target"),
        ([seg("soak", 60, temperature_c=temp(0, -1))], "tolerance is ±"),
        ([seg("soak", 60, rh_pct=temp(120))], "120.0 %RH is not within 0..100"),
        ([seg("soak", 60, temp_c=temp(0))], "unknown field 'temp_c'"),
        ([seg("soak", 60, rh_pct=temp(50), ppmv=temp(10))], "humidity is set twice"),
        ([seg("ramp", 60, temperature_c=temp(-70))], "segment 1 ramps temperature_c with no"),
        ([seg("soak", 60, temperature_c={**temp(0), "start": 5})], "start is for a ramp"),
        (
            [seg("soak", 60, temperature_c=temp(0)), seg("soak", "1h", temperature_c=temp(0))],
            "segment 2: duration_s: must be a finite number, got '1h'",
        ),
    ],
)
def test_errors_name_the_segment_and_the_field(segments: list[Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_profile({"segments": segments}, "cold-soak.toml")
