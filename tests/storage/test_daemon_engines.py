"""The daemon end to end on both engines: simulator -> writer -> store -> API, and health."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loggerd.api.app import create_app
from loggerd.service.config import parse_config
from loggerd.service.daemon import Daemon
from loggerd.service.replica import Replica
from loggerd_sim.host import SimulatorHost
from tests.service.daemons import CHANNELS, client, device_toml, settle

from .conftest import PG_URL, StoreFactory, sample
from .test_history import iso_s


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


async def test_an_api_replica_serves_what_another_loggerd_stored(
    stores: StoreFactory, tmp_path: Path
) -> None:
    """`loggerd api`: no acquisition, no ring; chambers, latest and history from the database."""
    writer = stores()
    writer.write([sample(t, 20.0 + t / 100) for t in range(600)] + [sample(0, 1.0, "t2")])
    url = writer.engine.url.render_as_string(hide_password=False)
    store_toml = f'url = "{url}"\n' + (f'schema = "{writer.schema}"\n' if writer.schema else "")
    # The replica's own configuration names an unrelated chamber: it serves the database's.
    config = parse_config(
        f'data_dir = "{tmp_path.as_posix()}"\n[store]\n{store_toml}\n'
        '[[chamber]]\nid = "elsewhere"\n[[chamber.device]]\nid = "d"\ndriver = "simulated"\n',
        "replica.toml",
    )
    replica = Replica(config)
    await replica.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(replica.ports())), base_url="http://r"
        ) as http:
            health = (await http.get("/api/v1/health")).json()
            chambers = (await http.get("/api/v1/chambers")).json()["chambers"]
            latest = (await http.get("/api/v1/chambers/c1/latest")).json()["readings"]
            history = (
                await http.get(
                    "/api/v1/chambers/c1/history",
                    params={
                        "channel": "t1",
                        "start": iso_s(0),
                        "end": iso_s(600),
                        "max_points": 60,
                    },
                )
            ).json()
            missing = await http.get("/api/v1/chambers/elsewhere/latest")
    finally:
        await replica.stop()
    # It polls and writes nothing: no devices, no writer; its store is the shared one.
    assert health["devices"] == [] and health["writer"] is None and health["status"] == "ok"
    assert health["store"]["engine"] == writer.engine_name
    assert [c["id"] for c in chambers] == ["c1"]
    assert [c["id"] for c in chambers[0]["channels"]] == ["t1", "t2", "t3"]
    by_channel = {r["channel"]: r for r in latest}
    assert (
        by_channel["t1"]["value"] == pytest.approx(25.99) and by_channel["t1"]["quality"] == "good"
    )
    assert by_channel["t1"]["timestamp"] == iso_s(599)
    assert by_channel["t3"]["quality"] == "no_data"
    assert history["series"]["t1"]["source"] == "raw_buckets"
    assert sum(p["count"] for p in history["points"]) == 600
    assert missing.status_code == 404 and "known chambers: c1" in missing.json()["detail"]
