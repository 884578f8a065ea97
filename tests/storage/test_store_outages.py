"""The store goes away under a running writer: a full disk under SQLite, a PostgreSQL restart.
Samples wait in the spool, health says why, events record the outage, and once the store is
back every accepted sample is in it, once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import event

from loggerd.core.channels import Channel
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.service.config import parse_config
from loggerd.service.daemon import Daemon
from loggerd.storage.spool import Spool
from loggerd.storage.store import Store, sqlite_url
from loggerd.storage.writer import Writer
from loggerd_sim.host import SimulatorHost
from tests.service.daemons import CHANNELS, client, device_toml, settle

from .conftest import PG_URL, T0_US


def host_samples(n: int) -> list[Sample]:
    return [
        Sample("c", "air", T0_US + i * 1_000_000, 20.0 + i / 1000, 20.0 + i / 1000,
               Quality.GOOD, TimeSource.HOST)
        for i in range(n)
    ]  # fmt: skip


def integrity(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]


async def test_a_full_disk_under_sqlite_keeps_samples_in_the_spool_until_there_is_room(
    tmp_path: Path,
) -> None:
    store = Store(sqlite_url(tmp_path))
    store.open({"c": None}, [Channel("c", "air", "d", "temperature_1", "temperature", "degC")])

    def disk_full(dbapi_conn: Any, _record: Any) -> None:
        # SQLite then fails any write that needs more pages with SQLITE_FULL, "database or disk
        # is full": exactly what a full disk gives.
        cur = dbapi_conn.cursor()
        (pages,) = cur.execute("PRAGMA page_count").fetchone()
        cur.execute(f"PRAGMA max_page_count={pages + 2}")
        cur.close()

    event.listen(store.engine, "connect", disk_full)
    store.engine.dispose()  # connections made from now on have no room
    n = 3000
    with Spool(tmp_path / "data" / "spool.db") as spool:
        writer = Writer(store, batch_size=10_000, flush_interval_s=0.01, spool=spool)
        await writer.start()
        try:
            for start in range(0, n, 500):
                await writer.submit(host_samples(n)[start : start + 500])
            async with asyncio.timeout(10):
                await writer.wait_attempts(1)
            health = writer.health()
            assert health.state == "degraded" and health.reason is not None
            assert "disk is full" in health.reason and "free space" in health.reason
            assert health.last_error is not None and "database or disk is full" in health.last_error
            assert health.written == 0 and health.held == 0
            assert sum(e.count for e in spool.head(10**12) if e.kind == "samples") == n
            assert store.count() == 0
            # Space is freed: connections made from now on have room again.
            event.remove(store.engine, "connect", disk_full)
            store.engine.dispose()
            async with asyncio.timeout(30):
                await writer.flushed()
        finally:
            await writer.stop()
        assert len(spool) == 0
    health = writer.health()
    assert health.state == "ok" and health.reason is None and health.failed_flushes >= 1
    assert store.count() == n == writer.written and writer.duplicates == 0
    times = [r.timestamp_us for r in store.history("c", ["air"], 0, 2**62)]
    assert times == [s.timestamp_us for s in host_samples(n)]
    (full,) = store.events(kinds=["disk_full"])
    assert "database or disk is full" in full.message
    assert store.events(kinds=["store_unavailable"]) == []
    (recovered,) = store.events(kinds=["store_recovered"])
    assert full.utc_us < recovered.utc_us
    store.close()
    assert integrity(tmp_path / "loggerd.db") == ["ok"]


# --- PostgreSQL restarting under a running daemon ---------------------------------------------


def _cluster() -> list[str]:
    (version,) = os.listdir("/etc/postgresql")
    return [version, "main"]


async def _run(*args: str) -> None:
    result = await asyncio.to_thread(
        subprocess.run, list(args), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{' '.join(args)}: {result.stdout}{result.stderr}"


async def test_a_postgresql_restart_under_the_daemon_loses_nothing(
    tmp_path: Path, sim: SimulatorHost, pg_schema: str
) -> None:
    assert sim.tcp is not None
    config = parse_config(
        f'data_dir = "{tmp_path.as_posix()}"\n[store]\nflush_interval_s = 0.05\n'
        f'url = "{PG_URL}"\nschema = "{pg_schema}"\n\n'
        + device_toml("c", "logger-1", sim.tcp.url, 1),
        "test.toml",
    )
    daemon = Daemon(config)
    daemon.store.upgrade()  # `loggerd db upgrade`
    writer = daemon.writer
    await daemon.start()
    try:
        await settle(daemon, 3 * len(CHANNELS))
        before = writer.written
        assert before > 0 and writer.failed_flushes == 0
        await _run("pg_ctlcluster", *_cluster(), "stop")
        try:
            async with asyncio.timeout(30):
                while writer.failed_flushes == 0:
                    await writer.wait_attempts(writer.attempts + 1)
                # Acquisition goes on meanwhile, into the spool.
                await daemon.wait_accepted(daemon.accepted + 2 * len(CHANNELS))
            async with client(daemon) as http:
                health = (await http.get("/api/v1/health")).json()
            assert health["status"] == "degraded"
            w = health["writer"]
            assert w["state"] == "degraded" and w["reason"] in health["reasons"]
            assert "the store is unavailable" in w["reason"] and "spool" in w["reason"]
            assert w["spooled"] > 0 and w["held"] == 0 and w["failed_flushes"] >= 1
            assert w["written"] == writer.written < daemon.accepted
        finally:
            await _run("pg_ctlcluster", *_cluster(), "start")
            await _run("pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432", "-t", "60")
        # The writer finds the server back by itself (its pool held dead connections).
        async with asyncio.timeout(90):
            await writer.flushed()
        health = writer.health()
        assert health.state == "ok" and health.reason is None and health.last_error is None
        assert writer.written > before
    finally:
        await daemon.stop()
    try:
        assert daemon.store.count() == daemon.accepted == writer.written
        rows = list(daemon.store.history("c", [c for c, _ in CHANNELS], 0, 2**62))
        assert len({(r.channel_id, r.timestamp_us) for r in rows}) == len(rows) == daemon.accepted
        (down,) = daemon.store.events(kinds=["store_unavailable"])
        (back,) = daemon.store.events(kinds=["store_recovered"])
        assert down.utc_us < back.utc_us
        assert "the spool drains" in back.message
    finally:
        daemon.store.close()
