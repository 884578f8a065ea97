"""Does loggerd lose, duplicate or alter a single logger record when it is killed at any moment?

The simulator runs in this process (its threads keep answering while loggerd is dead), with one
or two reference loggers on Modbus TCP recording at 10 Hz of wall time (speed 10, a 1 s logging
interval: the loggers' clocks run ten times as fast as the host's, so their measured offsets
keep growing; the offset and drift limits are set out of reach). loggerd runs as a subprocess,
`python -m loggerd run --config … --port 0`, and is killed with SIGKILL `--kills` times, each
kill aimed at a moment of a different kind, in turn:

- backfill: after a long downtime, as soon as /api/v1/health shows a device downloading its
  logger's memory;
- drain: while the store is held (another connection locks it for 1–3 s, as a backup or an
  export would) and the writer falls behind, or just after it lets go and the spool drains;
- uniform: at a uniformly random moment of a run;
- startup: at a random moment after the process starts, often before the API is up (the store
  being opened, the spool's leftovers written, the first download);
- stopping: 0–0.1 s after a SIGTERM, while loggerd stops (a stop that wins the race is not
  counted as a kill; another attempt follows).

What a kill really hit is the phase the last health snapshot, taken just before the kill, shows:
`startup` (no API yet), `drain` (the writer behind: the store degraded, or the oldest sample
waiting for more than 1 s — this includes the start-up drain of the last run's spool),
`backfill` (a device downloading), else `write` (following the loggers, batches going through
the spool to the store); and `stopping` for the kills of that mode. Between a kill and the
restart a random downtime (0.2–3 s; 3–6 s before a backfill-aimed kill) lets records pile up
in the loggers.
With `--store postgresql` PostgreSQL is also restarted once half way, under a running loggerd
(`pg_ctlcluster … restart`), which must ride it out on its spool.

At the end the loggers stop recording (the ground truth is frozen), loggerd gets a SIGTERM once
every device's backfill cursor is the logger's newest record and nothing is queued, and the
store, opened read-only, is compared with the loggers' memories record by record:

- lost: (record, channel) pairs with no sample of that record's sequence;
- mismatched: samples whose raw value differs from the record's value as the wire carries it
  (int16 × 0.01; NaN ↔ NULL), or whose logger time ts_us + clock_offset_us is not the record's
  timestamp exactly;
- duplicates: samples beyond one per (channel, sequence), and logger-stamped samples whose
  sequence the logger never recorded;
- integrity_ok: SQLite's integrity_check (PostgreSQL: no two samples share (channel, sequence)
  or (channel, ts_us), and the unique indexes are valid), every rollup tier equal to the
  aggregates recomputed from the raw samples, and the spool empty.

lost and mismatched count samples (record × channel; lost_records counts records). With
`--wrap` the loggers' memories are small (60 records) and overwrite records while loggerd is
down: those must be exactly the gaps stored, and every other record stored; without it there
must be no gap at all.

    python -m benchmarks.crash --kills 10 [--store postgresql] [--faults drop=0.02,late=0.01]

Progress goes to stderr; the last line on stdout is one JSON object. Exit status 0 when lost,
duplicates and mismatched are 0, integrity_ok is true, the gaps are as expected, every kill
happened, loggerd caught up with the loggers and its final stop was clean; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import queue
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select

from loggerd.core.errors import LoggerdError
from loggerd.core.samples import VALUED_QUALITIES
from loggerd.storage.schema import TIERS, channels, events, gaps, rollup_tables, samples
from loggerd.storage.store import Store
from loggerd_protocol import reference_logger
from loggerd_protocol.values import Record, decode_record, encode_record
from loggerd_sim.faults import FaultRates
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.modbus_server import DEVICE_LOCK

DEFN = reference_logger()
PG_URL = os.environ.get("LOGGERD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Every point of the reference logger, each bound to a channel.
CHANNELS = [(f"t{i}", f"temperature_{i}") for i in range(1, 9)] + [
    ("rh", "rh"),
    ("frost_point", "frost_point"),
]
MODES = ("backfill", "drain", "uniform", "startup", "stopping")
PHASES = ("startup", "backfill", "drain", "write", "stopping")
FLUSH_INTERVAL_S = 0.5
# The writer's oldest waiting sample older than two flush intervals: it is behind (draining).
BEHIND_S = 2 * FLUSH_INTERVAL_S
READY_TIMEOUT_S = 60.0
VALUED = frozenset(q.value for q in VALUED_QUALITIES)


def note(message: str) -> None:
    print(f"[crash {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the simulator, in a thread of its own --------------------------------------------------


class SimThread:
    """The simulator on its own event loop, so it answers whatever this thread waits for."""

    def __init__(self, options: SimOptions) -> None:
        self.host = SimulatorHost(options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="crash-sim", daemon=True)

    def start(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.host.start(), self.loop).result(30)
        if self.host.faults is not None:
            self.host.faults.record = False  # the answers are not needed: do not keep them all
        assert self.host.tcp is not None
        return self.host.tcp.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.host.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    def newest(self) -> dict[int, int]:
        """Each logger's newest record now (taking the records that fell due)."""
        with DEVICE_LOCK:
            out = {}
            for address, logger in self.host.loggers.items():
                logger.sync()
                out[address] = logger.memory[-1].sequence if logger.memory else 0
            return out

    def freeze(self) -> dict[int, list[Record]]:
        """Stop every logger recording and return what each holds: the ground truth."""
        with DEVICE_LOCK:
            out = {}
            for address, logger in self.host.loggers.items():
                logger.sync()  # records that fell due are taken before logging stops
                logger.settings.logging = False
                out[address] = list(logger.memory)
            return out


