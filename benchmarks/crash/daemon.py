"""loggerd as a subprocess: its configuration, one run of it (started, watched over HTTP,
killed or stopped), the runs one after another with the kills they came to, and what a health
snapshot says it was doing."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.crash import note
from benchmarks.crash.oracle import CHANNELS
from benchmarks.crash.simulator import SimThread
from benchmarks.crash.store import StoreTarget

FLUSH_INTERVAL_S = 0.5
# The writer's oldest waiting sample older than two flush intervals: it is behind (draining).
BEHIND_S = 2 * FLUSH_INTERVAL_S
READY_TIMEOUT_S = 60.0
# What a kill can hit, by the health snapshot taken just before it (phase_of).
PHASES = ("startup", "backfill", "drain", "write", "stopping")


def config_text(target: StoreTarget, tcp_url: str, addresses: list[int]) -> str:
    binds = "".join(
        f'[[chamber.device.channel]]\nid = "{c}"\npoint = "{p}"\n\n' for c, p in CHANNELS
    )
    devices = "".join(
        f"""[[chamber]]
id = "chamber-{a}"

[[chamber.device]]
id = "logger-{a}"
driver = "reference-modbus"
url = "{tcp_url}"
address = {a}
poll_interval_s = 0.2
# A small share of each tick for downloads, so that one after a downtime spans seconds and a
# kill can be aimed into it (at the default share it is over within a tick or two).
backfill_duty = 0.05
# The simulated clock runs ten times as fast as the host's: its offset is meant to grow.
clock_offset_limit_s = 1e12
clock_drift_limit_ppm = 1e12

{binds}"""
        for a in addresses
    )
    return f"""# Written by python -m benchmarks.crash
data_dir = "{target.data_dir.as_posix()}"
ring_size = 100

[store]
flush_interval_s = {FLUSH_INTERVAL_S}
batch_size = 500
{target.config_lines()}
{devices}"""


class DaemonProcess:
    """One run of `loggerd run`: started, watched over HTTP, killed or stopped."""

    READY = re.compile(r"is running: (http://\S+)/api/v1/chambers")

    def __init__(self, config: Path, log: Path) -> None:
        self.started = time.monotonic()
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loggerd", "run", "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.url: str | None = None
        self._reader = threading.Thread(target=self._read, name="crash-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace"))
        self.lines.put(None)

    def uptime_s(self) -> float:
        return time.monotonic() - self.started

    def wait_ready(self, timeout_s: float) -> str | None:
        """The API's base URL once the daemon prints it; None if it exits or times out."""
        deadline = time.monotonic() + timeout_s
        return self._ready(lambda: self.lines.get(timeout=max(0.0, deadline - time.monotonic())))

    def poll_ready(self) -> str | None:
        """The URL if the daemon has printed it by now (does not wait)."""
        return self._ready(self.lines.get_nowait)

    def _ready(self, next_line: Callable[[], str | None]) -> str | None:
        while self.url is None:
            try:
                line = next_line()
            except queue.Empty:
                return None
            if line is None:
                return None
            m = self.READY.search(line)
            if m:
                self.url = m.group(1)
        return self.url

    def health(self) -> dict[str, Any] | None:
        if self.url is None:
            return None
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=5) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        return self._reap(30)

    def terminate(self, timeout_s: float) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self._reap(timeout_s)
        except subprocess.TimeoutExpired:
            note(f"loggerd did not stop {timeout_s:.0f} s after SIGTERM: killing it")
            return self.kill()

    def _reap(self, timeout_s: float) -> int:
        code = self.proc.wait(timeout_s)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        return code


def downloading(snapshot: dict[str, Any]) -> bool:
    """A device is downloading its logger's memory (or stalled in the middle of it)."""
    return any(
        (d.get("backfill") or {}).get("state") in ("downloading", "stalled")
        for d in snapshot["devices"]
    )


