"""A simulated cold soak stored as loggerd stores a run: the simulator's chamber physics (its
lag, spatial gradient and noise) sampled every POLL_S seconds on 8 temperature points, RH and
frost point, written through the store, and a run opened over it with the matching profile.

    python -m tests.reports.simulated OUT_DIR   # writes run-1.pdf, .html and .json there
"""

from __future__ import annotations

import sys
from pathlib import Path

from loggerd.core.channels import Channel
from loggerd.core.profiles import parse_profile
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.store import Store, sqlite_url
from loggerd_sim.chamber import Chamber
from loggerd_sim.profile import Profile, RampStep, SoakStep

START_US = 1_796_000_000_000_000  # 2026-11-30T00:53:20Z
POLL_S = 5
TEMPERATURES = [f"t{i}" for i in range(1, 9)]
CHANNELS = [
    *(Channel("c1", t, "logger-1", f"temperature_{i}", "temperature", "degC", f"Point {i}")
      for i, t in enumerate(TEMPERATURES, 1)),
    Channel("c1", "rh", "logger-1", "rh", "relative_humidity", "%RH", "Humidity"),
    Channel("c1", "frost_point", "logger-1", "frost_point", "frost_point", "degC", "Frost point"),
]  # fmt: skip
SIM_PROFILE = Profile(
    "cold soak",
    23.0,
    -20.0,
    (SoakStep(10), RampStep(-70.0, 1.0), SoakStep(240), RampStep(23.0, 1.0)),
)
RUN_PROFILE = parse_profile(
    {
        "segments": [
            {"kind": "soak", "duration_s": 600, "temperature_c": {"setpoint": 23, "tolerance": 2}},
            {"kind": "ramp", "duration_s": 5580, "name": "cool down",
             "temperature_c": {"setpoint": -70, "tolerance": 3}},
            {"kind": "soak", "duration_s": 14400, "name": "cold soak",
             "temperature_c": {"setpoint": -70, "tolerance": 2}},
            {"kind": "ramp", "duration_s": 5580, "name": "return",
             "temperature_c": {"setpoint": 23, "tolerance": 3}},
        ]
    }
)  # fmt: skip


def samples(duration_s: int, drop: range = range(0)) -> list[Sample]:
    """The chamber every POLL_S s; the polls in `drop` (indexes) recorded as missing."""
    chamber = Chamber(SIM_PROFILE, channel_count=len(TEMPERATURES), seed=3)
    out = []
    for i in range(duration_s // POLL_S):
        t_us = START_US + i * POLL_S * 1_000_000
        state = chamber.advance_to(i * POLL_S)
        values = [*state.channel_temperatures_c, state.rh_pct, state.frost_point_c]
        for channel, v in zip(CHANNELS, values, strict=True):
            if i in drop:
                out.append(Sample("c1", channel.channel_id, t_us, float("nan"), float("nan"),
                                  Quality.MISSING, TimeSource.HOST))  # fmt: skip
            else:
                out.append(Sample("c1", channel.channel_id, t_us, round(v, 2), round(v, 2),
                                  Quality.GOOD, TimeSource.HOST, uncertainty=0.1))  # fmt: skip
    return out


def simulated_cold_soak(store: Store, drop: range = range(0)) -> int:
    """Store the simulated run (7 h) and open and close a run over it: the run's id."""
    store.open({"c1": "Climatic chamber 1"}, CHANNELS)
    duration_s = int(RUN_PROFILE.duration_s)
    batch = samples(duration_s, drop)
    for k in range(0, len(batch), 20_000):
        store.write(batch[k : k + 20_000])
    run = store.runs.create(
        "c1", "DO-160G 4.5.1 cold operating", "PSU-7 s/n 0031", "j.li", RUN_PROFILE,
        START_US, START_US,
    )  # fmt: skip
    store.runs.close(run.id, START_US + duration_s * 1_000_000)
    return run.id


if __name__ == "__main__":
    from loggerd.reports import report

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    store = Store(sqlite_url(out))
    store.upgrade()
    run_id = simulated_cold_soak(store, drop=range(2000, 2060))
    for fmt in ("pdf", "html", "json"):
        (out / f"run-{run_id}.{fmt}").write_bytes(report(store, run_id, fmt))  # type: ignore[arg-type]
    store.close()
    print(f"{out}: run {run_id}")