class _RecordingDeque(deque[Record]):
    """A logger's ring memory that also keeps every record appended to it in `kept`."""

    def __init__(self, records: deque[Record], kept: list[Record]) -> None:
        super().__init__(records, records.maxlen)
        self.kept = kept

    def append(self, record: Record) -> None:
        self.kept.append(record)
        super().append(record)


class RecordingMemory:
    """Every record a logger ever took (--wrap: its ring memory overwrites the oldest)."""

    def __init__(self) -> None:
        self.records: dict[int, list[Record]] = defaultdict(list)

    def attach(self, sim: SimThread) -> None:
        with DEVICE_LOCK:
            for address, logger in sim.host.loggers.items():
                kept = self.records[address]
                kept.extend(logger.memory)
                logger.memory = _RecordingDeque(logger.memory, kept)


# --- loggerd, as a subprocess ---------------------------------------------------------------


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


def _brief(snapshot: dict[str, Any] | None) -> str:
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


# --- the store ------------------------------------------------------------------------------


@dataclass
class StoreTarget:
    engine_name: str  # sqlite | postgresql
    data_dir: Path
    schema: str | None = None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "loggerd.db"

    def config_lines(self) -> str:
        if self.engine_name == "sqlite":
            return ""
        return f'url = "{PG_URL}"\nschema = "{self.schema}"\n'

    def create(self) -> None:
        """PostgreSQL: a fresh schema at the newest revision (SQLite: loggerd makes its file)."""
        if self.engine_name == "postgresql":
            store = Store(PG_URL, schema=self.schema)
            try:
                store.upgrade()
            finally:
                store.close()

    def drop(self) -> None:
        if self.engine_name == "postgresql":
            engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            finally:
                engine.dispose()

    def read_only_engine(self) -> Engine:
        if self.engine_name == "sqlite":
            return create_engine(
                f"sqlite:///file:{self.sqlite_path}?mode=ro&uri=true",
                connect_args={"check_same_thread": False},
            )
        return create_engine(
            PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
            connect_args={
                "options": f"-c search_path={self.schema} -c default_transaction_read_only=on"
            },
        )

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the store's write lock, as another program (a backup, an export) might."""
        if self.engine_name == "sqlite":
            conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                yield
            finally:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                conn.close()
            return
        engine = create_engine(
            PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
            connect_args={"options": f"-c search_path={self.schema}"},
        )
        try:
            with engine.connect() as pg:
                pg.exec_driver_sql("LOCK TABLE samples IN EXCLUSIVE MODE")
                try:
                    yield
                finally:
                    pg.rollback()
        finally:
            engine.dispose()


