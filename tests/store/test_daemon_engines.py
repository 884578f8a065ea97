"""The daemon end to end on both engines: simulator -> writer -> store -> API, and health."""

from __future__ import annotations

from pathlib import Path

import pytest

from loggerd.config import parse_config
from loggerd.daemon import Daemon
from loggerd_sim.host import SimulatorHost
from tests.daemon.test_daemon import CHANNELS, client, device_toml, settle

from .conftest import PG_URL


async def test_daemon_writes_and_serves_on_either_engine(
    engine_name: str, tmp_path: Path, sim: SimulatorHost, request: pytest.FixtureRequest
) -> None:
    assert sim.tcp is not None
    store_toml = "flush_interval_s = 0.05\n"
    if engine_name == "postgresql":
        schema = request.getfixturevalue("pg_schema")
        store_toml += f'url = "{PG_URL}"\nschema = "{schema}"\n'
    config = parse_config(
        f'data_dir = "{tmp_path.as_posix()}"\n[store]\n{store_toml}\n'
        + device_toml("c", "logger-1", sim.tcp.url, 1),
        "test.toml",
    )
    daemon = Daemon(config)
    if engine_name == "postgresql":
        daemon.store.upgrade()  # `loggerd db upgrade`: never behind the operator's back
    await daemon.start()
    try:
        await settle(daemon, 3 * len(CHANNELS))
        async with client(daemon) as http:
            health = (await http.get("/api/v1/health")).json()
            history = (
                await http.get("/api/v1/chambers/c/history", params={"max_points": 1000})
            ).json()
    finally:
        await daemon.stop()
    assert health["store"]["engine"] == engine_name
    writer = health["writer"]
    assert writer["queued"] == 0 and writer["lag_s"] is None and writer["capacity"] == 100_000
    assert writer["written"] >= 3 * len(CHANNELS) and writer["last_flush"].endswith("Z")
    (device,) = health["devices"]
    # Every field of DeviceHealth, timestamps in ISO 8601 UTC.
    assert device["state"] == "ok" and device["reads_ok"] >= 3
    assert device["last_ok_utc"].endswith("Z") and "last_ok_utc_us" not in device
    assert device["info"]["serial_number"] and "errors_by_kind" in device
    assert {p["channel"] for p in history["points"]} == {c for c, _ in CHANNELS}
    assert {s["source"] for s in history["series"].values()} == {"raw"}
    try:
        assert daemon.store.count() == daemon.accepted == daemon.writer.written
    finally:
        daemon.store.close()
