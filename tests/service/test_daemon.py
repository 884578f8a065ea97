"""The daemon end to end: simulator -> driver -> acquisition -> ring + store -> HTTP API."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loggerd.service.daemon import Daemon
from loggerd_sim.faults import FaultPlan, FaultRates
from loggerd_sim.host import SimulatorHost

from .daemons import CHANNELS, client, device_toml, make_daemon, settle


@pytest.fixture
async def running(tmp_path: Path, sim: SimulatorHost) -> AsyncIterator[Daemon]:
    assert sim.rtu is not None and sim.tcp is not None
    daemon = make_daemon(
        tmp_path,
        device_toml("rtu-chamber", "logger-1", sim.rtu.path, 1)
        + device_toml("tcp-chamber", "logger-2", sim.tcp.url, 2),
    )
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


async def test_latest_and_history_serve_what_was_read(running: Daemon, sim: SimulatorHost) -> None:
    await settle(running, 3 * 2 * len(CHANNELS))
    async with client(running) as http:
        chambers = (await http.get("/api/v1/chambers")).json()["chambers"]
        assert [c["id"] for c in chambers] == ["rtu-chamber", "tcp-chamber"]
        assert {c["id"]: c["unit"] for c in chambers[0]["channels"]} == {
            "air": "degC",
            "wall": "degC",
            "rh": "%RH",
            "fp": "degC",
        }

        for chamber, address in [("rtu-chamber", 1), ("tcp-chamber", 2)]:
            latest = (await http.get(f"/api/v1/chambers/{chamber}/latest")).json()
            truth = sim.loggers[address].point_values()  # the manual clock stands still
            by_channel = {r["channel"]: r for r in latest["readings"]}
            for channel, point in CHANNELS:
                r = by_channel[channel]
                assert r["quality"] == "good"
                assert r["time_source"] == "host"
                assert r["value"] == pytest.approx(truth[point], rel=1e-6)
                ts = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
                assert ts.tzinfo is not None and r["timestamp"].endswith("Z")
                assert 0 <= (datetime.now(UTC) - ts).total_seconds() < 10

        resp = await http.get("/api/v1/chambers/tcp-chamber/history", params={"channel": "air"})
        history = resp.json()
        assert resp.status_code == 200 and history["units"] == {"air": "degC"}
        stored = [p for p in history["points"] if p["channel"] == "air"]
        assert len(stored) == len(history["points"])
        # What was read, at its value; a tick a loaded host could not poll in time is stored
        # too, as what it is (no value, quality skipped), never as a value.
        read = [p for p in stored if p["quality"] == "good"]
        assert len(read) >= 3
        assert all(p["value"] == pytest.approx(truth["temperature_1"], rel=1e-6) for p in read)
        assert all(
            p["value"] is None and p["quality"] == "skipped" for p in stored if p not in read
        )
        times = [p["timestamp"] for p in stored]
        assert times == sorted(times) and len(set(times)) == len(times)

        resp = await http.get(
            "/api/v1/chambers/rtu-chamber/history",
            params={"format": "csv", "channel": ["air", "rh"]},
        )
        assert resp.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(resp.text)))
        assert {r["channel"] for r in rows} == {"air", "rh"}
        assert {r["unit"] for r in rows if r["channel"] == "rh"} == {"%RH"}


async def test_every_accepted_sample_is_stored_on_stop(tmp_path: Path, sim: SimulatorHost) -> None:
    assert sim.tcp is not None
    daemon = make_daemon(tmp_path, device_toml("c", "d", sim.tcp.url, 1))
    await daemon.start()
    try:
        await settle(daemon, 5 * len(CHANNELS))
    finally:
        await daemon.stop()
    assert daemon.accepted >= 5 * len(CHANNELS)
    assert daemon.store.count() == daemon.accepted == daemon.writer.written


async def test_dead_device_gives_missing_samples_and_others_carry_on(
    tmp_path: Path, sim: SimulatorHost
) -> None:
    assert sim.rtu is not None and sim.tcp is not None
    daemon = make_daemon(
        tmp_path,
        device_toml("c1", "alive", sim.tcp.url, 1)
        # Nobody answers at address 9 on the RS-485 line.
        + device_toml("c2", "dead", sim.rtu.path, 9, extra="timeout_s = 0.1"),
    )
    await daemon.start()
    try:
        dead = next(p for p in daemon.pollers if p.device_id == "dead")
        alive = next(p for p in daemon.pollers if p.device_id == "alive")
        async with asyncio.timeout(20):
            while dead.polls < 3:
                await daemon.wait_accepted(daemon.accepted + 1)
        await daemon.writer.flushed()
        async with client(daemon) as http:
            latest = (await http.get("/api/v1/chambers/c2/latest")).json()["readings"]
            assert {r["quality"] for r in latest} == {"missing"}
            assert all(r["value"] is None for r in latest)  # missing is missing, never 0
            history = (await http.get("/api/v1/chambers/c2/history")).json()["points"]
            assert len(history) >= 3 * len(CHANNELS)
            # Its polls time out (0.1 s) past its ticks (0.05 s): the ticks they cover are
            # history too, as polls that could not run, never silent holes.
            assert "missing" in {p["quality"] for p in history}
            assert {p["quality"] for p in history} <= {"missing", "skipped"}
            assert {p["value"] for p in history} == {None}

            good = (await http.get("/api/v1/chambers/c1/latest")).json()["readings"]
            assert {r["quality"] for r in good} == {"good"}
            health = (await http.get("/api/v1/health")).json()
        assert alive.polls > dead.polls  # the dead device's timeouts did not hold it back
        assert health["status"] == "degraded"
        states = {d["device_id"]: d for d in health["devices"]}
        assert states["alive"]["state"] == "ok"
        assert states["dead"]["state"] == "offline"
        assert "no complete reply from device 9" in states["dead"]["last_error"]
        assert states["dead"]["errors_by_kind"]["NoReply"] >= 3
        # After three failed polls in a row the dead device is left alone for a back-off.
        assert dead.health.quarantined and dead.health.quarantines == 1
        assert dead.health.quarantine_until_utc_us is not None
    finally:
        await daemon.stop()


async def test_a_line_where_no_device_answers_is_one_line_in_health_until_it_is_back(
    tmp_path: Path, sim: SimulatorHost
) -> None:
    assert sim.rtu is not None
    quick = "timeout_s = 0.05\nbackoff_initial_s = 0.2\nbackoff_max_s = 0.2"
    daemon = make_daemon(
        tmp_path,
        device_toml("c1", "logger-1", sim.rtu.path, 1, extra=quick)
        + device_toml("c2", "logger-2", sim.rtu.path, 2, extra=quick),
    )
    gate = daemon.acquisition.gates[sim.rtu.path]
    await daemon.start()
    try:
        await settle(daemon, 2 * 2 * len(CHANNELS))
        sim.rtu.faults = FaultPlan(FaultRates(drop=1.0))  # the cable is cut
        async with asyncio.timeout(20):
            while not all(p.health.line_quarantined_ticks for p in daemon.pollers):
                await daemon.wait_accepted(daemon.accepted + 1)
        await daemon.writer.flushed()
        async with client(daemon) as http:
            health = (await http.get("/api/v1/health")).json()
            history = (await http.get("/api/v1/chambers/c2/history")).json()["points"]
        assert health["status"] == "degraded"
        (reason,) = health["reasons"]  # the line, not each device on it
        assert reason.startswith(f"line {sim.rtu.path} (2 devices): no device on it answers")
        (line,) = health["lines"]
        assert line["name"] == sim.rtu.path and line["quarantined"]
        assert line["devices"] == ["c1/logger-1", "c2/logger-2"]
        assert {d["quarantine_reason"] for d in health["devices"]} == {"line"}
        # The ticks the line's quarantine held back are in history, as polls that did not run.
        assert "skipped" in {p["quality"] for p in history}
        assert {p["value"] for p in history if p["quality"] != "good"} == {None}

        sim.rtu.faults = None  # mended: the next probe finds the line
        async with asyncio.timeout(20):
            while gate.quarantined or not all(p.health.state == "ok" for p in daemon.pollers):
                await daemon.wait_accepted(daemon.accepted + 1)
        async with client(daemon) as http:
            health = (await http.get("/api/v1/health")).json()
        assert (health["status"], health["reasons"]) == ("ok", [])
        assert not health["lines"][0]["quarantined"]
        assert {d["quarantine_reason"] for d in health["devices"]} == {None}
    finally:
        await daemon.stop()


async def test_api_errors_say_what_is_wrong(running: Daemon) -> None:
    async with client(running) as http:
        r = await http.get("/api/v1/chambers/nope/latest")
        assert r.status_code == 404 and "no chamber 'nope'" in r.json()["detail"]
        r = await http.get("/api/v1/chambers/tcp-chamber/history", params={"channel": "x"})
        assert r.status_code == 404 and "has no channel 'x'" in r.json()["detail"]
        r = await http.get(
            "/api/v1/chambers/tcp-chamber/history",
            params={"start": "2026-11-26T10:00:00Z", "end": "2026-11-26T09:00:00Z"},
        )
        assert r.status_code == 422 and "must be before end" in r.json()["detail"]
        r = await http.get("/api/v1/chambers/tcp-chamber/history", params={"start": "yesterday"})
        assert r.status_code == 422 and "not an ISO 8601 time" in r.json()["detail"]
        r = await http.get("/api/v1/chambers/tcp-chamber/history", params={"format": "xml"})
        assert r.status_code == 422


async def test_naive_times_are_utc(running: Daemon) -> None:
    await settle(running, 2 * len(CHANNELS))
    async with client(running) as http:
        now = datetime.now(UTC).replace(tzinfo=None)
        r = await http.get(
            "/api/v1/chambers/tcp-chamber/history",
            params={"start": "2000-01-01T00:00:00", "end": now.isoformat(timespec="seconds")},
        )
        body = r.json()
        assert body["start"] == "2000-01-01T00:00:00Z"
        assert body["end"] == now.isoformat(timespec="seconds") + "Z"


async def test_history_while_the_store_is_unavailable_is_a_503(running: Daemon) -> None:
    async with client(running) as http:
        url = running.store.engine.url
        # Point the engine at a file that cannot be opened: the store is down.
        from sqlalchemy import create_engine

        original = running.store.engine
        running.store.engine = create_engine("sqlite:////nonexistent-dir/loggerd.db")
        try:
            r = await http.get("/api/v1/chambers/tcp-chamber/history")
        finally:
            running.store.engine.dispose()
            running.store.engine = original
        assert r.status_code == 503, (r.status_code, r.text, url)
        assert "history store is unavailable" in r.json()["detail"]
        latest = await http.get("/api/v1/chambers/tcp-chamber/latest")
        assert latest.status_code == 200
