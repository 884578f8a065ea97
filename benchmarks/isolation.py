"""Does anything the API does, or a dead line, delay a poll?

The demo's rack, four times over: `loggerd demo` serves one RS-485 line (a reference logger and
an HMT330-class transmitter on one pty) and one Modbus TCP logger; this benchmark needs four
RTU lines, so it builds the rack from the same pieces: the demo's own configuration
(`demo_config_text`) with its RTU chamber copied three times, each copy on a pty of its own
(one `SimulatorHost` per line, in a simulator process of their own), and `loggerd run` as a
real subprocess with the API in its own process, as it ships (service/runtime.py
serve_apart). The simulated loggers start with an hour in their memories (as after a restart
of the demo), so history holds an hour to serve once loggerd has downloaded it.

1. loggerd downloads the loggers' hour into the store and is stopped; it is started again
   (its lateness figures cover each device's last 600 polls: none of the download's should
   count) and waits until every device answers and every download has caught up;
2. an unloaded minute;
3. a minute under 20 concurrent API clients, each in turn asking for a chamber's latest, the
   last hour of all its channels (JSON) and the same as a CSV export;
4. a minute with one of the four RTU lines dead: every device on it unplugged (the pty stays,
   nothing answers), no API load.

The figures come from the daemon's own /api/v1/health (per device: missed ticks, late polls,
poll lateness p99 over its last 600 polls, reads), differenced between the phases. The daemon
reports no spool-append timing, so the daemon is started through this module, which times
each spool append (`DurableQueue.put`: the lock, the thread hand-off and the SQLite commit, as
acquisition awaits it) into a file, then runs `loggerd run` unchanged.

    python -m benchmarks.isolation [--seconds 60] [--clients 20] [--quick]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from loggerd.cli.demo import DEMO_TRANSMITTER_ADDRESS, demo_config_text
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock

ROOT = Path(__file__).resolve().parents[1]
LINES = 4
DEAD_LINE = 3  # index of the line made dead
LOGGER_INTERVAL_S = 2  # as `loggerd demo` runs its loggers
API_READY_TIMEOUT_S = 60.0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


# --- the simulators' process ------------------------------------------------------------------


def _line_options(line: int, state: Path) -> SimOptions:
    """Line 0 is the demo's RS-485 line (logger 1 and the transmitter); lines 1-3 copies."""
    return SimOptions(
        addresses=(1,),
        profile_devices={DEMO_TRANSMITTER_ADDRESS: "vaisala_hmt330"},
        tcp=False,
        interval_s=LOGGER_INTERVAL_S,
        seed=10 * line,
        state_file=state,
    )


def _tcp_options(state: Path) -> SimOptions:
    return SimOptions(
        addresses=(2,), rtu=False, interval_s=LOGGER_INTERVAL_S, seed=99, state_file=state
    )


def _fill_memories(options: SimOptions, memory_s: float) -> None:
    """Leave in the options' state file loggers that have recorded for `memory_s` until now,
    as the demo's loggers are after a restart."""
    state = options.state_file
    assert state is not None
    clock = ManualClock(start_utc_s=time.time() - memory_s)
    host = SimulatorHost(SimOptions(**{**vars(options), "state_file": None}), clock=clock)
    clock.advance(memory_s)
    host.save_state(state)


def _serve_sims(state_dir: str, memory_s: float, conn: Connection) -> None:
    async def main() -> None:
        options = [_line_options(i, Path(state_dir, f"line-{i}.json")) for i in range(LINES)]
        options.append(_tcp_options(Path(state_dir, "tcp.json")))
        for o in options:
            _fill_memories(o, memory_s)
        hosts = [SimulatorHost(o) for o in options]
        for h in hosts:
            await h.start()
        rtu = [h.rtu for h in hosts[:LINES]]
        tcp = hosts[LINES].tcp
        assert tcp is not None and all(r is not None for r in rtu)
        conn.send({"rtu": [r.path for r in rtu if r is not None], "tcp": tcp.url})
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command == "stop":
                break
            # ("dead", line): every device on the line unplugged; the adapter stays.
            server = rtu[command[1]]
            assert server is not None
            server.devices.clear()
            conn.send("ok")
        for h in hosts:
            await h.stop()

    asyncio.run(main())


