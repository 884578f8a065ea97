"""How many Modbus TCP loggers can one `loggerd run` poll at 1 Hz, and at what cost?

For each N: N simulated reference loggers (10 channels each: eight temperatures, RH and frost
point) served by the simulator over Modbus TCP, `--per-port` Modbus addresses behind each port
(a gateway, or a simulator serving many unit ids; loggerd gives each port one line and one
thread), the ports spread over `--sim-procs` simulator processes (a Python Modbus server
saturates a core at ~1.2k transactions/s, so one process would measure the simulator; the
simulated loggers compute their point values once per chamber state). `loggerd run` is a real
subprocess with a configuration file: one chamber per logger, every logger polled at 1 Hz, its
history its own memory (`history = "memory"`, the default: loggerd checks each logger's clock
and downloads its records, which it takes every `--logger-interval` s), the store SQLite in a
temporary folder. Each N runs `--seconds` counted from loggerd's start (start-up, clock checks
and the first downloads included).

Figures per N, from what loggerd itself reports (/api/v1/health at the end) and from /proc:
- late_polls_pct_nN: polls started more than 250 ms after their tick, or skipped (missed
  ticks, ticks held by a quarantined line), per 100 ticks due; goal < 1 at N = 1000;
- loggerd_cpu_ms_per_poll_nN: CPU time (user + system, /proc) of loggerd's own processes
  (the daemon and its API child; not the simulators) over the run, per poll; goal <= 0.5;
- rss_mb_nN: resident memory of those processes at the end;
- latest_p99_ms_nN: GET /chambers/{id}/latest, one client asking back to back (10/s at most),
  chambers in turn, from the API's readiness to the end;
- missed_ticks_nN, polls_nN (reads made, good or failed).

    python -m benchmarks.scale [--n 200,500,1000] [--seconds 90] [--quick]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from loggerd_sim.chamber import Chamber
from loggerd_sim.logger import LoggerSettings, SimClock, SimulatedLogger
from loggerd_sim.modbus_server import ModbusTcpServer, RegisterDevice
from loggerd_sim.profile import builtin_profile

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = [*(f"temperature_{i}" for i in range(1, 9)), "rh", "frost_point"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# beside this interpreter when installed in its environment (pip install py-spy)
PY_SPY = (
    shutil.which(
        "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    or "py-spy"
)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


# --- the simulators' processes ----------------------------------------------------------------


def _serve(ports: list[tuple[int, int]], interval_s: int, conn: Connection) -> None:
    """One simulator process: a Modbus TCP server per port, serving (first logger's number,
    number of addresses) loggers each, each logger in a chamber of its own."""

    async def main() -> None:
        clock = SimClock()
        profile = builtin_profile()
        servers = []
        for first, count in ports:
            loggers: dict[int, RegisterDevice] = {}
            for address in range(1, count + 1):
                number = first + address - 1
                settings = LoggerSettings(
                    address=address, serial_number=16000001 + number, interval_s=interval_s
                )
                chamber = Chamber(profile, channel_count=settings.channel_count, seed=number)
                loggers[address] = SimulatedLogger(chamber, clock, settings)
            server = ModbusTcpServer(loggers, "127.0.0.1", 0)
            await server.start()
            servers.append(server)
        conn.send([server.url for server in servers])
        await asyncio.to_thread(conn.recv)
        for server in servers:
            await server.stop()

    asyncio.run(main())


class Simulators:
    """N loggers, `per_port` to a port, the ports dealt to `procs` processes in turn."""

    def __init__(self, n: int, per_port: int, procs: int, interval_s: int) -> None:
        counts = [min(per_port, n - first) for first in range(0, n, per_port)]
        firsts = list(range(0, n, per_port))
        shares: list[list[tuple[int, int]]] = [[] for _ in range(procs)]
        for i, (first, count) in enumerate(zip(firsts, counts, strict=True)):
            shares[i % procs].append((first, count))
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        ctx = mp.get_context("fork")
        for share in shares:
            if not share:
                continue
            ours, theirs = mp.Pipe()
            proc = ctx.Process(target=_serve, args=(share, interval_s, theirs))
            proc.start()
            self.conns.append(ours)
            self.procs.append(proc)
        # (url, address) of each logger, in the order of the loggers' numbers
        self.loggers: list[tuple[str, int]] = []
        by_first: dict[int, str] = {}
        for share, conn in zip([s for s in shares if s], self.conns, strict=True):
            for (first, _), url in zip(share, conn.recv(), strict=True):
                by_first[first] = url
        for first, count in zip(firsts, counts, strict=True):
            self.loggers += [(by_first[first], a) for a in range(1, count + 1)]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for conn, proc in zip(self.conns, self.procs, strict=True):
            if proc.is_alive():
                conn.send("stop")
        for proc in self.procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()


def config_text(loggers: list[tuple[str, int]], data_dir: Path) -> str:
    parts = [f'data_dir = "{data_dir.as_posix()}"\n\n[api]\nhost = "127.0.0.1"\nport = 0\n']
    channels = "".join(f'[[chamber.device.channel]]\nid = "{p}"\npoint = "{p}"\n' for p in CHANNELS)
    for i, (url, address) in enumerate(loggers):
        parts.append(
            f'[[chamber]]\nid = "c{i:04d}"\n[[chamber.device]]\nid = "logger-{i:04d}"\n'
            f'driver = "reference-modbus"\nurl = "{url}"\naddress = {address}\n'
            f"poll_interval_s = 1.0\n{channels}"
        )
    return "\n".join(parts)


# --- loggerd's processes, seen through /proc --------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state on


def descendants(pid: int) -> list[int]:
    """`pid` and every living process under it."""
    parent_of = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                parent_of[int(entry.name)] = int(stat[1])
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parent_of.items() if pp == parent]
        found += children
        frontier += children
    return found


def cpu_s(pids: list[int]) -> float:
    """User + system CPU time of the processes (their reaped children's not counted)."""
    total = 0
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            total += int(stat[11]) + int(stat[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            total += int(stat[21]) * PAGE_SIZE  # rss in pages (field 24)
    return total / 1e6


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/api/v1/health", timeout=60) as r:
        report: dict[str, Any] = json.loads(r.read())
    return report


def polls_made(report: dict[str, Any]) -> int:
    return sum(int(d["reads_ok"]) + int(d["reads_failed"]) for d in report["devices"])


def _moment(report: dict[str, Any], t0: float) -> dict[str, Any]:
    """Where the run stood: polls made, ticks missed, polls started late, followers' states."""
    devices = report["devices"]
    states: dict[str, int] = {}
    for d in devices:
        state = (d.get("backfill") or {}).get("state", "-")
        states[state] = states.get(state, 0) + 1
    return {
        "s": round(time.monotonic() - t0, 1),
        "polls": polls_made(report),
        "missed": sum(int(d["missed_ticks"] or 0) for d in devices),
        "late": sum(int(d["late_polls"] or 0) for d in devices),
        "followers": states,
    }


# --- the API's latest, asked all along --------------------------------------------------------


class LatestProbe(threading.Thread):
    def __init__(self, url: str, chambers: int) -> None:
        super().__init__(daemon=True)
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.chambers = chambers
        self.latency_s: list[float] = []
        self.errors = 0
        self.halt = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        i = 0
        while not self.halt.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", f"/api/v1/chambers/c{i % self.chambers:04d}/latest")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            elapsed = time.perf_counter() - started
            if ok:
                self.latency_s.append(elapsed)
            else:
                self.errors += 1
            i += 1
            self.halt.wait(max(0.0, 0.1 - elapsed))
        conn.close()


# --- one N ------------------------------------------------------------------------------------


def one_n(
    n: int, seconds: float, per_port: int, procs: int, interval_s: int, profile: str | None
) -> dict[str, Any]:
    sims = Simulators(n, per_port, procs, interval_s)
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            config = tmp / "scale.toml"
            config.write_text(config_text(sims.loggers, tmp / "data"), "utf-8")
            sim_cpu_before = cpu_s(sims.pids)
            with open(tmp / "loggerd.stderr", "w") as err:
                t0 = time.monotonic()
                p = subprocess.Popen(
                    [sys.executable, "-m", "loggerd", "run", "--config", str(config)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            probe: LatestProbe | None = None
            timeline: list[dict[str, Any]] = []
            spy: subprocess.Popen[bytes] | None = None
            try:
                assert p.stdout is not None
                url = ""
                for line in p.stdout:
                    if " is running: " in line:
                        url = line.split(" is running: ")[1].split()[0]
                        url = url.removesuffix("/api/v1/chambers")
                        break
                if not url:
                    raise RuntimeError(
                        f"loggerd did not start: {(tmp / 'loggerd.stderr').read_text()[-2000:]}"
                    )
                ready_s = time.monotonic() - t0
                probe = LatestProbe(url, n)
                probe.start()
                # A third in, start-up is over: the steady state's cost is from here to the end.
                # Till then, every 10 s: how start-up went.
                while time.monotonic() < t0 + seconds / 3 - 10:
                    time.sleep(10)
                    timeline.append(_moment(health(url), t0))
                time.sleep(max(0.0, t0 + seconds / 3 - time.monotonic()))
                middle = (health(url), cpu_s(descendants(p.pid)), time.monotonic())
                timeline.append(_moment(middle[0], t0))
                if profile is not None:
                    # The daemon's process alone (not its API child), over the last two thirds
                    # of the run: collapsed stacks, GIL holders only, so CPU and not waiting.
                    duration_s = max(1, int(t0 + seconds - time.monotonic()) - 3)
                    command = [PY_SPY, "record", "--pid", str(p.pid), "--threads", "--gil"]
                    command += ["--format", "raw", "--duration", str(duration_s), "-o", profile]
                    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL)
                time.sleep(max(0.0, t0 + seconds - time.monotonic()))
                report = health(url)
                timeline.append(_moment(report, t0))
                pids = descendants(p.pid)
                loggerd_cpu = cpu_s(pids)
                memory = rss_mb(pids)
                daemon_rss = rss_mb([p.pid])
                elapsed = time.monotonic() - t0
            finally:
                if probe is not None:
                    probe.halt.set()
                    probe.join(30)
                if spy is not None:
                    spy.wait(60)
                p.send_signal(signal.SIGTERM)
                try:
                    p.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
            sim_cpu = cpu_s(sims.pids) - sim_cpu_before
    finally:
        sims.stop()
    devices = report["devices"]

    def total(key: str) -> int:
        return sum(int(d[key] or 0) for d in devices)

    polls = polls_made(report)
    steady_polls = polls - polls_made(middle[0])
    steady_cpu_s = loggerd_cpu - middle[1]
    skipped = total("missed_ticks") + total("line_quarantined_ticks")
    late = total("late_polls") + skipped
    due = polls + skipped
    latest_p99 = _percentile(probe.latency_s if probe is not None else [], 0.99)
    p99s = [d["poll_lateness_ms_p99"] for d in devices if d["poll_lateness_ms_p99"] is not None]
    states: dict[str, int] = {}
    for d in devices:
        b = d.get("backfill") or {}
        key = f"{d['state']}/{b.get('state', '-')}"
        states[key] = states.get(key, 0) + 1
    return {
        f"late_polls_pct_n{n}": round(100 * late / due, 3) if due else None,
        f"loggerd_cpu_ms_per_poll_n{n}": round(1e3 * loggerd_cpu / polls, 3) if polls else None,
        f"rss_mb_n{n}": round(memory, 1),
        f"latest_p99_ms_n{n}": None if latest_p99 is None else round(1e3 * latest_p99, 1),
        f"missed_ticks_n{n}": total("missed_ticks"),
        f"polls_n{n}": polls,
        "detail": {
            "n": n,
            "seconds": round(elapsed, 1),
            "api_ready_s": round(ready_s, 2),
            "ports": math.ceil(n / per_port),
            "sim_procs": len(sims.procs),
            "ticks_due_approx": due,
            "late_started_polls": total("late_polls"),
            # From a third in to the end: what start-up left out.
            "missed_ticks_steady": total("missed_ticks")
            - sum(int(d["missed_ticks"] or 0) for d in middle[0]["devices"]),
            "late_started_polls_steady": total("late_polls")
            - sum(int(d["late_polls"] or 0) for d in middle[0]["devices"]),
            "polls_steady": steady_polls,
            "timeline": timeline,
            "line_quarantined_ticks": total("line_quarantined_ticks"),
            "reads_failed": total("reads_failed"),
            "retries": total("retries"),
            "poll_lateness_ms_p99_median_device": _percentile(p99s, 0.5),
            "poll_lateness_ms_p99_worst_device": max(p99s) if p99s else None,
            "loggerd_processes": len(pids),
            "loggerd_cpu_s": round(loggerd_cpu, 1),
            "loggerd_cpu_share_of_a_core": round(loggerd_cpu / elapsed, 2),
            # from a third in to the end: start-up (imports, first connections, clock checks)
            # left out
            "loggerd_cpu_ms_per_poll_steady": (
                round(1e3 * steady_cpu_s / steady_polls, 3) if steady_polls else None
            ),
            "loggerd_cpu_share_of_a_core_steady": round(
                steady_cpu_s / (t0 + elapsed - middle[2]), 2
            ),
            "daemon_rss_mb": round(daemon_rss, 1),
            "sim_cpu_s": round(sim_cpu, 1),
            "latest_requests": len(probe.latency_s) if probe is not None else 0,
            "latest_errors": probe.errors if probe is not None else 0,
            "records_downloaded": sum(
                (d.get("backfill") or {}).get("records_downloaded", 0) for d in devices
            ),
            "device_states": states,
            "writer": report.get("writer"),
            "loadavg_after": os.getloadavg(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", default="200,500,1000", help="logger counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=90.0, help="per N, from loggerd's start")
    parser.add_argument("--per-port", type=int, default=50, help="Modbus addresses per port")
    parser.add_argument("--sim-procs", type=int, default=2, help="simulator processes")
    parser.add_argument(
        "--logger-interval", type=int, default=10, help="the loggers' logging interval, s"
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="py-spy the daemon into PREFIX-nN.txt (collapsed stacks)",
    )
    parser.add_argument("--quick", action="store_true", help="N = 20 for 15 s (a smoke test)")
    args = parser.parse_args()
    ns = [20] if args.quick else [int(x) for x in args.n.split(",")]
    seconds = 15.0 if args.quick else args.seconds
    per_port = 10 if args.quick else args.per_port
    result: dict[str, Any] = {"seconds": seconds, "per_port": per_port, "details": []}
    for n in ns:
        print(f"N = {n}: load average {os.getloadavg()}", flush=True)
        profile = f"{args.profile}-n{n}.txt" if args.profile else None
        figures = one_n(n, seconds, per_port, args.sim_procs, args.logger_interval, profile)
        detail = figures.pop("detail")
        result.update(figures)
        result["details"].append(detail)
        print(
            f"N = {n}: {figures[f'polls_n{n}']} polls, {figures[f'late_polls_pct_n{n}']} % late "
            f"or skipped ({figures[f'missed_ticks_n{n}']} missed ticks), "
            f"{figures[f'loggerd_cpu_ms_per_poll_n{n}']} ms CPU a poll "
            f"({detail['loggerd_cpu_share_of_a_core']} of a core), "
            f"RSS {figures[f'rss_mb_n{n}']} MB, latest p99 {figures[f'latest_p99_ms_n{n}']} ms",
            flush=True,
        )
    result["targets"] = {"late_polls_pct_n1000": 1.0, "loggerd_cpu_ms_per_poll_n1000": 0.5}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
