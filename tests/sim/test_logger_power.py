"""A simulated logger through a power loss (PROTOCOL.md §12): memory and sequence numbers go
on, the clock keeps time on its battery or, with the battery flat, starts again at 2000-01-01
with clock_not_set; and the simulator host keeping its loggers that way between runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from loggerd_protocol.definition import reference_logger
from loggerd_sim.chamber import Chamber
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import LoggerSettings, ManualClock, Retained, SimulatedLogger
from loggerd_sim.profile import builtin_profile

DEFN = reference_logger()
CLOCK_NOT_SET = 1 << DEFN.device_status_bits["clock_not_set"]
OFF_S = 3600.0


def logger_on(clock: ManualClock, **settings: object) -> SimulatedLogger:
    chamber = Chamber(builtin_profile(), channel_count=8, seed=1)
    return SimulatedLogger(chamber, clock, LoggerSettings(interval_s=10, **settings))  # type: ignore[arg-type]


def run_then_power_off(**settings: object) -> tuple[SimulatedLogger, Retained]:
    clock = ManualClock(1_780_000_000.0)
    logger = logger_on(clock, clock_offset_s=2.5, **settings)
    clock.advance(45)  # records 1 … 5
    return logger, logger.retained()


def powered_up_later(kept: Retained, battery_ok: bool, **settings: object) -> SimulatedLogger:
    later = ManualClock(kept.off_utc_s + OFF_S)
    logger = logger_on(later, **settings)
    logger.resume(kept, battery_ok=battery_ok)
    later.advance(0.5)
    logger.sync()
    return logger


def test_memory_and_clock_survive_a_power_loss() -> None:
    before, kept = run_then_power_off()
    after = powered_up_later(kept, battery_ok=True)
    assert list(after.memory)[:5] == list(before.memory)
    # Logging resumes with a record at once, numbered on, stamped by the clock that kept time.
    resumed = after.memory[-1]
    assert resumed.sequence == 6
    assert resumed.timestamp == math.floor(kept.off_utc_s + OFF_S + 2.5)
    assert after.clock_reading_s() == math.floor(kept.off_utc_s + OFF_S + 3.0)
    assert not resumed.status & CLOCK_NOT_SET


def test_a_clock_gains_its_drift_while_the_power_is_off() -> None:
    _, kept = run_then_power_off(clock_drift_ppm=500.0)
    after = powered_up_later(kept, battery_ok=True, clock_drift_ppm=500.0)
    gained = OFF_S * 500e-6  # 1.8 s over the hour off
    want = kept.off_utc_s + OFF_S + kept.clock_ahead_s + gained
    assert after.logger_time_s(0.0) == pytest.approx(want, abs=1e-6)


def test_a_flat_battery_restarts_the_clock_at_2000_with_clock_not_set() -> None:
    _, kept = run_then_power_off()
    after = powered_up_later(kept, battery_ok=False)
    resumed = after.memory[-1]
    assert (resumed.sequence, resumed.timestamp) == (6, 946_684_800)
    assert resumed.status & CLOCK_NOT_SET and after.device_status() & CLOCK_NOT_SET
    assert after.clock_reading_s() == 946_684_800
    after.write_setting("clock", 1_780_100_000)  # set again: the flag clears
    assert not after.device_status() & CLOCK_NOT_SET


def test_another_loggers_memory_is_refused() -> None:
    _, kept = run_then_power_off()
    with pytest.raises(ValueError, match="serial number 16000001's, this logger is 42"):
        logger_on(ManualClock(), serial_number=42).resume(kept)


async def test_the_host_keeps_its_loggers_memories_in_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "simulator.json"
    options = SimOptions(addresses=(1, 2), rtu=False, state_file=state)
    clock = ManualClock(1_780_000_000.0)
    first = SimulatorHost(options, clock=clock)
    assert first.restored == {}
    await first.start()
    clock.advance(25)  # records 1 … 3 in each logger
    await first.stop()
    saved = json.loads(state.read_text("utf-8"))
    assert sorted(saved["loggers"]) == ["1", "2"]

    later = ManualClock(1_780_000_100.0)
    second = SimulatorHost(options, clock=later)
    assert not state.exists()  # taken: a run that never stops leaves no stale memory behind
    assert second.restored == {1: 3, 2: 3}
    await second.start()
    second.loggers[2].sync()
    assert [r.sequence for r in second.loggers[2].memory] == [1, 2, 3, 4]
    assert second.loggers[2].memory[-1].timestamp == 1_780_000_100
    await second.stop()
    assert state.exists()


def test_a_state_file_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "simulator.json"
    state.write_text('{"format": 1, "loggers": {"1": {"records": "x"}}}', "utf-8")
    with pytest.raises(ValueError, match=r"not a simulator state file .*remove it"):
        SimulatorHost(SimOptions(rtu=False, tcp=False, state_file=state), clock=ManualClock())
    assert state.exists()  # left for a person to look at