class Simulators:
    def __init__(self, state_dir: Path, memory_s: float) -> None:
        self.conn, child = mp.Pipe()
        ctx = mp.get_context("fork")
        self.proc = ctx.Process(target=_serve_sims, args=(str(state_dir), memory_s, child))
        self.proc.start()
        endpoints = self.conn.recv()
        self.rtu: list[str] = endpoints["rtu"]
        self.tcp: str = endpoints["tcp"]

    def kill_line(self, line: int) -> None:
        self.conn.send(("dead", line))
        self.conn.recv()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.conn.send("stop")
        self.proc.join(15)
        if self.proc.is_alive():
            self.proc.kill()


# --- the rack's configuration -----------------------------------------------------------------


def rack_config(rtu: list[str], tcp: str, data_dir: Path) -> tuple[str, dict[str, int]]:
    """The demo's configuration with its RTU chamber copied onto the other lines; and the line
    (index into `rtu`; -1: the TCP logger) of each chamber."""
    text = demo_config_text(rtu[0], tcp, data_dir, "127.0.0.1", 0)
    start = text.index('[[chamber]]\nid = "chamber-1"')
    end = text.index('[[chamber]]\nid = "chamber-2"')
    block = text[start:end]
    line_of = {"chamber-1": 0, "chamber-2": -1}
    for line in range(1, LINES):
        n = line + 2  # chambers 3, 4, 5
        copy = block.replace(f'url = "{rtu[0]}"', f'url = "{rtu[line]}"')
        copy = re.sub(r"\b(chamber|logger|transmitter)-1\b", rf"\g<1>-{n}", copy)
        text += "\n" + copy
        line_of[f"chamber-{n}"] = line
    return text, line_of


# --- the daemon, with its spool appends timed -------------------------------------------------


def _daemon(config: str, spool_log: str) -> int:
    """`loggerd run`, each spool append's start and duration written to `spool_log`."""
    from loggerd.cli.main import main
    from loggerd.storage.durable_queue import DurableQueue

    out = open(spool_log, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    put = DurableQueue.put

    async def timed_put(self: DurableQueue, kind: str, items: list[Any], accepted_s: float) -> None:
        started = time.monotonic()
        try:
            await put(self, kind, items, accepted_s)
        finally:
            out.write(f"{started:.6f} {time.monotonic() - started:.6f}\n")

    DurableQueue.put = timed_put  # type: ignore[method-assign]
    return main(["run", "--config", config, "--port", "0"])


@contextmanager
def running_daemon(config: Path, spool_log: Path, stderr: Path) -> Iterator[tuple[str, int]]:
    """The daemon's API URL and pid; stopped with SIGTERM (as a service manager does)."""
    with open(stderr, "w") as err:
        p = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.isolation", "--daemon", str(config), str(spool_log)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert p.stdout is not None
        url = ""
        deadline = time.monotonic() + API_READY_TIMEOUT_S
        for line in p.stdout:
            if " is running: " in line:
                url = line.split(" is running: ")[1].split()[0].removesuffix("/api/v1/chambers")
                break
            if time.monotonic() > deadline:
                break
        if not url:
            raise RuntimeError(f"loggerd did not start: {stderr.read_text()[-2000:]}")
        yield url, p.pid
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()


# --- what the daemon says ---------------------------------------------------------------------


Health = dict[tuple[str, str], dict[str, Any]]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def health(url: str) -> Health:
    report = get_json(f"{url}/api/v1/health")
    return {(d["chamber_id"], d["device_id"]): d for d in report["devices"]}


def delta(before: Health, after: Health, key: str, keep: Callable[[str], bool]) -> int:
    return sum(
        int(after[k][key] or 0) - int(before[k][key] or 0)
        for k in after
        if keep(k[0]) and k in before
    )


def wait_settled(url: str, max_s: float) -> Health:
    """Health once every device answers and every download has caught up, or after max_s."""
    deadline = time.monotonic() + max_s
    while True:
        h = health(url)
        if settled(h) or time.monotonic() > deadline:
            return h
        time.sleep(1)


def settled(h: Health) -> bool:
    """Every device answering, every memory download caught up."""
    for d in h.values():
        if d["state"] != "ok":
            return False
        b = d.get("backfill")
        if b is not None and b["state"] != "following":
            return False
    return True


# --- the API's clients ------------------------------------------------------------------------


class ApiLoad:
    """`clients` threads, each on its own keep-alive connection, asking in turn for a
    chamber's latest, its last hour (JSON) and the same as CSV; each body read whole."""

    def __init__(self, url: str, chambers: list[str], clients: int) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.chambers = chambers
        self.clients = clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latency_s: dict[str, list[float]] = {"latest": [], "history": [], "csv": []}
        self.errors: dict[str, int] = {}
        self.bytes = 0
        self.threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)
        ]

    def __enter__(self) -> ApiLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def _client(self, i: int) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        n = i
        while not self.stop.is_set():
            chamber = self.chambers[n % len(self.chambers)]
            kind = ("latest", "history", "csv")[n % 3]
            path = {
                "latest": f"/api/v1/chambers/{chamber}/latest",
                "history": f"/api/v1/chambers/{chamber}/history",
                "csv": f"/api/v1/chambers/{chamber}/history?format=csv",
            }[kind]
            n += 1
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status, body = -1, b""
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                with self.lock:
                    self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
            elapsed = time.perf_counter() - started
            with self.lock:
                if status == 200:
                    self.latency_s[kind].append(elapsed)
                    self.bytes += len(body)
                elif status != -1:
                    self.errors[str(status)] = self.errors.get(str(status), 0) + 1
        conn.close()