def restart_postgres() -> float:
    """`pg_ctlcluster VERSION main restart`; returns how long it took."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return time.monotonic() - started


# --- the comparison -------------------------------------------------------------------------


@dataclass
class Comparison:
    records_expected: int = 0
    records_stored: int = 0
    samples_expected: int = 0
    samples_stored: int = 0
    lost: int = 0
    lost_records: int = 0
    mismatched: int = 0
    mismatched_values: int = 0
    mismatched_times: int = 0
    duplicates: int = 0
    host_rows: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def example(self, what: str, **details: Any) -> None:
        if len(self.examples) < 20:
            self.examples.append({"what": what, **details})


def wire_values(record: Record) -> dict[str, float]:
    """The record's values as the wire carries them (int16 × 0.01, NaN when missing)."""
    decoded = decode_record(DEFN, encode_record(DEFN, record))
    assert decoded is not None
    return dict(decoded.values)


def compare_samples(
    engine: Engine,
    truth: dict[int, list[Record]],
    lost_sequences: dict[int, set[int]],
    attribute: Callable[[int, int], dict[str, Any]],
) -> Comparison:
    """Every truth record on every channel against the store (lost_sequences: in gaps, by
    design, with --wrap: neither expected nor lost)."""
    c = Comparison()
    with engine.connect() as conn:
        keys = {
            (r.chamber_id, r.channel_id): r.key
            for r in conn.execute(
                select(channels.c.key, channels.c.chamber_id, channels.c.channel_id)
            )
        }
        c.host_rows = conn.execute(
            select(func.count()).select_from(samples).where(samples.c.time_source != "logger")
        ).scalar_one()
        for address, records in truth.items():
            chamber = f"chamber-{address}"
            known = {r.sequence for r in records}
            expected = [r for r in records if r.sequence not in lost_sequences.get(address, set())]
            values = {r.sequence: wire_values(r) for r in expected}
            c.records_expected += len(expected)
            stored_records: set[int] = set()
            incomplete: set[int] = set()
            for channel_id, point in CHANNELS:
                key = keys.get((chamber, channel_id))
                rows = (
                    []
                    if key is None
                    else conn.execute(
                        select(
                            samples.c.sequence,
                            samples.c.ts_us,
                            samples.c.clock_offset_us,
                            samples.c.raw_value,
                        ).where(
                            (samples.c.channel_key == key) & (samples.c.time_source == "logger")
                        )
                    ).all()
                )
                by_sequence: dict[int | None, list[Any]] = defaultdict(list)
                for row in rows:
                    by_sequence[row.sequence].append(row)
                for sequence, found in by_sequence.items():
                    extra = len(found) - 1 if sequence in known else len(found)
                    if extra:
                        c.duplicates += extra
                        c.example(
                            "duplicate",
                            logger=address,
                            channel=channel_id,
                            sequence=sequence,
                            rows=len(found),
                        )
                    if sequence in known:
                        stored_records.add(sequence)
                for record in expected:
                    c.samples_expected += 1
                    hits = by_sequence.get(record.sequence)
                    if not hits:
                        c.lost += 1
                        incomplete.add(record.sequence)
                        c.example(
                            "lost",
                            logger=address,
                            channel=channel_id,
                            sequence=record.sequence,
                            **attribute(address, record.sequence),
                        )
                        continue
                    c.samples_stored += 1
                    row = hits[0]
                    want = values[record.sequence][point]
                    got = row.raw_value
                    value_ok = (got is None and math.isnan(want)) or (
                        got is not None and not math.isnan(want) and got == want
                    )
                    logger_time = (
                        None if row.clock_offset_us is None else row.ts_us + row.clock_offset_us
                    )
                    time_ok = logger_time == record.timestamp * 1_000_000
                    if not value_ok or not time_ok:
                        c.mismatched += 1
                        c.mismatched_values += not value_ok
                        c.mismatched_times += not time_ok
                        c.example(
                            "mismatched",
                            logger=address,
                            channel=channel_id,
                            sequence=record.sequence,
                            raw_value=got,
                            expected=None if math.isnan(want) else want,
                            logger_time_us=logger_time,
                            expected_time_us=record.timestamp * 1_000_000,
                            **attribute(address, record.sequence),
                        )
            c.records_stored += len(stored_records)
            c.lost_records += len(incomplete)
    return c


