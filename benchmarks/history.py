"""History at scale: ingest through loggerd's writer on both engines, a 30-day chart through the
HTTP API, and the live ring's memory.

    python -m benchmarks.history [--pg-url postgresql://postgres@127.0.0.1:5432/test]

1. Ingest: a logger's memory downloaded in one burst, 10 channels x 3 days at 1 Hz (2.59 M
   samples, with record sequence numbers), handed to loggerd's Writer in chunks of 5,000 with
   the default configuration (batches of 5,000, one transaction each, rollups maintained).
   Baselines in the same run, into the same table in a fresh database, from ready-made
   parameter tuples (their conversion is not timed): sqlite3 `executemany` in WAL mode with
   synchronous=FULL, and psycopg binary COPY, both 5,000 rows a transaction. Each side runs
   twice, alternating; the best run of each is compared.
2. Query: one channel, 30 days at 1 Hz (2.59 M samples) in SQLite, requested with
   max_points=2000 from a real uvicorn server over a keep-alive HTTP connection; p50 of 30
   requests. Baseline: the same buckets computed by a raw scan (SQL GROUP BY on samples),
   without HTTP; the result is checked equal.
3. Ring: resident memory added by a RingBuffer of 100 channels x 86,400 samples, filled, in a
   fresh process (MiB).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
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


def writer_ingest(store: Store, data: list[Sample]) -> float:
    async def run() -> float:
        writer = Writer(store)  # the daemon's defaults
        await writer.start()
        t = time.perf_counter()
        for i in range(0, len(data), CHUNK):
            await writer.submit(data[i : i + CHUNK])
        await writer.stop()
        elapsed = time.perf_counter() - t
        assert writer.written == len(data) and writer.duplicates == 0
        return len(data) / elapsed

    return asyncio.run(run())


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


def ingest(tmp: Path, pg_url: str) -> dict[str, float]:
    channels, seconds = 10, 3 * 86400
    data = burst(channels, seconds)
    print(f"ingest: {len(data):,} samples ({channels} channels x {seconds} s)", flush=True)
    sq_writer, sq_raw, pg_writer, pg_copy = [], [], [], []
    for round_ in range(2):
        store = sqlite_store(tmp, f"writer{round_}", channels)
        sq_writer.append(writer_ingest(store, data))
        store.close()
        sq_raw.append(sqlite_raw(tmp, f"raw{round_}", channels, data))
        print(f"  sqlite: writer {sq_writer[-1]:,.0f}/s, executemany {sq_raw[-1]:,.0f}/s")
        store = pg_store(pg_url, channels)
        pg_writer.append(writer_ingest(store, data))
        pg_drop(store)
        pg_copy.append(pg_raw(pg_url, channels, data))
        print(f"  postgres: writer {pg_writer[-1]:,.0f}/s, COPY {pg_copy[-1]:,.0f}/s", flush=True)
    return {
        "sqlite_ingest_samples_per_s": round(max(sq_writer)),
        "sqlite_raw_executemany_samples_per_s": round(max(sq_raw)),
        "sqlite_ingest_ratio_vs_raw": round(max(sq_writer) / max(sq_raw), 3),
        "postgres_ingest_samples_per_s": round(max(pg_writer)),
        "postgres_raw_copy_samples_per_s": round(max(pg_copy)),
        "postgres_ingest_ratio_vs_copy": round(max(pg_writer) / max(pg_copy), 3),
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
    from loggerd.service.config import parse_config
    from loggerd.service.daemon import Daemon

    days = 30
    data = burst(1, days * 86400)
    d = tmp / "query"
    d.mkdir()
    config = parse_config(
        f'data_dir = "{d.as_posix()}"\n[[chamber]]\nid = "bench"\n[[chamber.device]]\n'
        'id = "logger"\ndriver = "simulated"\n[[chamber.device.channel]]\nid = "t0"\n'
        'point = "temperature_1"\n',
        "bench.toml",
    )
    daemon = Daemon(config)
    daemon.store.open({"bench": None}, channel_rows(1))
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
    daemon.store.close()
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
        "query_30d_p95_ms": round(sorted(times)[int(0.95 * len(times)) - 1] * 1e3, 2),
        "query_30d_points": len(points),
        "query_raw_scan_ms": round(scan * 1e3, 1),
        "query_speedup_vs_raw_scan": round(scan / p50, 1),
    }


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result: dict[str, Any] = {}
        result.update(ingest(Path(tmp), args.pg_url))
        result.update(query(Path(tmp)))
        result.update(ring())
    result.update(
        {
            "targets": {
                "sqlite_ingest_samples_per_s": ">= 50000",
                "sqlite_ingest_ratio_vs_raw": ">= 0.7",
                "postgres_ingest_ratio_vs_copy": ">= 0.7",
                "query_30d_p50_ms": "<= 50",
                "query_speedup_vs_raw_scan": ">= 10",
                "ring_rss_mb_100ch_24h": "<= 150 (MiB)",
            },
            "benchmark_s": round(time.perf_counter() - started, 1),
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