def writer_behind(snapshot: dict[str, Any]) -> bool:
    """Samples wait in the spool with the store degraded, or for longer than a flush or two."""
    w = snapshot["writer"]
    return w["spooled"] > 0 and (w["state"] == "degraded" or (w.get("lag_s") or 0.0) > BEHIND_S)


def phase_of(snapshot: dict[str, Any] | None) -> str:
    """What a kill hit, by the health snapshot taken just before it (a writer behind counts
    before a download: both at once happen, and the writer's state is the rarer one)."""
    if snapshot is None:
        return "startup"
    if writer_behind(snapshot):
        return "drain"
    if downloading(snapshot):
        return "backfill"
    return "write"


def brief(snapshot: dict[str, Any] | None) -> str:
    if snapshot is None:
        return "no API yet"
    w = snapshot["writer"]
    states = []
    for d in snapshot["devices"]:
        b = d.get("backfill") or {}
        why = f" ({b.get('last_error')})" if b.get("state") == "waiting_for_store" else ""
        states.append(f"{d['device_id']} {b.get('state')}{why}")
    backfill = ", ".join(states)
    return f"writer {w['state']} spooled {w['spooled']} lag {w.get('lag_s') or 0:.2f} s; {backfill}"


def wait_health(
    d: DaemonProcess, until: Callable[[dict[str, Any]], bool], timeout_s: float
) -> dict[str, Any] | None:
    """Poll health until `until` holds or the deadline; returns the last snapshot."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline and d.alive():
        h = d.health()
        if h is not None:
            last = h
            if until(h):
                return h
        time.sleep(0.01)  # sync-ok: polling another process's health until a deadline
    return last


@dataclass
class Kill:
    index: int
    mode: str
    phase: str
    uptime_s: float
    exit_code: int
    newest: dict[int, int]  # each logger's newest record at the kill
    snapshot: dict[str, Any] | None


class Runs:
    """loggerd's runs one after another, on one configuration and log: each started, waited
    for, killed; the kills they came to and every exit code."""

    def __init__(self, config: Path, log: Path, kills_wanted: int) -> None:
        self.config = config
        self.log = log
        self.kills_wanted = kills_wanted
        self.kills: list[Kill] = []
        self.exit_codes: Counter[int] = Counter()
        self.starts = 0
        self.clean_stops = 0  # stopping mode: loggerd had stopped before the SIGKILL came
        self.daemon: DaemonProcess | None = None

    def start(self) -> DaemonProcess:
        self.starts += 1
        self.daemon = DaemonProcess(self.config, self.log)
        return self.daemon

    def ready(self, d: DaemonProcess) -> str:
        url = d.wait_ready(READY_TIMEOUT_S)
        if url is None:
            code = d.proc.poll()
            raise RuntimeError(
                f"loggerd (start {self.starts}) did not come up (exit code {code}); see {self.log}"
            )
        return url

    def kill(self, mode: str, snapshot: dict[str, Any] | None, sim: SimThread) -> bool:
        """SIGKILL the running loggerd; False if it had already exited (a clean stop won the
        race in the stopping mode: not a kill, and not counted as one)."""
        assert self.daemon is not None
        d = self.daemon
        self.daemon = None
        uptime = d.uptime_s()
        newest = sim.newest()
        stopping = mode == "stopping"
        alive = d.alive()
        code = d.kill()
        self.exit_codes[code] += 1
        if not alive:
            self.clean_stops += 1
            note(f"(stopping: loggerd stopped cleanly, exit code {code}, before the SIGKILL)")
            return False
        phase = "stopping" if stopping else phase_of(snapshot)
        self.kills.append(Kill(len(self.kills), mode, phase, uptime, code, newest, snapshot))
        note(
            f"kill {len(self.kills)}/{self.kills_wanted} (aimed at {mode}): hit {phase} after "
            f"{uptime:.2f} s up; exit code {code}; loggers at {newest}; {brief(snapshot)}"
        )
        return True
