"""The `loggerd` command as a user runs it: a real process, real signals, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = sorted((ROOT / "deploy").glob("*.toml"))


def loggerd(*args: str) -> list[str]:
    return [sys.executable, "-m", "loggerd", *args]


@pytest.mark.parametrize("config", DEPLOY, ids=[p.name for p in DEPLOY])
def test_shipped_configs_are_valid(config: Path) -> None:
    result = subprocess.run(
        loggerd("config", "check", str(config)), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{config}: OK (")


def test_config_check_reports_the_error_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (ROOT / "deploy" / "reference-logger-rtu.toml")
        .read_text()
        .replace("address = 1", "address = 0")
    )
    result = subprocess.run(
        loggerd("config", "check", str(bad)), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"loggerd: error: {bad}:" in result.stderr
    assert ".address: Input should be greater than or equal to 1 (got 0)" in result.stderr


class Proc:
    def __init__(self, args: list[str]) -> None:
        self.p = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []

    def wait_for_line(self, prefix: str) -> str:
        assert self.p.stdout is not None
        for line in self.p.stdout:  # blocks until the process prints; ends when it exits
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"process ended without printing {prefix!r}:\n{''.join(self.lines)}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.p.send_signal(sig)
        out, _ = self.p.communicate(timeout=30)
        return self.p.returncode, "".join(self.lines) + out


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Proc, str]]:
    proc = Proc(loggerd("demo", "--port", "0", "--data-dir", str(tmp_path / "demo")))
    try:
        line = proc.wait_for_line("loggerd demo is running: ")
        url = line.split()[4].removesuffix("/api/v1/chambers")
        yield proc, url
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.communicate()


def get(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def wait_until(predicate, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll an HTTP condition with a deadline (the only way to observe another process)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)  # sync-ok: polling another process's HTTP state until a deadline


def test_demo_serves_fresh_readings_then_history_and_stops_cleanly(
    demo: tuple[Proc, str], tmp_path: Path
) -> None:
    proc, url = demo
    chambers = get(f"{url}/api/v1/chambers")["chambers"]
    assert [c["id"] for c in chambers] == ["chamber-1", "chamber-2"]

    def fresh() -> list[dict] | None:  # type: ignore[type-arg]
        readings = get(f"{url}/api/v1/chambers/chamber-1/latest")["readings"]
        good = [r for r in readings if r["quality"] == "good" and r["age_s"] < 2]
        return readings if len(good) == len(readings) else None

    readings = wait_until(fresh)
    assert readings, "no fresh readings from the demo"
    by_channel = {r["channel"]: r for r in readings}
    # The cold-soak profile starts at +25 °C with a frost point of +10 °C (a dew point).
    assert 15 < by_channel["t1"]["value"] < 30
    assert 0 < by_channel["rh"]["value"] < 100
    assert by_channel["frost_point"]["value"] < by_channel["t1"]["value"]

    def stored() -> list[dict] | None:  # type: ignore[type-arg]
        pts = get(f"{url}/api/v1/chambers/chamber-2/history?channel=t1")["points"]
        return pts if len(pts) >= 3 else None

    points = wait_until(stored)
    assert points and all(p["quality"] == "good" for p in points)
    health = get(f"{url}/api/v1/health")
    assert health["status"] == "ok"
    assert {d["state"] for d in health["devices"]} == {"ok"}

    code, out = proc.stop(signal.SIGTERM)
    assert code == 0, out
    written = int(out.split("stopped; ")[1].split()[0])
    with sqlite3.connect(tmp_path / "demo" / "loggerd.db") as db:
        (rows,) = db.execute("SELECT count(*) FROM samples").fetchone()
    assert rows == written > 0  # every accepted sample reached the store before exit
    last = datetime.fromisoformat(points[-1]["timestamp"].replace("Z", "+00:00"))
    assert last.tzinfo == UTC


def test_sim_prints_its_endpoints_and_stops_on_ctrl_c() -> None:
    proc = Proc(loggerd("sim", "--addresses", "1,2"))
    try:
        tcp = proc.wait_for_line("modbus-tcp: ")
        rtu = proc.wait_for_line("modbus-rtu: ")
        assert tcp.strip().startswith("modbus-tcp: tcp://127.0.0.1:")
        assert rtu.strip().removeprefix("modbus-rtu: ").startswith("/dev/pts/")
        proc.wait_for_line("addresses: 1, 2")
        code, _ = proc.stop(signal.SIGINT)
        assert code == 0
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.communicate()


def test_a_taken_api_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            loggerd("demo", "--port", str(port), "--data-dir", str(tmp_path / "d")),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert f"loggerd: error: the API could not start on 127.0.0.1:{port}" in result.stderr


def test_the_api_replica_serves_what_is_in_the_store(tmp_path: Path) -> None:
    """`loggerd api --config`: the API in front of the store, polling nothing: the chambers,
    latest and history another loggerd stored, and a health that says it writes nothing."""
    from loggerd.core.channels import Channel
    from loggerd.core.samples import Quality, Sample, TimeSource
    from loggerd.storage.store import Store, sqlite_url

    store = Store(sqlite_url(tmp_path))
    store.open(
        {"c1": "Chamber 1"}, [Channel("c1", "t1", "d", "temperature_1", "temperature", "degC")]
    )
    t0_us = (time.time_ns() // 1000) - 60_000_000
    store.write(
        [
            Sample(
                "c1", "t1", t0_us + i * 1_000_000, 20.0 + i, 20.0 + i, Quality.GOOD, TimeSource.HOST
            )
            for i in range(10)
        ]
    )
    store.close()
    config = tmp_path / "replica.toml"
    config.write_text(
        f'data_dir = "{tmp_path.as_posix()}"\n[[chamber]]\nid = "elsewhere"\n'
        '[[chamber.device]]\nid = "d"\ndriver = "reference-modbus"\nurl = "/dev/ttyUSB7"\n'
    )
    proc = Proc(loggerd("api", "--config", str(config), "--port", "0"))
    try:
        line = proc.wait_for_line("loggerd API (no acquisition) is running: ")
        url = line.split()[6].removesuffix("/api/v1/chambers")
        assert [c["id"] for c in get(f"{url}/api/v1/chambers")["chambers"]] == ["c1"]
        (reading,) = get(f"{url}/api/v1/chambers/c1/latest")["readings"]
        assert reading["value"] == 29.0 and reading["quality"] == "good"
        points = get(f"{url}/api/v1/chambers/c1/history?channel=t1")["points"]
        assert [p["value"] for p in points] == [20.0 + i for i in range(10)]
        health = get(f"{url}/api/v1/health")
        assert health["devices"] == [] and health["writer"] is None
        assert health["store"]["engine"] == "sqlite"
        code, out = proc.stop(signal.SIGTERM)
        assert code == 0, out
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.communicate()