# --- the run ----------------------------------------------------------------------------------


def spool_appends(log: Path, start: float, end: float) -> list[float]:
    out = []
    for line in log.read_text().splitlines():
        t, d = line.split()
        if start <= float(t) < end:
            out.append(float(d))
    return out


def run(seconds: float, clients: int, memory_s: float, warmup_max_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sims = Simulators(tmp, memory_s)
        try:
            text, line_of = rack_config(sims.rtu, sims.tcp, tmp / "data")
            config = tmp / "rack.toml"
            config.write_text(text, "utf-8")
            spool_log = tmp / "spool-appends.txt"
            spool_log.touch()
            # First the loggers' hour is downloaded into the store; then loggerd is started
            # again, so that the lateness it reports (over each device's last 600 polls) holds
            # no poll of that download.
            started = time.monotonic()
            with running_daemon(config, spool_log, tmp / "loggerd-fill.stderr") as (url, _pid):
                wait_settled(url, warmup_max_s)
            fill_s = time.monotonic() - started
            print(f"the loggers' memories downloaded in {fill_s:.1f} s", flush=True)
            started = time.monotonic()
            with running_daemon(config, spool_log, tmp / "loggerd.stderr") as (url, _pid):
                h0 = wait_settled(url, warmup_max_s)
                warmup_s = time.monotonic() - started
                print(f"warm-up: {warmup_s:.1f} s (settled: {settled(h0)})", flush=True)
                t0 = time.monotonic()
                time.sleep(seconds)
                h1, t1 = health(url), time.monotonic()
                print("unloaded minute done", flush=True)
                with ApiLoad(url, list(line_of), clients) as load:
                    time.sleep(seconds)
                    h_loaded, t2 = health(url), time.monotonic()
                print("loaded minute done", flush=True)
                sims.kill_line(DEAD_LINE)
                h2, t3 = health(url), time.monotonic()  # the dead minute starts here
                time.sleep(seconds)
                h3, t4 = health(url), time.monotonic()
                print("dead-line minute done", flush=True)
        finally:
            sims.stop()
        idle_appends = spool_appends(spool_log, t0, t1)
        dead_appends = spool_appends(spool_log, t3, t4)

    def every(_: str) -> bool:
        return True

    def other(chamber: str) -> bool:
        return line_of[chamber] != DEAD_LINE

    def on_dead(chamber: str) -> bool:
        return line_of[chamber] == DEAD_LINE

    missed_idle = delta(h0, h1, "missed_ticks", every)
    missed_load = delta(h1, h_loaded, "missed_ticks", every)
    on_time = delta(h2, h3, "reads_ok", other) - delta(h2, h3, "late_polls", other)
    due = sum(
        delta(h2, h3, key, other)
        for key in ("reads_ok", "reads_failed", "missed_ticks", "line_quarantined_ticks")
    )
    p99_idle = max(d["poll_lateness_ms_p99"] or 0.0 for d in h1.values())
    p99_load = max(d["poll_lateness_ms_p99"] or 0.0 for d in h_loaded.values())
    append_idle = _percentile(idle_appends, 0.99)
    append_dead = _percentile(dead_appends, 0.99)
    api = {
        f"api_{kind}_p99_ms": round(1e3 * (_percentile(v, 0.99) or 0), 1)
        for kind, v in load.latency_s.items()
    }
    return {
        "lines_rtu": LINES,
        "devices": len(h0),
        "clients": clients,
        "seconds": seconds,
        "memory_download_s": round(fill_s, 1),
        "warmup_s": round(warmup_s, 1),
        "warmup_settled": settled(h0),
        "missed_ticks_idle": missed_idle,
        "missed_ticks_under_api_load": missed_load,
        "late_polls_idle": delta(h0, h1, "late_polls", every),
        "late_polls_under_api_load": delta(h1, h_loaded, "late_polls", every),
        "poll_lateness_p99_ms_idle": p99_idle,
        "poll_lateness_p99_ms": p99_load,
        "api_requests": sum(len(v) for v in load.latency_s.values()),
        "api_requests_per_s": round(sum(len(v) for v in load.latency_s.values()) / (t2 - t1), 1),
        "api_errors": load.errors,
        "api_mb_served": round(load.bytes / 1e6, 1),
        **api,
        "other_lines_polls_due": due,
        "other_lines_polls_on_time": on_time,
        "other_lines_schedule_ratio": round(on_time / due, 4) if due else None,
        "other_lines_missed_ticks_dead": delta(h2, h3, "missed_ticks", other),
        "dead_line_failed_polls": delta(h2, h3, "reads_failed", on_dead),
        "dead_line_quarantined_ticks": delta(h2, h3, "line_quarantined_ticks", on_dead),
        "spool_appends_healthy": len(idle_appends),
        "spool_appends_dead": len(dead_appends),
        "spool_append_p99_ms_healthy": None if append_idle is None else round(1e3 * append_idle, 2),
        "spool_append_p99_ms_dead": None if append_dead is None else round(1e3 * append_dead, 2),
        "spool_append_p99_ratio_dead_vs_healthy": (
            round(append_dead / append_idle, 2) if append_idle and append_dead else None
        ),
        "targets": {
            "missed_ticks_under_api_load": 0,
            "poll_lateness_p99_ms": 50,
            "other_lines_schedule_ratio": 0.99,
            "spool_append_p99_ratio_dead_vs_healthy": 2,
        },
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--daemon":
        sys.exit(_daemon(sys.argv[2], sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 s phases (for a smoke test)")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    memory_s = 300.0 if args.quick else 3600.0
    print(f"uptime: {os.getloadavg()}", flush=True)
    result = run(seconds, args.clients, memory_s, warmup_max_s=60.0 if args.quick else 400.0)
    print(
        f"missed ticks: {result['missed_ticks_idle']} unloaded, "
        f"{result['missed_ticks_under_api_load']} under {args.clients} API clients "
        f"({result['api_requests_per_s']} requests/s); poll lateness p99 "
        f"{result['poll_lateness_p99_ms_idle']} ms unloaded, "
        f"{result['poll_lateness_p99_ms']} ms loaded",
        flush=True,
    )
    print(
        f"dead line: {result['other_lines_polls_on_time']}/{result['other_lines_polls_due']} "
        "polls on time on the other lines; spool append p99 "
        f"{result['spool_append_p99_ms_healthy']} ms healthy, "
        f"{result['spool_append_p99_ms_dead']} ms with the dead line",
        flush=True,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
