"""Health for people and for monitors: /health always answers 200 with the state and why;
/health/ready answers 503 when that state is degraded, so a plain uptime check notices."""

from __future__ import annotations

from loggerd.api.ports import DeviceReport
from loggerd.core.health import BackfillHealth, DeviceHealth

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
