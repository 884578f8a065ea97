"""The alarm engine on sequences worked by hand: each transition at the sample that caused it."""

from __future__ import annotations

import math

from loggerd.alarms.engine import AlarmEngine, AlarmKey, ChannelStatus, DeviceStatus
from loggerd.alarms.rules import (
    AlarmKind,
    AlarmRules,
    DeviationRule,
    LimitRule,
    RateRule,
    StaleRule,
)
from loggerd.core.samples import Quality, Sample, TimeSource

S = 1_000_000
T0 = 1_780_000_000 * S


def sample(
    t_s: float,
    value: float,
    quality: Quality = Quality.GOOD,
    source: TimeSource = TimeSource.HOST,
    channel: str = "t1",
) -> Sample:
    return Sample("c1", channel, T0 + int(t_s * S), value, value, quality, source)


def at(transitions: list, kind: AlarmKind) -> list[tuple[bool, float]]:
    return [(x.raised, (x.utc_us - T0) / S) for x in transitions if x.key.kind is kind]


def test_high_limit_with_delay_and_deadband() -> None:
    """High 25 for 2 s, deadband 1: above from 1 s, raised at 3 s; 24.5 is not yet back
    (25 - 1 = 24), 23.9 is."""
    engine = AlarmEngine(
        AlarmRules(limits=(LimitRule("c1", "t1", high=25, deadband=1, delay_s=2),))
    )
    values = [20, 26, 27, 26.5, 24.5, 23.9]
    out = engine.accept([sample(i, v) for i, v in enumerate(values)])
    assert at(out, AlarmKind.HIGH) == [(True, 3.0), (False, 5.0)]
    (raised, _) = out
    assert (
        raised.value == 26.5 and raised.limit == 25 and "above its high limit 25" in raised.message
    )


def test_a_short_excursion_within_the_delay_raises_nothing() -> None:
    engine = AlarmEngine(AlarmRules(limits=(LimitRule("c1", "t1", low=-72, delay_s=10),)))
    out = engine.accept([sample(i, v) for i, v in enumerate([-70, -73, -73, -70, -73])])
    assert out == []


def test_live_and_memory_streams_make_one_alarm() -> None:
    """A memory-backed logger's excursion is seen live, then again from its memory: one alarm,
    raised at the earlier sample, cleared once neither stream is beyond the limit."""
    engine = AlarmEngine(AlarmRules(limits=(LimitRule("c1", "t1", high=25),)))
    live = engine.accept([sample(10, 26), sample(11, 26), sample(12, 20)])
    assert at(live, AlarmKind.HIGH) == [(True, 10.0), (False, 12.0)]
    memory = [sample(t, v, source=TimeSource.LOGGER) for t, v in ((9, 24), (10, 26), (12, 20))]
    out = engine.accept(memory[:2])
    assert at(out, AlarmKind.HIGH) == [(True, 10.0)]  # the live stream had cleared
    assert at(engine.accept(memory[2:]), AlarmKind.HIGH) == [(False, 12.0)]


def test_a_replayed_sample_is_judged_once() -> None:
    engine = AlarmEngine(AlarmRules(limits=(LimitRule("c1", "t1", high=25),)))
    batch = [sample(1, 26), sample(2, 20)]
    assert len(engine.accept(batch)) == 2
    assert engine.accept(batch) == []  # a spool drained again after a crash


def test_sensor_fault_raised_and_cleared_by_the_samples() -> None:
    engine = AlarmEngine(AlarmRules())
    out = engine.accept(
        [sample(1, 20), sample(2, math.nan, Quality.SENSOR_FAULT),
         sample(3, math.nan, Quality.MISSING), sample(4, 20.1)]
    )  # fmt: skip
    assert at(out, AlarmKind.SENSOR_FAULT) == [(True, 2.0), (False, 4.0)]


def test_rate_of_change_over_its_window() -> None:
    """0.5 K/s is 30 K/min against a limit of 10 K/min: raised once half the 60 s window is
    spanned (30 s), cleared when the chamber holds still for a window."""
    engine = AlarmEngine(AlarmRules(rates=(RateRule("c1", "t1", max_per_min=10, window_s=60),)))
    ramp = [sample(t, 20 - 0.5 * t) for t in range(0, 40)]
    hold = [sample(t, 0.5) for t in range(40, 110)]
    out = engine.accept(ramp + hold)
    (raised, cleared) = at(out, AlarmKind.RATE)
    assert raised == (True, 30.0)
    assert cleared[0] is False and 40 < cleared[1] < 100


def test_deviation_from_the_open_runs_setpoint() -> None:
    def setpoints(chamber_id: str, quantity: str, utc_us: int) -> tuple[float, float] | None:
        return (-70.0, 2.0) if utc_us >= T0 + 100 * S else None  # the run opens at 100 s

    rule = DeviationRule("c1", "t1", "temperature_c", delay_s=5)
    engine = AlarmEngine(AlarmRules(deviations=(rule,)), setpoints)
    out = engine.accept(
        [sample(50, 20), *(sample(t, -67.5) for t in range(100, 107)), sample(107, -69)]
    )
    assert at(out, AlarmKind.DEVIATION) == [(True, 105.0), (False, 107.0)]
    assert "+2.5 off the run's setpoint -70" in out[0].message


def test_status_alarms() -> None:
    rules = AlarmRules(stale=(StaleRule("c1", "t1", max_age_s=30),), memory_full_fraction=0.8)
    engine = AlarmEngine(rules)
    engine.accept([sample(0, 20)])
    out = engine.status(
        T0 + 31 * S,
        [DeviceStatus("c1", "logger-1", offline=True, unread_fraction=0.85)],
        [ChannelStatus("c1", "t1", calibration_past_due=True)],
    )
    assert {x.key.kind for x in out if x.raised} == {
        AlarmKind.COMMUNICATION, AlarmKind.MEMORY, AlarmKind.CALIBRATION, AlarmKind.STALE,
    }  # fmt: skip
    assert AlarmKey(AlarmKind.STALE, "c1", "t1") in engine.active()
    # The next value clears the stale alarm at its own time; the device answering clears its.
    assert at(engine.accept([sample(40, 20)]), AlarmKind.STALE) == [(False, 40.0)]
    out = engine.status(T0 + 41 * S, [DeviceStatus("c1", "logger-1", False, 0.5)], [])
    assert {(x.key.kind, x.raised) for x in out} == {
        (AlarmKind.COMMUNICATION, False), (AlarmKind.MEMORY, False),
    }  # fmt: skip
    assert engine.status(T0 + 42 * S, [DeviceStatus("c1", "logger-1", False, 0.5)], []) == []


def test_alarms_active_before_a_restart_are_neither_raised_again_nor_forgotten() -> None:
    key = AlarmKey(AlarmKind.HIGH, "c1", "t1")
    engine = AlarmEngine(AlarmRules(limits=(LimitRule("c1", "t1", high=25),)))
    engine.restore([key])
    assert engine.accept([sample(1, 26)]) == []  # still active: no second raise
    assert at(engine.accept([sample(2, 20)]), AlarmKind.HIGH) == [(False, 2.0)]
    assert engine.active() == []
