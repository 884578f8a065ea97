"""The scale benchmark's quick mode, end to end: the simulators start on several ports, a real
`loggerd run` polls them, and the report has every figure per N, of the right type. Its goals
are the benchmark's to check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.scale import config_text, descendants

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_quick_run_reports_every_figure() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=160,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("late_polls_pct_n20", "loggerd_cpu_ms_per_poll_n20", "rss_mb_n20"):
        assert isinstance(report[key], float) and report[key] >= 0, key
    assert isinstance(report["latest_p99_ms_n20"], float) and report["latest_p99_ms_n20"] > 0
    assert isinstance(report["missed_ticks_n20"], int) and report["missed_ticks_n20"] >= 0
    # 20 loggers at 1 Hz for 15 s, start-up included: well over a hundred polls
    assert isinstance(report["polls_n20"], int) and report["polls_n20"] > 100
    (detail,) = report["details"]
    assert detail["ports"] == 2  # ten addresses behind each port in the quick mode
    # the daemon and its API child, not the simulators
    assert detail["loggerd_processes"] >= 2
    assert detail["loggerd_cpu_s"] > 0


def test_each_logger_is_a_chamber_of_ten_channels(tmp_path: Path) -> None:
    text = config_text([("tcp://127.0.0.1:1", 1), ("tcp://127.0.0.1:1", 2)], tmp_path)
    assert text.count("[[chamber]]") == 2
    assert text.count("[[chamber.device.channel]]") == 20
    assert "address = 2" in text


def test_descendants_include_the_process_itself() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # sync-ok
    try:
        found = descendants(os.getpid())
        assert found[0] == os.getpid()
        assert child.pid in found
    finally:
        child.kill()
        child.wait()
