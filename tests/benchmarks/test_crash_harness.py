"""The crash harness (`python -m benchmarks.crash`), short: loggerd SIGKILLed three times
against the simulator loses, doubles and alters no logger record, on SQLite and on PostgreSQL
(restarted half way).

The harness is the test: it compares the store with the loggers' memories record by record.
These runs check that its verdict is clean and that the kills really happened where aimed.
PostgreSQL must be up (it runs on every developer machine and in CI): without it the
PostgreSQL run fails, it never skips.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from benchmarks.crash.oracle import (
    CHANNELS,
    SimLog,
    check_gaps,
    check_rollups,
    compare_samples,
    wire_values,
)
from benchmarks.crash.store import StoreTarget
from loggerd.core.channels import Channel
from loggerd.core.events import Gap
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.schema import gaps
from loggerd.storage.store import Store, sqlite_url
from loggerd_protocol.values import Record

ROOT = Path(__file__).resolve().parents[2]
KILLS = 3
# Three kills with their downtimes take about 15 s; two loggers at 10 Hz record ~150 records
# each in that time. Far fewer means the loggers or loggerd did not run as the harness says.
MIN_RECORDS = 200


def run_harness(*args: str) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.crash", "--kills", str(KILLS), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"no report on stdout (exit {result.returncode}):\n{result.stderr}"
    return result.returncode, json.loads(lines[-1]), result.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_three_kills_lose_double_and_alter_no_record(store: str) -> None:
    code, report, stderr = run_harness("--store", store)
    context = f"{json.dumps(report, indent=1)}\n--- harness stderr:\n{stderr}"
    assert "error" not in report, context
    assert report["kills"] == KILLS, context
    # Each kill was a SIGKILL of a live loggerd; the final stop (SIGTERM) was clean.
    assert report["exit_codes"] == {"-9": KILLS, "0": 1}, context
    # The backfill-aimed kill (after a 3-6 s downtime) came while a download was under way.
    assert report["kills_while_downloading"] >= 1, context
    assert report["records_expected"] >= MIN_RECORDS, context
    assert report["records_stored"] == report["records_expected"], context
    # Ten channels per record (eight temperatures, RH, frost point), every one compared.
    assert report["samples_expected"] == 10 * report["records_expected"], context
    assert report["lost"] == 0, context
    assert report["duplicates"] == 0, context
    assert report["mismatched"] == 0, context
    assert report["integrity_ok"] is True, context
    assert report["gaps"] == 0, context
    if store == "postgresql":
        assert report["postgres_restarts"] == 1, context
        assert report["postgres_restart_details"][0]["recovered"] is True, context
    assert code == 0, context


def test_the_comparison_sees_a_lost_an_altered_and_an_extra_sample(tmp_path: Path) -> None:
    """The verdict above is worth something only if the comparison can say no: a store made
    from five records, then damaged in five ways, is caught in each."""
    t0_s = 1_790_000_000
    offset_us = 123_456_789  # logger minus host: the logger's time is ts_us + clock_offset_us
    truth = {
        1: [
            Record(
                sequence=n,
                timestamp=t0_s + n,
                status=0,
                values={
                    point: (math.nan if point == "frost_point" else 20.004 + n)
                    for _, point in CHANNELS
                },
            )
            for n in range(1, 6)
        ]
    }
    store = Store(sqlite_url(tmp_path))
    try:
        store.open(
            {"chamber-1": None},
            [Channel("chamber-1", c, "logger-1", p, "temperature", "degC") for c, p in CHANNELS],
        )
        samples = []
        for record in truth[1]:
            wire = wire_values(record)
            for channel_id, point in CHANNELS:
                v = wire[point]
                samples.append(
                    Sample(
                        "chamber-1",
                        channel_id,
                        record.timestamp * 1_000_000 - offset_us,
                        v,
                        v,
                        Quality.SENSOR_FAULT if math.isnan(v) else Quality.GOOD,
                        TimeSource.LOGGER,
                        sequence=record.sequence,
                        clock_offset_us=offset_us,
                    )
                )
        store.write(samples)
    finally:
        store.close()
    target = StoreTarget("sqlite", tmp_path)

    def verdict() -> tuple[Any, dict[str, int]]:
        engine = target.read_only_engine()
        try:
            return (
                compare_samples(engine, truth, {}, lambda a, s: {}),
                check_rollups(engine),
            )
        finally:
            engine.dispose()

    clean, rollups = verdict()
    assert (clean.lost, clean.mismatched, clean.duplicates) == (0, 0, 0), clean.examples
    assert clean.samples_stored == clean.samples_expected == 5 * len(CHANNELS)
    assert not any(rollups.values())
    # The wire carries int16 x 0.01: 20.004 + n arrives as 20.0 + n, not as the float taken.
    assert wire_values(truth[1][0])["temperature_1"] == 21.0

    db = sqlite3.connect(tmp_path / "loggerd.db")
    with db:
        key = dict(db.execute("SELECT channel_id, key FROM channels"))
        db.execute("DELETE FROM samples WHERE channel_key = ? AND sequence = 2", (key["t1"],))
        db.execute(
            "UPDATE samples SET raw_value = raw_value + 0.01 "
            "WHERE channel_key = ? AND sequence = 3",
            (key["t2"],),
        )
        db.execute(
            "UPDATE samples SET clock_offset_us = clock_offset_us + 1 "
            "WHERE channel_key = ? AND sequence = 4",
            (key["rh"],),
        )
        db.execute(
            "UPDATE samples SET raw_value = 0 WHERE channel_key = ? AND sequence = 1",
            (key["frost_point"],),
        )
        db.execute(
            "INSERT INTO samples (channel_key, ts_us, value, raw_value, quality, time_source, "
            "sequence, clock_offset_us) VALUES (?, 1, 1.0, 1.0, 'good', 'logger', 99, 0)",
            (key["t3"],),
        )
    db.close()
    damaged, rollups = verdict()
    assert damaged.lost == 1 and damaged.lost_records == 1, damaged.examples
    assert (damaged.mismatched_values, damaged.mismatched_times) == (2, 1), damaged.examples
    assert damaged.duplicates == 1, damaged.examples
    # The deleted and inserted samples are not in the rollups the store kept.
    assert rollups["1m"] >= 1


def test_a_gap_is_checked_against_what_the_simulator_overwrote(tmp_path: Path) -> None:
    """With --wrap a gap excuses missing records only if the simulator's own log shows them
    overwritten before loggerd declared the gap: a gap over a record the logger still held (a
    loss covered by a gap), or over a record that is also stored, is caught."""
    detected_us = 1_790_000_100_000_000
    store = Store(sqlite_url(tmp_path))
    try:
        store.open(
            {"chamber-1": None},
            [Channel("chamber-1", c, "logger-1", p, "temperature", "degC") for c, p in CHANNELS],
        )
        store.write(
            [
                Sample(
                    "chamber-1",
                    "t1",
                    (1_790_000_000 + n) * 10**6,
                    1.0,
                    1.0,
                    Quality.GOOD,
                    TimeSource.LOGGER,
                    sequence=n,
                )
                for n in (1, 4, 5)
            ]
        )
        store.write_log([], [Gap("chamber-1", "logger-1", 2, 3, None, None, detected_us)])
    finally:
        store.close()
    engine = StoreTarget("sqlite", tmp_path).read_only_engine()
    truth = {1: [Record(n, 1_790_000_000 + n, 0, {}) for n in range(1, 6)]}
    try:
        with engine.connect() as conn:
            stored_gaps = list(conn.execute(select(gaps)).all())
        before = detected_us - 1
        honest = check_gaps(engine, truth, stored_gaps, SimLog({1: {2: before, 3: before}}, {}))
        assert honest["gaps_ok"] and honest["unread_records"] == 2
        # record 3 was still in the logger's memory when loggerd called it gone
        covered = check_gaps(engine, truth, stored_gaps, SimLog({1: {2: before}}, {}))
        assert not covered["gaps_ok"] and covered["gap_records_not_overwritten"] == 1
        late = check_gaps(
            engine, truth, stored_gaps, SimLog({1: {2: before, 3: detected_us + 1}}, {1: {3}})
        )
        assert not late["gaps_ok"] and late["gap_examples"][0]["sequence"] == 3
    finally:
        engine.dispose()