def _agree(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= 1e-9 * max(scale, abs(a), abs(b), 1e-300)


def check_rollups(engine: Engine) -> dict[str, int]:
    """Each rollup tier against the aggregates recomputed from the raw samples: mismatching
    buckets per tier (a bucket missing on either side counts)."""
    out: dict[str, int] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(samples.c.channel_key, samples.c.ts_us, samples.c.value).where(
                samples.c.quality.in_(sorted(VALUED)) & samples.c.value.is_not(None)
            )
        ).all()
        for tier in TIERS:
            width = tier.width_us
            want: dict[tuple[int, int], list[Any]] = {}
            for key, ts, value in rows:
                b = want.setdefault(
                    (key, ts // width * width), [0, [], math.inf, -math.inf, None, None]
                )
                b[0] += 1
                b[1].append(value)
                b[2], b[3] = min(b[2], value), max(b[3], value)
                if b[4] is None or ts < b[4][0]:
                    b[4] = (ts, value)
                if b[5] is None or ts > b[5][0]:
                    b[5] = (ts, value)
            table = rollup_tables[tier.name]
            have = {(r.channel_key, r.bucket_us): r for r in conn.execute(select(table))}
            bad = len(set(want) ^ set(have))
            for k in set(want) & set(have):
                n, vals, lo, hi, first, last = want[k]
                r = have[k]
                scale = math.fsum(abs(v) for v in vals)
                if not (
                    r.sample_count == n
                    and _agree(r.value_sum, math.fsum(vals), scale)
                    and r.value_min == lo
                    and r.value_max == hi
                    and (r.first_ts_us, r.first_value) == first
                    and (r.last_ts_us, r.last_value) == last
                ):
                    bad += 1
            out[tier.name] = bad
    return out


def check_unique(engine: Engine, is_sqlite: bool) -> dict[str, Any]:
    with engine.connect() as conn:
        if is_sqlite:
            result = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            return {"integrity_check": "; ".join(result), "ok": result == ["ok"]}
        twice_seq = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT channel_key, sequence FROM samples WHERE sequence IS "
            "NOT NULL GROUP BY channel_key, sequence HAVING count(*) > 1) d"
        ).scalar_one()
        twice_ts = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT channel_key, ts_us FROM samples "
            "GROUP BY channel_key, ts_us HAVING count(*) > 1) d"
        ).scalar_one()
        invalid = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relname = 'samples' AND c.relnamespace = current_schema()::regnamespace "
            "AND NOT (i.indisvalid AND i.indisready)"
        ).scalar_one()
        ok = twice_seq == 0 and twice_ts == 0 and invalid == 0
        return {
            "duplicate_sequences": twice_seq,
            "duplicate_times": twice_ts,
            "invalid_indexes": invalid,
            "ok": ok,
        }


def spool_left(data_dir: Path) -> int | None:
    """Entries left in the spool (None: no spool file)."""
    path = data_dir / "spool.db"
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])
    finally:
        conn.close()


# --- the run --------------------------------------------------------------------------------


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
# The simulated clock runs ten times as fast as the host's: its offset is meant to grow.
clock_offset_limit_s = 1e12
clock_drift_limit_ppm = 1e12

{binds}"""
        for a in addresses
    )
    return f"""# Written by benchmarks/crash.py
data_dir = "{target.data_dir.as_posix()}"
ring_size = 100

