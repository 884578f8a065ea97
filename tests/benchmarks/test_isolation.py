"""The isolation benchmark's quick mode, end to end: the rack starts, the three phases run and
the report has every figure, of the right type. Its targets are the benchmark's to check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_quick_run_reports_every_figure() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.isolation", "--quick", "--clients", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["lines_rtu"] == 4
    # four RTU lines of a logger and a transmitter each, and the TCP logger
    assert report["devices"] == 9
    for key in ("missed_ticks_idle", "missed_ticks_under_api_load", "other_lines_polls_due"):
        assert isinstance(report[key], int) and report[key] >= 0, key
    assert isinstance(report["poll_lateness_p99_ms"], float)
    assert report["api_requests"] > 0
    assert report["other_lines_polls_due"] > 0
    assert 0.0 <= report["other_lines_schedule_ratio"] <= 1.0
    # the dead line's devices really stopped answering
    assert report["dead_line_failed_polls"] + report["dead_line_quarantined_ticks"] > 0
    assert report["spool_appends_healthy"] > 0 and report["spool_appends_dead"] > 0
    assert isinstance(report["spool_append_p99_ratio_dead_vs_healthy"], float)
