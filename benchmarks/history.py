"""History at scale: ingest through loggerd's writer on both engines, a 30-day chart through the
HTTP API, large history responses and exports, and the live ring's memory.

    python -m benchmarks.history [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--rounds 2]
        [--only ingest|query|responses|ring ...]

`--only` runs just the parts named (repeat it for several), and prints only their keys and the
targets: `--only responses` measures the large JSON answers without the ingest's minutes.

1. Ingest: a logger's memory downloaded in one burst, 10 channels x 3 days at 1 Hz (2.59 M
   samples, with record sequence numbers), handed in chunks of 5,000 to the writer of a
   `Daemon` built from a configuration with the defaults: the writer the daemon ships, which
   spools every batch on local disk before the store gets it (batches of 5,000, one
   transaction each, rollups maintained). `*_ingest_samples_per_s` is that path. Beside it
   the same Writer without a spool (`*_ingest_unspooled_*`, what tests use), and baselines
   into the same table in a fresh database, from ready-made parameter tuples (their
   conversion is not timed): sqlite3 `executemany` in WAL mode with synchronous=FULL, and
   psycopg binary COPY, both 5,000 rows a transaction. Each runs `--rounds` times,
   alternating; the best run of each is compared.
2. Query: one channel, 30 days at 1 Hz (2.59 M samples) in SQLite, requested with
   max_points=2000 from a real uvicorn server over a keep-alive HTTP connection; p50 of 30
   requests. Baseline: the same buckets computed by a raw scan (SQL GROUP BY on samples),
   without HTTP; the result is checked equal.
3. Responses: 14 channels x 24 h at 1 Hz in SQLite, from the same uvicorn server, one client:
   one hour of all 14 channels as JSON (raw, 50,400 points; p50 and p95 of 20 requests) and of
   one channel (3,600 points, about the size of the issue's 877 kB answer), and
   24 h of 8 channels (691,200 samples) streamed as CSV and as Parquet (median of 3 whole
   downloads); the same 24 h as JSON without max_points must answer 422 with the max_points
   to use, without reading the rows.
4. Ring: resident memory added by a RingBuffer of 100 channels x 86,400 samples, filled, in a
   fresh process (MiB).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import http.client
import io
import json
import math
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from loggerd.core.channels import Channel
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.service.config import parse_config
from loggerd.service.daemon import Daemon
from loggerd.storage.store import COPY_SAMPLES, COPY_TYPES, SAMPLE_COLUMNS, Store, sqlite_url
from loggerd.storage.writer import Writer

T0_US = 1_780_000_000_000_000 - 1_780_000_000_000_000 % 86_400_000_000  # a UTC midnight
CHUNK = 5000


def burst(channels: int, seconds: int) -> list[Sample]:
    """A logger's memory: one record a second, all channels per record, time-major."""
    out = []
    for t in range(seconds):
        ts = T0_US + t * 1_000_000
        for c in range(channels):
            v = -40.0 + 30 * math.sin(t / 3000 + c) + (t % 17) / 100
            out.append(Sample("bench", f"t{c}", ts, v, v, Quality.GOOD, TimeSource.LOGGER, t))
    return out


def channel_rows(channels: int) -> list[Channel]:
    return [
        Channel("bench", f"t{c}", "logger", f"temperature_{c}", "temperature", "degC")
        for c in range(channels)
    ]


def tuples(store: Store, data: list[Sample]) -> list[tuple[Any, ...]]:
    return list(store.sample_writer.rows(data, None))


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank: the smallest value with at least p % of the
    values at or below it (p95 of 20 values is the 19th smallest, of 30 the 29th)."""
    if not values or not 0 < p <= 100:
        raise ValueError("need values and 0 < p <= 100")
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


async def _submit_all(writer: Writer, data: list[Sample]) -> float:
    """Samples per second from the first submit until stop() has written them all."""
    await writer.start()
    t = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        await writer.submit(data[i : i + CHUNK])
    await writer.stop()
    elapsed = time.perf_counter() - t
    assert writer.written == len(data) and writer.duplicates == 0
    return len(data) / elapsed


def unspooled_ingest(store: Store, data: list[Sample]) -> float:
    """A Writer with the daemon's settings but no spool: everything queued in memory."""
    return asyncio.run(_submit_all(Writer(store), data))