[store]
flush_interval_s = {FLUSH_INTERVAL_S}
batch_size = 500
{target.config_lines()}
{devices}"""


@dataclass
class Kill:
    index: int
    mode: str
    phase: str
    uptime_s: float
    exit_code: int
    newest: dict[int, int]  # each logger's newest record at the kill
    snapshot: dict[str, Any] | None


class Harness:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = work
        self.addresses = list(range(1, args.loggers + 1))
        self.target = StoreTarget(
            args.store,
            work / "data",
            f"loggerd_crash_{uuid.uuid4().hex[:12]}" if args.store == "postgresql" else None,
        )
        self.config = work / "loggerd.toml"
        self.log = work / "loggerd.log"
        self.kills: list[Kill] = []
        self.exit_codes: Counter[int] = Counter()
        self.starts = 0
        self.postgres_restarts: list[dict[str, Any]] = []
        self.stalls = 0
        self.clean_stops = 0  # stopping mode: loggerd had stopped before the SIGKILL came
        self.daemon: DaemonProcess | None = None
        self.recording = RecordingMemory()
        # What to do once the kill is done (let go of a held store).
        self._after_kill: Callable[[], None] | None = None

    # -- daemon lifetime --

    def start_daemon(self) -> DaemonProcess:
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
            f"kill {len(self.kills)}/{self.args.kills} (aimed at {mode}): hit {phase} after "
            f"{uptime:.2f} s up; exit code {code}; loggers at {newest}; {_brief(snapshot)}"
        )
        return True

    # -- aimed kills --

    def wait_health(
        self, d: DaemonProcess, until: Callable[[dict[str, Any]], bool], timeout_s: float
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

    def aim_backfill(self, d: DaemonProcess) -> dict[str, Any] | None:
        self.ready(d)
        return self.wait_health(d, downloading, 5.0)

    def aim_uniform(self, d: DaemonProcess) -> dict[str, Any] | None:
        self.ready(d)
        time.sleep(self.rng.uniform(0.05, 3.0))  # sync-ok: the random kill moment itself
        return d.health()

    def aim_startup(self, d: DaemonProcess) -> dict[str, Any] | None:
        # loggerd takes about a second to import and open everything before the API is up.
        time.sleep(self.rng.uniform(0.05, 1.3))  # sync-ok: the random kill moment itself
        return d.health() if d.poll_ready() else None

    def aim_drain(self, d: DaemonProcess) -> dict[str, Any] | None:
        """Hold the store until the writer is behind, then kill either while it is still held
        (the spool growing, a flush waiting for the lock) or just after it is let go (the
        backlog being written)."""
        self.ready(d)
        # Let the start-up download finish first, so the kill hits the writer, not a download.
        self.wait_health(d, lambda h: not downloading(h), 5.0)
        release = threading.Event()
        held = threading.Event()

        def hold() -> None:
            with self.target.held():
                held.set()
                release.wait(30)

        self.stalls += 1
        holder = threading.Thread(target=hold, name="crash-store-held", daemon=True)
        holder.start()
        if not held.wait(30):
            raise RuntimeError("could not take the store's lock within 30 s")
        # Well behind, so that it still is for a moment after the store is let go.
        behind = self.wait_health(
            d, lambda h: writer_behind(h) and h["writer"]["lag_s"] > 2 * BEHIND_S, 10.0
        )
        if behind is None or not writer_behind(behind):
            note("the writer did not fall behind while the store was held")
        if self.rng.random() < 0.5:
            snapshot = d.health()  # still held
        else:
            release.set()
            holder.join(60)
            time.sleep(self.rng.uniform(0.0, 0.1))  # sync-ok: the random kill moment itself
            snapshot = d.health()

        def let_go() -> None:
            release.set()
            holder.join(60)

        self._after_kill = let_go
        return snapshot

    def aim_stopping(self, d: DaemonProcess) -> dict[str, Any] | None:
        """SIGTERM, then SIGKILL while loggerd stops (pollers cancelled, the writer flushing)."""
        self.ready(d)
        time.sleep(self.rng.uniform(0.3, 2.0))  # sync-ok: the random kill moment itself
        snapshot = d.health()
        with contextlib.suppress(ProcessLookupError):
            os.kill(d.proc.pid, signal.SIGTERM)
        time.sleep(self.rng.uniform(0.0, 0.1))  # sync-ok: the random kill moment itself
        return snapshot

    # -- PostgreSQL restart under a running loggerd --

    def postgres_restart(self, d: DaemonProcess) -> None:
        self.ready(d)
        before = d.health()
        failed_before = before["writer"]["failed_flushes"] if before else 0
        took_s = restart_postgres()
        note(f"PostgreSQL restarted in {took_s:.1f} s under a running loggerd")
        # The daemon must ride it out: its writer back to ok, its spool drained to normal.
        after = self.wait_health(
            d,
            lambda h: h["writer"]["state"] == "ok" and (h["writer"].get("lag_s") or 0) < BEHIND_S,
            60.0,
        )
        recovered = bool(
            after
            and after["writer"]["state"] == "ok"
            and (after["writer"].get("lag_s") or 0) < BEHIND_S
        )
        self.postgres_restarts.append(
            {
                "restart_s": round(took_s, 2),
                "failed_flushes": (after["writer"]["failed_flushes"] - failed_before)
                if after
                else None,
                "recovered": recovered,
            }
        )
        outcome = "recovered" if recovered else "did NOT recover"
        note(f"loggerd {outcome} after the PostgreSQL restart")

    # -- the whole scenario --

    def run(self, sim: SimThread) -> dict[str, Any]:
        args = self.args
        aims = {
            "backfill": self.aim_backfill,
            "drain": self.aim_drain,
            "uniform": self.aim_uniform,
            "startup": self.aim_startup,
            "stopping": self.aim_stopping,
        }
        pg_restart_at = args.kills // 2 if args.store == "postgresql" else None
        # A first download with something in it: records pile up before the first start (with
        # --wrap, fewer than the memory holds: records no loggerd ever saw are no loss of it).
        first_wait_s = self.rng.uniform(0.3, 0.8) if args.wrap else self.rng.uniform(3.0, 6.0)
        time.sleep(first_wait_s)  # sync-ok: records accumulate in the loggers
        d = self.start_daemon()
        attempt = 0
        while len(self.kills) < args.kills:
            mode = MODES[attempt % len(MODES)]
            attempt += 1
            self._after_kill = None
            if len(self.kills) == pg_restart_at and not self.postgres_restarts:
                self.postgres_restart(d)
            snapshot = aims[mode](d)
            self.kill(mode, snapshot, sim)
            if self._after_kill is not None:
                self._after_kill()
            longer = MODES[attempt % len(MODES)] == "backfill"
            down_s = self.rng.uniform(3.0, 6.0) if longer else self.rng.uniform(0.2, 3.0)
            time.sleep(down_s)  # sync-ok: the downtime, in which records pile up
            d = self.start_daemon()
        self.ready(d)
        return self.finish(d, sim)

    def finish(self, d: DaemonProcess, sim: SimThread) -> dict[str, Any]:
        truth = sim.freeze()
        if self.args.wrap:
            # Every record ever taken, not only those the ring memory still holds.
            truth = {a: list(self.recording.records[a]) for a in self.addresses}
        newest = {a: (records[-1].sequence if records else 0) for a, records in truth.items()}
        note(f"loggers stopped at records {newest}; waiting for loggerd to catch up")

        def caught_up(h: dict[str, Any]) -> bool:
            cursors = {
                int(dev["device_id"].split("-")[1]): (dev.get("backfill") or {}).get("cursor")
                for dev in h["devices"]
            }
            return (
                all(cursors.get(a) == n for a, n in newest.items()) and h["writer"]["queued"] == 0
            )

        settle_started = time.monotonic()
        last = self.wait_health(d, caught_up, self.args.settle_timeout)
        settled = bool(last and caught_up(last))
        settle_s = time.monotonic() - settle_started
        note(f"{'caught up' if settled else 'NOT caught up'} in {settle_s:.1f} s; SIGTERM")
        if not settled:
            dump = self.work / "last_health.json"
            dump.write_text(json.dumps(last, indent=1), "utf-8")
            note(f"loggerd's last health: {dump}")
        final_code = d.terminate(90)
        self.exit_codes[final_code] += 1
        return self.compare(truth, settled, settle_s, final_code, last)

    def attribute(self, address: int, sequence: int) -> dict[str, Any]:
        """Which run took a record: the first kill at which the logger held it."""
        for k in self.kills:
            if k.newest.get(address, 0) >= sequence:
                return {
                    "taken_before_kill": k.index + 1,
                    "kill_phase": k.phase,
                    "kill_mode": k.mode,
                }
        return {"taken_before_kill": None}

    def compare(
        self,
        truth: dict[int, list[Record]],
        settled: bool,
        settle_s: float,
        final_code: int,
        last_health: dict[str, Any] | None,
    ) -> dict[str, Any]:
        engine = self.target.read_only_engine()
        try:
            with engine.connect() as conn:
                stored_gaps = conn.execute(select(gaps)).all()
                event_counts = Counter(r.kind for r in conn.execute(select(events.c.kind)))
            in_gaps: dict[int, set[int]] = defaultdict(set)
            for g in stored_gaps:
                in_gaps[int(g.device_id.split("-")[1])].update(
                    range(g.first_sequence, g.last_sequence + 1)
                )
            gap_check: dict[str, Any] = {}
            if self.args.wrap:
                # Exactly the records no one could read: overwritten before any run read them.
                missing = {}
                for a, records in truth.items():
                    taken = {r.sequence for r in records}
                    missing[a] = taken - self.read_sequences(engine, a)
                gap_check = {
                    "gaps_match_unread": all(in_gaps.get(a, set()) == missing[a] for a in truth),
                    "unread_records": sum(len(m) for m in missing.values()),
                }
            c = compare_samples(engine, truth, in_gaps if self.args.wrap else {}, self.attribute)
            rollups = check_rollups(engine)
            unique = check_unique(engine, self.target.engine_name == "sqlite")
        finally:
            engine.dispose()
        spool_entries = spool_left(self.target.data_dir)
        integrity_ok = bool(unique["ok"] and not any(rollups.values()) and spool_entries == 0)
        phases = Counter(k.phase for k in self.kills)
        met = (
            c.lost == 0
            and c.duplicates == 0
            and c.mismatched == 0
            and integrity_ok
            and len(self.kills) == self.args.kills
            and final_code == 0
            and settled
            # Without --wrap no record is ever overwritten: any gap would be a false alarm.
            and (gap_check.get("gaps_match_unread", False) if self.args.wrap else not stored_gaps)
            and (
                self.args.store != "postgresql"
                or all(p["recovered"] for p in self.postgres_restarts)
            )
        )
        return {
            "kills": len(self.kills),
            "kill_phases": {p: phases.get(p, 0) for p in PHASES},
            "kill_modes": dict(Counter(k.mode for k in self.kills)),
            "kills_while_downloading": sum(
                1 for k in self.kills if k.snapshot is not None and downloading(k.snapshot)
            ),
            "restarts": self.starts - 1,
            "clean_stops_before_kill": self.clean_stops,
            "exit_codes": {str(k): v for k, v in sorted(self.exit_codes.items())},
            "final_exit_code": final_code,
            "store": self.args.store,
            "faults": self.args.faults or None,
            "loggers": len(self.addresses),
            "channels_per_logger": len(CHANNELS),
            "records_expected": c.records_expected,
            "records_stored": c.records_stored,
            "samples_expected": c.samples_expected,
            "samples_stored": c.samples_stored,
            "lost": c.lost,
            "lost_records": c.lost_records,
            "duplicates": c.duplicates,
            "mismatched": c.mismatched,
            "mismatched_values": c.mismatched_values,
            "mismatched_times": c.mismatched_times,
            "host_rows": c.host_rows,
            "integrity_ok": integrity_ok,
            "integrity": {
                **unique,
                "rollup_mismatched_buckets": rollups,
                "spool_entries_left": spool_entries,
            },
            "gaps": len(stored_gaps),
            "gap_records": sum(g.last_sequence - g.first_sequence + 1 for g in stored_gaps),
            **gap_check,
            "events": dict(sorted(event_counts.items())),
            "postgres_restarts": len(self.postgres_restarts),
            "postgres_restart_details": self.postgres_restarts,
            "store_stalls": self.stalls,
            "settled": settled,
            "settle_s": round(settle_s, 2),
            "writer_at_end": None
            if last_health is None
            else {
                k: last_health["writer"].get(k)
                for k in ("written", "duplicates", "conflicts", "failed_flushes")
            },
            "examples": c.examples,
            "seed": self.args.seed,
            "targets_met": met,
        }

    def read_sequences(self, engine: Engine, address: int) -> set[int]:
        """Sequences of a logger stored on at least one channel."""
        with engine.connect() as conn:
            keys = [
                r.key
                for r in conn.execute(
                    select(channels.c.key).where(channels.c.chamber_id == f"chamber-{address}")
                )
            ]
            return {
                int(r.sequence)
                for r in conn.execute(
                    select(samples.c.sequence)
                    .where(samples.c.channel_key.in_(keys) & samples.c.sequence.is_not(None))
                    .distinct()
                )
            }


def loggerd_version() -> str:
    """The commit loggerd runs from, "-dirty" when its code has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src", "sim", "drivers"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs (default 10)")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--faults",
        default="",
        help="link faults, FaultRates.parse syntax; on TCP drop, late, busy and reboot apply "
        "(e.g. drop=0.02,late=0.01,busy=0.01)",
    )
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--loggers", type=int, choices=[1, 2], default=2)
    parser.add_argument(
        "--wrap",
        action="store_true",
        help="loggers with a small memory (--capacity) that wraps while loggerd is down: the "
        "overwritten records must be exactly the gaps",
    )
    parser.add_argument("--capacity", type=int, default=None, help="records per logger memory")
    parser.add_argument("--seed", type=int, default=None, help="kill moments (default: random)")
    parser.add_argument("--settle-timeout", type=float, default=180.0, metavar="S")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and schema")
    args = parser.parse_args(argv)
    if args.kills < 0:
        parser.error("--kills must be >= 0")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    if args.wrap and args.capacity is None:
        args.capacity = 60  # six seconds at 10 Hz: a longer downtime overwrites records
    faults = FaultRates.parse(args.faults) if args.faults else None

    started = time.monotonic()
    commit = loggerd_version()
    work = Path(tempfile.mkdtemp(prefix="loggerd-crash-"))
    harness = Harness(args, work)
    sim = SimThread(
        SimOptions(
            speed=10.0,
            interval_s=1,
            addresses=tuple(harness.addresses),
            capacity=args.capacity,
            tcp=True,
            rtu=False,
            faults=faults,
            fault_seed=args.fault_seed,
            seed=args.seed,
        )
    )
    note(f"work folder {work}; store {args.store}; seed {args.seed}")
    try:
        harness.target.create()
    except LoggerdError as exc:  # PostgreSQL down: a failed run, said plainly
        note(f"cannot prepare the store: {exc}")
        shutil.rmtree(work, ignore_errors=True)
        print(json.dumps({"error": str(exc), "store": args.store, "targets_met": False}))
        return 1
    tcp_url = sim.start()
    if args.wrap:
        harness.recording = RecordingMemory()
        harness.recording.attach(sim)
    harness.config.write_text(config_text(harness.target, tcp_url, harness.addresses), "utf-8")
    try:
        try:
            result = harness.run(sim)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            # loggerd that does not come back after a kill is a finding, not a harness crash.
            note(f"the run stopped: {exc}")
            result = {
                "error": str(exc),
                "kills": len(harness.kills),
                "kill_phases": dict(Counter(k.phase for k in harness.kills)),
                "exit_codes": {str(k): v for k, v in sorted(harness.exit_codes.items())},
                "store": args.store,
                "seed": args.seed,
                "targets_met": False,
            }
    finally:
        if harness.daemon is not None and harness.daemon.alive():
            harness.daemon.kill()
        sim.stop()
        if not args.keep:
            harness.target.drop()
            if result["targets_met"]:
                shutil.rmtree(work, ignore_errors=True)
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["loggerd_commit"] = commit
    result["work_dir"] = str(work) if work.exists() else None
    print(json.dumps(result), flush=True)
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
