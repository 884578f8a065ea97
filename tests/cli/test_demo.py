"""`loggerd demo` as a user runs it, sped up and restarted: one time base for history and the
live view, and a restart that is no incident."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import Proc, get, loggerd, wait_until

CHAMBERS = ("chamber-1", "chamber-2")
INCIDENTS = {"clock_offset", "clock_drift", "memory_reset", "backfill_started", "gap"}


def utc_s(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def start(data_dir: Path, *flags: str) -> tuple[Proc, str]:
    proc = Proc(loggerd("demo", "--port", "0", "--data-dir", str(data_dir), *flags))
    line = proc.wait_for_line("loggerd demo is running: ")
    return proc, line.split()[4].removesuffix("/api/v1/chambers")


@pytest.fixture
def demos() -> Iterator[list[Proc]]:
    """The demo processes a test starts; any still running at the end is killed."""
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.communicate()


def history(url: str, chamber: str) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = get(f"{url}/api/v1/chambers/{chamber}/history?channel=t1")[
        "points"
    ]
    return points


def records_beyond(url: str, counts: dict[str, int]) -> dict[str, list[dict[str, Any]]] | None:
    """Every chamber's history, once each holds more records than `counts` says."""
    found = {c: history(url, c) for c in CHAMBERS}
    return found if all(len(found[c]) > counts.get(c, 0) for c in CHAMBERS) else None


def incidents(url: str) -> list[str]:
    events = get(f"{url}/api/v1/events")["events"]
    return [f"{e['kind']}: {e['message']}" for e in events if e["kind"] in INCIDENTS]


def test_a_sped_up_demo_keeps_history_and_live_on_real_time(
    demos: list[Proc], tmp_path: Path
) -> None:
    """--speed runs the chamber's programme fast; the loggers keep real time, so a record's
    time is when it was taken and the live view and history agree on what time it is."""
    began = time.time()
    proc, url = start(tmp_path / "demo", "--speed", "60")
    demos.append(proc)
    found = wait_until(lambda: records_beyond(url, {c: 3 for c in CHAMBERS}))
    assert found, "the sped-up demo stored no history"
    now = time.time()
    for chamber, points in found.items():
        times = [utc_s(p["timestamp"]) for p in points]
        assert began - 1 <= times[0] and times[-1] <= now + 1, (chamber, began, times, now)
        # The demo's loggers record every 2 s of real time, not of the programme's time.
        assert all(1.5 <= b - a <= 2.5 for a, b in itertools.pairwise(times)), times
        latest = get(f"{url}/api/v1/chambers/{chamber}/latest")["readings"]
        live = max(utc_s(r["timestamp"]) for r in latest if r["channel"] == "t1")
        # The newest record trails the live reading by at most a record interval (2 s), the
        # download step that hands it on (1 s) and a flush: seconds, where a programme's time
        # taken for the loggers' would put them minutes apart.
        assert abs(live - times[-1]) <= 5, (chamber, live, times[-1])
    assert incidents(url) == []
    code, out = proc.stop(signal.SIGTERM)
    assert code == 0, out


def test_a_restarted_demo_goes_on_with_its_loggers_memories(
    demos: list[Proc], tmp_path: Path
) -> None:
    """Stopped and started again in one data folder, the simulated loggers keep their memories
    and clocks, as real ones do through a power cycle: loggerd downloads what they recorded
    meanwhile and reports no memory reset."""
    data_dir = tmp_path / "demo"
    proc, url = start(data_dir)
    demos.append(proc)
    assert "loggers:   new, empty memories" in "".join(proc.lines)
    before = wait_until(lambda: records_beyond(url, {c: 2 for c in CHAMBERS}))
    assert before, "the demo stored no history"
    code, out = proc.stop(signal.SIGTERM)
    assert code == 0, out

    proc, url = start(data_dir)
    demos.append(proc)
    assert "loggers:   memories and clocks kept from the last run" in "".join(proc.lines)
    counts = {c: len(history(url, c)) for c in CHAMBERS}
    after = wait_until(lambda: records_beyond(url, {c: counts[c] + 1 for c in CHAMBERS}))
    assert after, "the restarted demo stored nothing new"
    assert incidents(url) == []
    code, out = proc.stop(signal.SIGTERM)
    assert code == 0, out


def test_a_run_over_the_demo_and_its_report_as_the_readme_says(
    demos: list[Proc], tmp_path: Path
) -> None:
    """The README's tour: a run opened over the demo's programme from the time it prints, with
    the shipped profile, listed by the API and reported from the CLI while the demo runs."""
    data_dir = tmp_path / "demo"
    proc, url = start(data_dir)
    demos.append(proc)
    (line,) = [x for x in proc.lines if x.startswith("programme: started ")]
    began = line.split()[2]
    assert wait_until(lambda: records_beyond(url, {c: 3 for c in CHAMBERS}))
    config = str(data_dir / "demo.toml")
    profile = str(Path(__file__).parents[2] / "deploy" / "profiles" / "cold-soak-70.toml")
    created = subprocess.run(
        loggerd("runs", "create", "--config", config, "--chamber", "chamber-1",
                "--start", began, "--profile", profile, "--test", "cold soak",
                "--uut", "demo unit", "--operator", "ci"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    runs = get(f"{url}/api/v1/runs?chamber=chamber-1")["runs"]
    assert [(r["test_id"], r["start"], r["open"]) for r in runs] == [("cold soak", began, True)]
    out = tmp_path / "run.json"
    reported = subprocess.run(
        loggerd("report", "--config", config, "--run", str(runs[0]["id"]), str(out)),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert reported.returncode == 0, reported.stderr
    doc = json.loads(out.read_text())
    assert doc["run"]["open"] and doc["run"]["evaluated_until"] > began
    (ramp,) = doc["segments"][0]["results"]
    assert ramp["tracking_error_max"] is not None  # the cool-down so far, from the demo's data
    assert {c["channel_id"] for c in doc["completeness"]} >= {"t1", "t2"}
    assert all(c["counted"] > 0 for c in doc["completeness"] if c["channel_id"] == "t1")
    code, output = proc.stop(signal.SIGTERM)
    assert code == 0, output