def bench_daemon(data_dir: Path, channels: int, store_toml: str = "") -> Daemon:
    """A daemon built from a configuration (all defaults but the store's), its store opened
    with the benchmark's channels; it polls nothing."""
    config = parse_config(
        f'data_dir = "{data_dir.as_posix()}"\n{store_toml}[[chamber]]\nid = "bench"\n'
        '[[chamber.device]]\nid = "logger"\ndriver = "simulated"\n'
        '[[chamber.device.channel]]\nid = "t0"\npoint = "temperature_1"\n',
        "bench.toml",
    )
    daemon = Daemon(config)
    if not daemon.store.is_sqlite:
        daemon.store.upgrade()  # `loggerd db upgrade`, an operator's step on PostgreSQL
    daemon.store.open({"bench": None}, channel_rows(channels))
    return daemon


def close_daemon(daemon: Daemon) -> None:
    daemon.spool.close()
    daemon.store.close()
    daemon.live.close()


def spooled_ingest(daemon: Daemon, data: list[Sample]) -> float:
    """Through the daemon's own writer: each batch in its spool on disk before it is
    acknowledged, drained into the store behind."""
    rate = asyncio.run(_submit_all(daemon.writer, data))
    assert daemon.spool.pending_count() == 0
    return rate


def sqlite_store(tmp: Path, name: str, channels: int) -> Store:
    d = tmp / name
    d.mkdir()
    store = Store(sqlite_url(d))
    store.open({"bench": None}, channel_rows(channels))
    return store


def sqlite_raw(tmp: Path, name: str, channels: int, data: list[Sample]) -> float:
    store = sqlite_store(tmp, name, channels)  # the same schema, made the same way
    rows = tuples(store, data)
    path = store.engine.url.database
    store.close()
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    # The same columns loggerd writes, so the baseline does the same work per row.
    marks = ", ".join("?" * (SAMPLE_COLUMNS.count(",") + 1))
    sql = f"INSERT INTO samples ({SAMPLE_COLUMNS}) VALUES ({marks})"
    t = time.perf_counter()
    for i in range(0, len(rows), CHUNK):
        db.execute("BEGIN")
        db.executemany(sql, rows[i : i + CHUNK])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - t
    db.close()
    return len(rows) / elapsed


def pg_store(url: str, channels: int) -> Store:
    store = Store(url, schema=f"bench_{uuid.uuid4().hex[:12]}")
    store.upgrade()
    store.open({"bench": None}, channel_rows(channels))
    return store


