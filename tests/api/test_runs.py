"""/api/v1/runs on a real store: open, read, list, close; refusals say what to do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loggerd.api.app import create_app
from loggerd.api.ports import Ports
from loggerd.core.channels import Channel
from loggerd.service.ports import StoreReports
from loggerd.storage.store import Store, sqlite_url

from .fakes import FakeCertificates, FakeEvents, FakeHealth, FakeHistory, FakeLive

PROFILE = {
    "segments": [
        {"kind": "soak", "duration_s": 600, "temperature_c": {"setpoint": 23, "tolerance": 2}},
        {"kind": "ramp", "duration_s": 5400, "temperature_c": {"setpoint": -70, "tolerance": 3}},
        {
            "kind": "soak",
            "duration_s": 7200,
            "name": "cold soak",
            "temperature_c": {"setpoint": -70, "tolerance": 2},
            "frost_point_c": {"setpoint": -75, "tolerance": 1.5},
        },
    ]
}
HUMID = {"setpoint": 50, "tolerance": 3}
RUN = {
    "chamber_id": "c1",
    "test_id": "DO-160G 4.5.1",
    "unit_under_test": "PSU-7 s/n 0031",
    "operator": "j.li",
    "profile": PROFILE,
    "start": "2026-12-07T08:00:00Z",
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = Store(sqlite_url(tmp_path))
    store.open({"c1": "Chamber 1"}, [Channel("c1", "air", "d1", "t1", "temperature", "degC")])
    ports = Ports(
        FakeLive(),
        FakeHealth(),
        store,
        FakeHistory(),
        FakeEvents(),
        FakeCertificates(),
        store.runs,
        StoreReports(store, FakeCertificates()),
        store.alarms,
    )
    transport = httpx.ASGITransport(app=create_app(ports))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client
    finally:
        store.close()


async def test_a_run_opens_lists_and_closes(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/runs", json=RUN)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["open"] and run["end"] is None and run["start"] == "2026-12-07T08:00:00Z"
    assert run["profile"]["segments"][2]["frost_point_c"] == {
        "setpoint": -75,
        "tolerance": 1.5,
        "start": None,  # a soak starts nowhere: the setpoint before it, for a ramp
    }
    assert (await api.get(f"/api/v1/runs/{run['id']}")).json() == run
    listed = (await api.get("/api/v1/runs", params={"chamber": "c1", "open": True})).json()
    assert [x["id"] for x in listed["runs"]] == [run["id"]]

    r = await api.post(f"/api/v1/runs/{run['id']}/close", json={"end": "2026-12-07T12:00:00Z"})
    assert r.status_code == 200 and r.json()["end"] == "2026-12-07T12:00:00Z"
    assert not r.json()["open"]
    assert (await api.get("/api/v1/runs", params={"open": True})).json() == {"runs": []}


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"chamber_id": "c9"}, 404, "c9"),
        (
            {"profile": {"segments": [{"kind": "ramp", "duration_s": 60, "rh_pct": HUMID}]}},
            422,
            "ramps rh_pct with no setpoint before it",
        ),
        ({"start": "yesterday"}, 422, "start"),
        ({"operator": ""}, 422, "operator"),
    ],
)  # fmt: skip
async def test_a_run_refused_says_why(
    api: httpx.AsyncClient, change: dict[str, Any], status: int, message: str
) -> None:
    r = await api.post("/api/v1/runs", json={**RUN, **change})
    assert r.status_code == status and message in r.json()["detail"], r.text


async def test_state_conflicts_are_409_and_unknown_runs_404(api: httpx.AsyncClient) -> None:
    first = (await api.post("/api/v1/runs", json=RUN)).json()
    r = await api.post("/api/v1/runs", json=RUN)
    assert r.status_code == 409 and f"run {first['id']} open" in r.json()["detail"]
    r = await api.post(f"/api/v1/runs/{first['id']}/close", json={"end": "2026-12-07T07:00:00Z"})
    assert r.status_code == 409 and "before it started" in r.json()["detail"]
    assert (await api.post(f"/api/v1/runs/{first['id']}/close")).status_code == 200  # now
    assert (await api.post(f"/api/v1/runs/{first['id']}/close")).status_code == 409
    assert (await api.get("/api/v1/runs/999")).status_code == 404
    assert (await api.post("/api/v1/runs/999/close")).status_code == 404
