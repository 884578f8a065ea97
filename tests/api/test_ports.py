"""The API stands on its ports alone: given fakes for live readings, health, the catalog,
history, events and certificates, it serves every route, with no daemon, store or device."""

from __future__ import annotations

from .fakes import FakeHistory, client


async def test_every_route_reads_only_its_ports() -> None:
    async with client() as http:
        (chamber,) = (await http.get("/api/v1/chambers")).json()["chambers"]
        (reading,) = (await http.get("/api/v1/chambers/c1/latest")).json()["readings"]
        points = (await http.get("/api/v1/chambers/c1/history", params=SPAN)).json()["points"]
        buckets = (
            await http.get("/api/v1/chambers/c1/history", params={**SPAN, "max_points": 5})
        ).json()
        (event,) = (await http.get("/api/v1/events")).json()["events"]
        (gap,) = (await http.get("/api/v1/chambers/c1/gaps")).json()["gaps"]
        health = (await http.get("/api/v1/health")).json()
    assert chamber == {
        "id": "c1",
        "name": "Chamber 1",
        "channels": [
            {
                "id": "air",
                "name": "Air",
                "quantity": "temperature",
                "unit": "degC",
                "device_id": "d1",
            }
        ],
    }
    assert (reading["value"], reading["raw_value"], reading["quality"]) == (-70.25, -70.3, "good")
    assert reading["calibration"]["certificate_id"] == "CERT-1"
    assert reading["calibration"]["past_due"] is True
    assert [p["value"] for p in points] == [20.0, 21.0, 22.0]
    assert buckets["series"]["air"]["source"] == "1m"
    assert buckets["points"] == [
        {
            "channel": "air",
            "timestamp": "2026-05-28T20:26:40Z",
            "value": 21.0,
            "min": 20.0,
            "max": 22.0,
            "count": 3,
        }
    ]
    assert (event["kind"], event["time"]) == ("gap", "2026-05-28T20:26:40Z")
    assert (gap["records"], gap["end"]) == (5, None)
    # Health is what the port says, and why degraded is worked out by the API.
    assert health["status"] == "degraded" and health["writer"] is None
    assert health["reasons"] == [
        "c1/d1: reading its memory makes no progress (record 5 cannot be read); its records "
        "wait in the logger",
        "c1/d1 is offline: no reply from device 9",
    ]
    assert health["devices"][0]["backfill"]["state"] == "stalled"


SPAN = {"start": "2026-05-28T20:26:00Z", "end": "2026-05-28T20:30:00Z"}


async def test_a_store_that_fails_is_a_503_and_live_readings_still_come() -> None:
    history = FakeHistory()
    history.down = True
    async with client(history) as http:
        r = await http.get("/api/v1/chambers/c1/history", params=SPAN)
        latest = await http.get("/api/v1/chambers/c1/latest")
        unknown = await http.get("/api/v1/chambers/c9/latest")
    assert r.status_code == 503
    assert "the history store is unavailable: the database is restarting" in r.json()["detail"]
    assert latest.status_code == 200
    assert unknown.status_code == 404 and "known chambers: c1" in unknown.json()["detail"]
