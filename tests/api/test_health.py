"""Health for people and for monitors: /health always answers 200 with the state and why;
/health/ready answers 503 when that state is degraded, so a plain uptime check notices."""

from __future__ import annotations

from loggerd.api.ports import DeviceReport
from loggerd.core.health import BackfillHealth, DeviceHealth, LineHealth
from loggerd.core.times import iso

from .fakes import HealthyHealth, client


async def test_a_degraded_loggerd_is_not_ready() -> None:
    async with client() as http:
        health = await http.get("/api/v1/health")
        ready = await http.get("/api/v1/health/ready")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert ready.status_code == 503
    assert ready.json() == health.json()  # the same report: reasons say why
    assert ready.json()["reasons"][1] == "c1/d1 is offline: no reply from device 9"


async def test_a_healthy_loggerd_is_ready() -> None:
    async with client(health=HealthyHealth()) as http:
        ready = await http.get("/api/v1/health/ready")
    assert ready.status_code == 200
    assert (ready.json()["status"], ready.json()["reasons"]) == ("ok", [])


async def test_the_openapi_says_when_ready_answers_503() -> None:
    async with client() as http:
        document = (await http.get("/openapi.json")).json()
    responses = document["paths"]["/api/v1/health/ready"]["get"]["responses"]
    ok = {"$ref": "#/components/schemas/HealthOut"}
    assert responses["200"]["content"]["application/json"]["schema"] == ok
    assert responses["503"]["content"]["application/json"]["schema"] == ok
    assert "degraded" in responses["503"]["description"]


class BehindHealth(HealthyHealth):
    def devices(self) -> list[DeviceReport]:
        behind = BackfillHealth(state="behind", read_rate_per_s=30.0, record_rate_per_s=50.0)
        return [DeviceReport("c1", "d1", "reference-modbus", DeviceHealth(state="ok"), behind)]


async def test_a_download_that_cannot_catch_up_makes_loggerd_not_ready() -> None:
    """Records are being lost to the logger's ring while loggerd looks on: that is degraded."""
    async with client(health=BehindHealth()) as http:
        ready = await http.get("/api/v1/health/ready")
    assert ready.status_code == 503
    (reason,) = ready.json()["reasons"]
    assert reason.startswith(
        "c1/d1: its memory is read at 30 records/s while it records 50/s: the download cannot "
        "catch up"
    )


class LineDownHealth(HealthyHealth):
    """Two loggers on a line where neither answers, and one dead logger on a line of its own."""

    UNTIL_US = 1_780_000_060_000_000

    def devices(self) -> list[DeviceReport]:
        line = LineHealth(
            "/dev/ttyUSB0",
            ["c1/d1", "c1/d2"],
            True,
            quarantines=3,
            quarantine_until_utc_us=self.UNTIL_US,
        )
        held = [
            DeviceHealth(
                state="offline",
                last_error=f"no reply from device {i}",
                quarantined=True,
                quarantine_reason="line",
                quarantine_until_utc_us=self.UNTIL_US,
                line_quarantined_ticks=40,
            )
            for i in (1, 2)
        ]
        alone = DeviceHealth(state="offline", last_error="no reply from device 7")
        return [
            DeviceReport("c1", "d1", "reference-modbus", held[0], None, line),
            DeviceReport("c1", "d2", "reference-modbus", held[1], None, line),
            DeviceReport("c2", "d7", "reference-modbus", alone, None),
        ]


async def test_a_line_where_no_device_answers_is_one_reason_not_one_per_device() -> None:
    async with client(health=LineDownHealth()) as http:
        ready = await http.get("/api/v1/health/ready")
    assert ready.status_code == 503
    report = ready.json()
    until = iso(LineDownHealth.UNTIL_US)
    assert report["reasons"] == [
        f"line /dev/ttyUSB0 (2 devices): no device on it answers; it is quarantined until "
        f"{until}, then probed through one device at a time; check the cable, the adapter and "
        "the devices' power",
        "c2/d7 is offline: no reply from device 7",
    ]
    assert report["lines"] == [
        {
            "name": "/dev/ttyUSB0",
            "devices": ["c1/d1", "c1/d2"],
            "quarantined": True,
            "quarantines": 3,
            "quarantine_until_utc": until,
        }
    ]
    held = {d["device_id"]: d for d in report["devices"]}
    for device in ("d1", "d2"):
        assert held[device]["quarantine_reason"] == "line"
        assert held[device]["quarantine_until_utc"] == until
        assert held[device]["line_quarantined_ticks"] == 40
    assert held["d7"]["quarantine_reason"] is None
