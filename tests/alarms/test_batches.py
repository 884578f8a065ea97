"""A large batch (a download's records) is judged as its samples one by one would be: its quiet
streams a stream at once, the others sample by sample, to the same transitions and state."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from loggerd.alarms.engine import AlarmEngine
from loggerd.alarms.rules import AlarmKind, AlarmRules, LimitRule, RateRule, StaleRule
from loggerd.core.alarms import Transition
from loggerd.core.samples import Quality, Sample, TimeSource

S = 1_000_000
T0 = 1_780_000_000 * S
CHANNELS = ("t1", "t2", "t3", "t4")


def record_samples(t_s: int, values: dict[str, float], source: TimeSource) -> list[Sample]:
    out = []
    for channel, v in values.items():
        quality = Quality.GOOD
        if math.isnan(v):
            quality = Quality.SENSOR_FAULT if t_s % 2 else Quality.MISSING
        out.append(Sample("c1", channel, T0 + t_s * S, v, v, quality, source, t_s))
    return out


def test_an_excursion_in_a_download_raises_and_clears_at_its_own_times() -> None:
    """Records of a comms outage read back at once: the one channel that went beyond its limit
    is walked, the others are judged as a whole, and the alarm is stamped at the records."""
    rules = AlarmRules(
        limits=tuple(LimitRule("c1", c, high=25, deadband=1, delay_s=2) for c in CHANNELS)
    )
    engine = AlarmEngine(rules)
    batch = []
    for t in range(300):
        values = {c: 20.0 for c in CHANNELS}
        if 100 <= t < 110:
            values["t2"] = 26.0
        batch += record_samples(t, values, TimeSource.LOGGER)
    out = engine.accept(batch)
    assert [(x.key.kind, x.key.subject, x.raised, (x.utc_us - T0) // S) for x in out] == [
        (AlarmKind.HIGH, "t2", True, 102),
        (AlarmKind.HIGH, "t2", False, 110),
    ]
    assert engine.accept(batch) == []  # the download read again: judged once


def test_a_quiet_download_leaves_its_streams_seen() -> None:
    engine = AlarmEngine(AlarmRules(limits=(LimitRule("c1", "t1", high=25),)))
    batch = [s for t in range(100) for s in record_samples(t, {"t1": 20.0}, TimeSource.LOGGER)]
    assert engine.accept(batch) == []
    # A sample as old as the newest of the batch was seen; a newer one is judged.
    assert engine.accept(record_samples(99, {"t1": 30.0}, TimeSource.LOGGER)) == []
    (raised,) = engine.accept(record_samples(100, {"t1": 30.0}, TimeSource.LOGGER))
    assert raised.raised and raised.utc_us == T0 + 100 * S


def _rules(sensor_faults: bool, delay_s: float) -> AlarmRules:
    return AlarmRules(
        limits=(
            LimitRule("c1", "t1", high=25, deadband=1, delay_s=delay_s),
            LimitRule("c1", "t2", low=-5, high=30, delay_s=0),
        ),
        rates=(RateRule("c1", "t3", max_per_min=600, window_s=4),),
        stale=(StaleRule("c1", "t4", max_age_s=30),) if delay_s else (),
        sensor_faults=sensor_faults,
    )


# Mostly in range, as a download is (quiet streams are the case that matters), now and then
# inside a deadband, beyond a limit, missing or a fault.
values = st.sampled_from([20.0] * 20 + [24.5, 26.0, 35.0, -10.0, math.nan, math.inf])


@settings(max_examples=300, deadline=None)
@given(
    sensor_faults=st.booleans(),
    delay_s=st.sampled_from([0.0, 3.0]),
    records=st.lists(
        st.tuples(
            st.integers(0, 400),  # the record's time, s: repeats and replays happen
            st.fixed_dictionaries({c: values for c in CHANNELS}),
            st.sampled_from(TimeSource),
        ),
        min_size=20,  # 80 samples: at least one batch of them is judged as a batch
        max_size=100,
    ),
    cuts=st.lists(st.integers(0, 100), max_size=2),
)
def test_batches_judge_as_the_samples_one_by_one(
    sensor_faults: bool,
    delay_s: float,
    records: list[tuple[int, dict[str, float], TimeSource]],
    cuts: list[int],
) -> None:
    samples = [s for t, v, src in records for s in record_samples(t, v, src)]
    bounds = [0, *sorted(min(c * len(CHANNELS), len(samples)) for c in cuts), len(samples)]
    batches = [samples[a:b] for a, b in itertools.pairwise(bounds)]

    batched, walked = (
        AlarmEngine(_rules(sensor_faults, delay_s)),
        AlarmEngine(_rules(sensor_faults, delay_s)),
    )
    got: list[Transition] = []
    want: list[Transition] = []
    for batch in batches:
        got += batched.accept(batch)
        # One at a time, in the order a batch is judged in (by time, stable).
        for s in sorted(batch, key=lambda s: s.timestamp_us):
            want += walked.accept([s])
    assert got == want
    assert set(batched.active()) == set(walked.active())  # (in the order each first saw them)
    assert batched.status(T0 + 500 * S) == walked.status(T0 + 500 * S)
    assert batched.accept(samples) == walked.accept(samples) == []  # everything seen
