"""The OpenAPI tells the truth: every error the API answers is documented, in the one shape it
has (`{"detail": "one line"}`), and parameters are declared with their real types."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from loggerd.core.events import EventKind

from .fakes import FakeHistory, client

SPAN = {"start": "2026-05-28T20:26:00Z", "end": "2026-05-28T20:30:00Z"}
BACKWARDS = {"start": SPAN["end"], "end": SPAN["start"]}


async def _openapi() -> dict[str, Any]:
    async with client() as http:
        document: dict[str, Any] = (await http.get("/openapi.json")).json()
    return document


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return found


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        # FastAPI's own validation, and loggerd's checks, answer alike.
        ("/api/v1/chambers/c1/history", {"limit": "0"}, 422, "limit='0': "),
        ("/api/v1/chambers/c1/history", {"format": "xml"}, 422, "format='xml': "),
        ("/api/v1/chambers/c1/history", {"max_points": "many"}, 422, "max_points='many': "),
        ("/api/v1/events", {"kind": "nope"}, 422, "kind='nope': "),
        ("/api/v1/events", {"limit": "0", "kind": "nope"}, 422, "; "),
        ("/api/v1/chambers/c1/history", {"start": "yesterday"}, 422, "not an ISO 8601 time"),
        ("/api/v1/chambers/c1/history", {"start": "1780000000"}, 422, "not an ISO 8601 time"),
        ("/api/v1/chambers/c1/history", BACKWARDS, 422, "must be before end"),
        # A valid RFC 3339 time whose offset takes it before year 1 in UTC.
        ("/api/v1/events", {"start": "0001-01-01T00:00:00+01:00"}, 422, "outside years 1 to"),
        ("/api/v1/chambers/c9/history", {}, 404, "known chambers: c1"),
        ("/api/v1/chambers/c1/gaps", {}, 200, None),
    ],
)
async def test_every_error_is_one_line_in_one_shape(
    path: str, params: dict[str, str], status: int, says: str | None
) -> None:
    async with client() as http:
        r = await http.get(path, params=params)
    assert r.status_code == status, r.text
    if says is None:
        return
    body = r.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str), body
    assert says in body["detail"] and "\n" not in body["detail"], body["detail"]


class LockedDatabase(FakeHistory):
    def _rows(self, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        # The driver's error, as SQLAlchemy words it: the SQL and a link on lines of their own.
        raise OperationalError("SELECT ts FROM samples", {}, Exception("database is locked"))


async def test_a_store_outage_is_one_line_too() -> None:
    async with client(LockedDatabase()) as http:
        r = await http.get("/api/v1/chambers/c1/history", params=SPAN)
    assert r.status_code == 503
    assert r.json()["detail"] == (
        "the history store is unavailable: (builtins.Exception) database is locked; live "
        "readings (latest) are still served; retry shortly"
    )


async def test_events_answer_an_unknown_chamber_and_a_backwards_range_like_the_other_routes() -> (
    None
):
    async with client() as http:
        unknown = await http.get("/api/v1/events", params={"chamber": "c9"})
        backwards = await http.get("/api/v1/events", params=BACKWARDS)
        known = await http.get("/api/v1/events", params={"chamber": "c1", **SPAN})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no chamber 'c9'; known chambers: c1"
    assert backwards.status_code == 422
    assert "must be before end" in backwards.json()["detail"]
    assert known.status_code == 200


async def test_an_hour_before_the_earliest_time_starts_at_the_earliest_time() -> None:
    async with client() as http:
        r = await http.get("/api/v1/chambers/c1/history", params={"end": "0001-01-01T00:30:00Z"})
    assert r.status_code == 200
    assert (r.json()["start"], r.json()["points"]) == ("0001-01-01T00:00:00Z", [])


async def test_the_openapi_documents_every_error_in_its_one_shape() -> None:
    document = await _openapi()
    paths = document["paths"]
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for path in (
        "/api/v1/chambers/{chamber_id}/latest",
        "/api/v1/chambers/{chamber_id}/history",
        "/api/v1/chambers/{chamber_id}/gaps",
        "/api/v1/events",
    ):
        responses = paths[path]["get"]["responses"]
        assert responses["404"]["content"]["application/json"]["schema"] == error, path
    # History's 422 is the same shape with one more field, the max_points to ask for when
    # the range holds more raw points than JSON answers.
    history_422 = {"$ref": "#/components/schemas/TooManyPointsOut"}
    for path, item in paths.items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                # Readiness answers its 503 with the health report: a state, not an error.
                if status[0] != "2" and path != "/api/v1/health/ready":
                    expected = error
                    if (path, status) == ("/api/v1/chambers/{chamber_id}/history", "422"):
                        expected = history_422
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == expected, (path, method, status)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorOut"]["properties"]["detail"]["type"] == "string"
    too_many = schemas["TooManyPointsOut"]
    assert too_many["required"] == ["detail"]
    assert too_many["properties"]["detail"] == schemas["ErrorOut"]["properties"]["detail"]
    assert set(too_many["properties"]) == {"detail", "max_points"}


async def test_times_and_kinds_are_declared_with_their_types() -> None:
    document = await _openapi()
    history = document["paths"]["/api/v1/chambers/{chamber_id}/history"]["get"]
    events = document["paths"]["/api/v1/events"]["get"]
    for operation in (history, events):
        for name in ("start", "end"):
            schema = _parameter(operation, name)["schema"]
            assert (schema["type"], schema["format"]) == ("string", "date-time"), name
    kind = _parameter(events, "kind")["schema"]
    assert kind["type"] == "array"
    enum = document["components"]["schemas"][kind["items"]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert sorted(enum) == sorted(k.value for k in EventKind)
