"""/api/v1/alarms on a real store: listed with state and history, acknowledged once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from loggerd.api.app import create_app
from loggerd.api.ports import Ports
from loggerd.core.alarms import AlarmKey, AlarmKind, AlarmSeverity, Transition
from loggerd.core.times import iso, utc_now_us
from loggerd.service.ports import StoreReports
from loggerd.storage.store import Store, sqlite_url

from .fakes import FakeCertificates, FakeEvents, FakeHealth, FakeHistory, FakeLive

S = 1_000_000
T0 = (utc_now_us() // S - 3600) * S  # raised an hour ago, acknowledged now, cleared after
HIGH = AlarmKey(AlarmKind.HIGH, "c1", "t1")
STALE = AlarmKey(AlarmKind.STALE, "c1", "rh")


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    store = Store(sqlite_url(tmp_path))
    store.upgrade()
    ports = Ports(
        FakeLive(), FakeHealth(), store, FakeHistory(), FakeEvents(), FakeCertificates(),
        store.runs, StoreReports(store, FakeCertificates()), store.alarms,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(ports))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client, store
    finally:
        store.close()


async def test_alarms_listed_acknowledged_and_cleared(
    setup: tuple[httpx.AsyncClient, Store],
) -> None:
    api, store = setup
    crit, warn = AlarmSeverity.CRITICAL, AlarmSeverity.WARNING
    store.alarms.apply(
        [
            Transition(HIGH, True, T0, crit, "t1 = 26 above its high limit 25", 26.0, 25.0),
            Transition(STALE, True, T0 + 5 * S, warn, "rh: none for 31 s", None, 30.0),
        ]
    )
    listed = (await api.get("/api/v1/alarms", params={"state": "active"})).json()["alarms"]
    assert [(a["kind"], a["subject"], a["state"]) for a in listed] == [
        ("stale", "rh", "active"),
        ("high", "t1", "active"),
    ]
    high = listed[1]
    assert high["raised"] == iso(T0) and high["value"] == 26.0
    r = await api.post(f"/api/v1/alarms/{high['id']}/ack", json={"by": "j.li", "comment": "seal"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    again = await api.post(f"/api/v1/alarms/{high['id']}/ack", json={"by": "k", "comment": "x"})
    assert again.status_code == 409 and "j.li" in again.json()["detail"]
    store.alarms.apply([Transition(HIGH, False, T0 + 7200 * S, crit, "t1: high cleared")])
    got = (await api.get(f"/api/v1/alarms/{high['id']}")).json()
    assert got["state"] == "cleared"
    assert [(h["action"], h["by"]) for h in got["history"]] == [
        ("raised", None),
        ("acknowledged", "j.li"),
        ("cleared", None),
    ]
    unacked = (await api.get("/api/v1/alarms", params={"state": "unacknowledged"})).json()
    assert [a["subject"] for a in unacked["alarms"]] == ["rh"]


async def test_refusals(setup: tuple[httpx.AsyncClient, Store]) -> None:
    api, _ = setup
    assert (await api.get("/api/v1/alarms/5")).status_code == 404
    r = await api.post("/api/v1/alarms/5/ack", json={"by": "j.li", "comment": "x"})
    assert r.status_code == 404
    r = await api.post("/api/v1/alarms/5/ack", json={"by": "j.li"})
    assert r.status_code == 422 and "comment is required" in r.json()["detail"]