def pg_drop(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{store.schema}" CASCADE')
    store.close()


def pg_raw(url: str, channels: int, data: list[Sample]) -> float:
    store = pg_store(url, channels)
    rows = tuples(store, data)
    fairy = store.engine.raw_connection()
    conn = fairy.driver_connection
    assert conn is not None
    copy_sql = COPY_SAMPLES
    types = COPY_TYPES
    t = time.perf_counter()
    for i in range(0, len(rows), CHUNK):
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.set_types(types)
            for r in rows[i : i + CHUNK]:
                copy.write_row(r)
        conn.commit()
    elapsed = time.perf_counter() - t
    fairy.close()
    pg_drop(store)
    return len(rows) / elapsed


def ingest(tmp: Path, pg_url: str, rounds: int) -> dict[str, float]:
    channels, seconds = 10, 3 * 86400
    data = burst(channels, seconds)
    print(f"ingest: {len(data):,} samples ({channels} channels x {seconds} s)", flush=True)
    runs: dict[str, list[float]] = {}

    def ran(name: str, rate: float) -> None:
        runs.setdefault(name, []).append(rate)

    for round_ in range(rounds):
        daemon = bench_daemon(tmp / f"daemon{round_}", channels)
        ran("sq_spooled", spooled_ingest(daemon, data))
        close_daemon(daemon)
        store = sqlite_store(tmp, f"writer{round_}", channels)
        ran("sq_unspooled", unspooled_ingest(store, data))
        store.close()
        ran("sq_raw", sqlite_raw(tmp, f"raw{round_}", channels, data))
        print(
            f"  sqlite: spooled {runs['sq_spooled'][-1]:,.0f}/s, unspooled "
            f"{runs['sq_unspooled'][-1]:,.0f}/s, executemany {runs['sq_raw'][-1]:,.0f}/s",
            flush=True,
        )
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        daemon = bench_daemon(
            tmp / f"pg_daemon{round_}",
            channels,
            f'[store]\nurl = "{pg_url}"\nschema = "{schema}"\n',
        )
        try:
            ran("pg_spooled", spooled_ingest(daemon, data))
        finally:
            with daemon.store.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            close_daemon(daemon)
        store = pg_store(pg_url, channels)
        ran("pg_unspooled", unspooled_ingest(store, data))
        pg_drop(store)
        ran("pg_copy", pg_raw(pg_url, channels, data))
        print(
            f"  postgres: spooled {runs['pg_spooled'][-1]:,.0f}/s, unspooled "
            f"{runs['pg_unspooled'][-1]:,.0f}/s, COPY {runs['pg_copy'][-1]:,.0f}/s",
            flush=True,
        )
    best = {name: max(rates) for name, rates in runs.items()}
    return {
        "sqlite_ingest_samples_per_s": round(best["sq_spooled"]),
        "sqlite_ingest_spooled_samples_per_s": round(best["sq_spooled"]),
        "sqlite_ingest_unspooled_samples_per_s": round(best["sq_unspooled"]),
        "sqlite_raw_executemany_samples_per_s": round(best["sq_raw"]),
        "sqlite_ingest_ratio_vs_raw": round(best["sq_spooled"] / best["sq_raw"], 3),
        "postgres_ingest_samples_per_s": round(best["pg_spooled"]),
        "postgres_ingest_unspooled_samples_per_s": round(best["pg_unspooled"]),
        "postgres_raw_copy_samples_per_s": round(best["pg_copy"]),
        "postgres_ingest_ratio_vs_copy": round(best["pg_spooled"] / best["pg_copy"], 3),
    }


def _serve(app: Any) -> tuple[Any, threading.Thread, int]:
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, port


def query(tmp: Path) -> dict[str, float]:
    from loggerd.api.app import create_app

    days = 30
    data = burst(1, days * 86400)
    d = tmp / "query"
    d.mkdir()
    daemon = bench_daemon(d, 1)
    t = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        daemon.store.write(data[i : i + CHUNK])
    print(f"query: {len(data):,} samples stored in {time.perf_counter() - t:.1f} s", flush=True)
    start_us, end_us = T0_US, T0_US + days * 86400 * 1_000_000
    params = urlencode(
        {
            "channel": "t0",
            "start": "2026-05-28T00:00:00Z",
            "end": "2026-06-27T00:00:00Z",
            "max_points": 2000,
        }
    )
    assert start_us == 1_779_926_400_000_000  # the ISO times above
    server, thread, port = _serve(create_app(daemon.ports()))
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    body: dict[str, Any] = {}
    try:
        for _ in range(31):
            t = time.perf_counter()
            conn.request("GET", f"/api/v1/chambers/bench/history?{params}")
            response = conn.getresponse()
            raw = response.read()
            times.append(time.perf_counter() - t)
            assert response.status == 200, raw
            body = json.loads(raw)
    finally:
        conn.close()
        server.should_exit = True
        thread.join()
    times = times[1:]  # the first warms the catalog and the page cache
    series = body["series"]["t0"]
    width_us = int(series["bucket_width_s"] * 1e6)
    first = body["points"][0]["timestamp"]
    origin_us = start_us  # a midnight: aligned to every rollup
    assert first == "2026-05-28T00:00:00Z", first

    key = daemon.store.channel("bench", "t0").key
    scan_sql = (
        "SELECT (ts_us - ?) / ? AS b, count(value), sum(value), min(value), max(value) "
        "FROM samples WHERE channel_key = ? AND ts_us >= ? AND ts_us < ? "
        "AND value IS NOT NULL AND quality = 'good' GROUP BY b ORDER BY b"
    )
    path = daemon.store.engine.url.database
    db = sqlite3.connect(str(path))
    scans = []
    for _ in range(3):
        t = time.perf_counter()
        buckets = db.execute(scan_sql, (origin_us, width_us, key, start_us, end_us)).fetchall()
        scans.append(time.perf_counter() - t)
    db.close()
    close_daemon(daemon)
    points = body["points"]
    assert len(points) == len(buckets) <= 2000
    for p, (_, n, total, lo, hi) in zip(points, buckets, strict=True):
        assert (p["count"], p["min"], p["max"]) == (n, lo, hi)
        assert math.isclose(p["value"], total / n, rel_tol=1e-9)
    p50 = statistics.median(times)
    scan = statistics.median(scans)
    print(
        f"  max_points=2000: {len(points)} points from rollup {series['source']} "
        f"({series['bucket_width_s']:g} s buckets), p50 {p50 * 1e3:.1f} ms over HTTP; "
        f"raw scan {scan * 1e3:.0f} ms",
        flush=True,
    )
    return {
        "query_30d_p50_ms": round(p50 * 1e3, 2),
        "query_30d_p95_ms": round(percentile(times, 95) * 1e3, 2),
        "query_30d_points": len(points),
        "query_raw_scan_ms": round(scan * 1e3, 1),
        "query_speedup_vs_raw_scan": round(scan / p50, 1),
    }


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _reset_peak_rss() -> None:
    """Start VmHWM (peak resident memory) again from the current size (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes, float]:
    """Status, body and seconds from request to last byte."""
    t = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return response.status, body, time.perf_counter() - t


def responses(tmp: Path) -> dict[str, Any]:
    from loggerd.api.app import create_app
    from loggerd.core.times import iso

    channels, seconds = 14, 86400
    d = tmp / "responses"
    d.mkdir()
    daemon = bench_daemon(d, channels)
    data = burst(channels, seconds)
    t = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        daemon.store.write(data[i : i + CHUNK])
    print(
        f"responses: {len(data):,} samples ({channels} channels x 24 h) stored in "
        f"{time.perf_counter() - t:.1f} s",
        flush=True,
    )
    del data
    url = "/api/v1/chambers/bench/history?"
    noon_us = T0_US + 12 * 3600 * 1_000_000
    hour = urlencode({"start": iso(noon_us), "end": iso(noon_us + 3600 * 1_000_000)})
    eight = [("channel", f"t{c}") for c in range(8)]
    day = urlencode([*eight, ("start", iso(T0_US)), ("end", iso(T0_US + seconds * 1_000_000))])
    server, thread, port = _serve(create_app(daemon.ports()))
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out: dict[str, Any] = {}
    try:
        times = []
        for _ in range(21):
            status, body, elapsed = _get(conn, url + hour)
            assert status == 200, body[:300]
            times.append(elapsed)
        points = json.loads(body)["points"]
        assert len(points) == channels * 3600, len(points)
        assert points[0]["timestamp"] == iso(noon_us) and points[0]["channel"] == "t0"
        times = times[1:]  # the first warms the catalog and the page cache
        out["history_1h_14ch_json_p50_ms"] = round(statistics.median(times) * 1e3, 1)
        out["history_1h_14ch_json_p95_ms"] = round(percentile(times, 95) * 1e3, 1)
        out["history_1h_14ch_json_bytes"] = len(body)
        print(
            f"  1 h x 14 channels, JSON ({len(body) / 1e3:,.0f} kB): p50 "
            f"{out['history_1h_14ch_json_p50_ms']} ms, p95 {out['history_1h_14ch_json_p95_ms']} ms",
            flush=True,
        )
        times = []
        for _ in range(21):
            status, body, elapsed = _get(conn, f"{url}{hour}&channel=t0")
            assert status == 200, body[:300]
            times.append(elapsed)
        out["history_1h_1ch_json_p50_ms"] = round(statistics.median(times[1:]) * 1e3, 1)
        out["history_1h_1ch_json_bytes"] = len(body)
        print(
            f"  1 h x 1 channel, JSON ({len(body) / 1e3:,.0f} kB): p50 "
            f"{out['history_1h_1ch_json_p50_ms']} ms",
            flush=True,
        )
        status, body, elapsed = _get(conn, url + day)
        out["history_24h_8ch_json_status"] = status
        out["history_24h_8ch_json_s"] = round(elapsed, 3)
        print(f"  24 h x 8 channels, JSON: {status} in {elapsed:.3f} s: {body[:200]!r}")
        for fmt in ("csv", "parquet"):
            times, peaks = [], []
            for _ in range(3):
                rss_kib = _status_kib("VmRSS")
                _reset_peak_rss()
                status, body, elapsed = _get(conn, f"{url}{day}&format={fmt}")
                assert status == 200, body[:300]
                peaks.append((_status_kib("VmHWM") - rss_kib - len(body) // 1024) / 1024)
                times.append(elapsed)
            if fmt == "csv":
                rows = list(csv.reader(io.StringIO(body.decode())))
                assert rows[0][:2] == ["timestamp", "channel"]
                assert rows[1][:2] == [iso(T0_US), "t0"]
                count = len(rows) - 1
            else:
                import pyarrow.parquet as pq

                count = pq.read_metadata(io.BytesIO(body)).num_rows
            assert count == 8 * seconds, count
            out[f"export_24h_8ch_{fmt}_s"] = round(statistics.median(times), 2)
            out[f"export_24h_8ch_{fmt}_mb"] = round(len(body) / 1e6, 1)
            # Beyond the body itself, which the client here holds whole.
            out[f"export_24h_8ch_{fmt}_peak_rss_mb"] = round(statistics.median(peaks), 1)
            print(
                f"  24 h x 8 channels, {fmt} ({len(body) / 1e6:.1f} MB): "
                f"{out[f'export_24h_8ch_{fmt}_s']} s, peak memory "
                f"+{out[f'export_24h_8ch_{fmt}_peak_rss_mb']} MB beside the body",
                flush=True,
            )
    finally:
        conn.close()
        server.should_exit = True
        thread.join()
        close_daemon(daemon)
    return out


RING_PROBE = """
import numpy as np
from loggerd.live.ring import RingBuffer
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
before = rss()
ring = RingBuffer(size=86_400)
ts = np.arange(86_400, dtype=np.int64) * 1_000_000 + 1_780_000_000_000_000
for c in range(100):
    ring.add_channel("c", f"ch{c}").extend(ts, np.sin(ts / 1e9) * 30 - 40)
after = rss()
assert len(ring.channel("c", "ch99")) == 86_400
print(after - before, after, ring.nbytes)
"""


def ring() -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", RING_PROBE], capture_output=True, text=True, check=True
    )
    delta, total, nbytes = (int(x) for x in out.stdout.split())
    mib = 2**20
    print(f"ring: 100 ch x 24 h at 1 Hz: +{delta / mib:.1f} MiB resident", flush=True)
    return {
        "ring_rss_mb_100ch_24h": round(delta / mib, 1),
        "ring_process_rss_mb": round(total / mib, 1),
        "ring_bytes_per_sample": round(nbytes / (100 * 86_400), 2),
    }


PARTS = ("ingest", "query", "responses", "ring")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=2, help="ingest runs of each kind")
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeat for several); default: all of them",
    )
    args = parser.parse_args()
    parts = args.only or PARTS
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result: dict[str, Any] = {}
        if "ingest" in parts:
            result.update(ingest(Path(tmp), args.pg_url, args.rounds))
        if "query" in parts:
            result.update(query(Path(tmp)))
        if "responses" in parts:
            result.update(responses(Path(tmp)))
        if "ring" in parts:
            result.update(ring())
    result.update(
        {
            "targets": {
                "sqlite_ingest_samples_per_s": ">= 50000",
                "sqlite_ingest_spooled_samples_per_s": ">= 100000",
                "sqlite_ingest_ratio_vs_raw": ">= 0.7",
                "postgres_ingest_ratio_vs_copy": ">= 0.7",
                "query_30d_p50_ms": "<= 50",
                "query_speedup_vs_raw_scan": ">= 10",
                "history_1h_14ch_json_p50_ms": "<= 60",
                "export_24h_8ch_csv_s": "<= 2",
                "history_24h_8ch_json_status": "422 (with the max_points to use)",
                "ring_rss_mb_100ch_24h": "<= 150 (MiB)",
            },
            "benchmark_s": round(time.perf_counter() - started, 1),
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
