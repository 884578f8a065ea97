"""schemathesis over the API's OpenAPI, every check on, as `st run …/openapi.json --checks all`
does against `loggerd demo`: each operation's examples, coverage and fuzzing cases sent to the
app in this process, built from a store with data (SQLite in a temporary folder), a live view
and a degraded device. Bounded and seeded: the same cases every run, in seconds.

What the OpenAPI cannot state (start before end, max_points at least one per channel, readiness
answering 503 when degraded) is allowed in `schemathesis.toml`, which the command line reads
too; here a 422 for a request valid by the schema must also name one of those rules.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response

from loggerd.api.app import create_app
from loggerd.api.ports import DeviceReport, Ports, StoreInfo
from loggerd.core.channels import Channel
from loggerd.core.events import Event, EventKind, Gap, Severity
from loggerd.core.health import BackfillHealth, DeviceHealth, DeviceInfo, LineHealth, WriterHealth
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.core.times import parse_utc_us
from loggerd.live.view import LiveView
from loggerd.service.ports import StoreHistory, StoreReports
from loggerd.storage.store import Store, sqlite_url

from .fakes import FakeCertificates
from .fakes import ports as fake_ports

# Fuzzing cases per operation; the examples and coverage phases add their own fixed sets.
FUZZING_CASES = 100
T0_US = parse_utc_us("2026-11-26T10:00:00Z", "T0")
STEP_US = 10_000_000
CHANNELS = [
    Channel("chamber-1", "t1", "logger-1", "temperature_1", "temperature", "degC", "Air"),
    Channel("chamber-1", "rh", "logger-1", "rh", "rh", "%RH"),
    Channel("chamber-1", "frost_point_calc", "derived", "frost_dew_point", "dew_point", "degC"),
    Channel("chamber-2", "t1", "logger-2", "temperature_1", "temperature", "degC"),
]
# What a 422 may say to a request that the OpenAPI calls valid: the rules it cannot state.
CROSS_PARAMETER_RULES = (
    "must be before end",
    "outside years 1 to 9999",
    "channels asked for",
    "max_points is for format=json",
    "points in this range",
    # A test profile's rules across its fields (core/profiles.py).
    "sets no target",
    "no setpoint before it",
    "humidity is set twice",
    "is not within 0..100",
    "ppmv is below 0",
)


def _samples(channel: Channel) -> list[Sample]:
    out = []
    for i in range(30):
        fault = i == 7
        logger = channel.device_id == "logger-1"
        out.append(
            Sample(
                channel.chamber_id,
                channel.channel_id,
                T0_US + i * STEP_US,
                float("nan") if fault else -70.25 + i / 100,
                float("nan") if fault else -70.3 + i / 100,
                Quality.SENSOR_FAULT if fault else Quality.GOOD,
                TimeSource.LOGGER if logger else TimeSource.HOST,
                sequence=1000 + i if logger else None,
                uncertainty=0.12 if channel.device_id == "derived" else None,
                method="hardy1998" if channel.device_id == "derived" else None,
                clock_offset_us=250_000 if logger else None,
            )
        )
    return out


EVENTS = [
    Event(T0_US, "chamber-1", "logger-1", EventKind.BACKFILL_STARTED, Severity.INFO, "started"),
    Event(
        T0_US + STEP_US,
        "chamber-1",
        "logger-1",
        EventKind.GAP,
        Severity.ERROR,
        "records 5..9 lost",
        {"first_sequence": 5, "last_sequence": 9},
    ),
    Event(
        T0_US + 2 * STEP_US,
        "chamber-2",
        "logger-2",
        EventKind.CLOCK_OFFSET,
        Severity.WARNING,
        "the logger's clock is 3.2 s ahead",
        {"offset_s": 3.2},
    ),
    Event(T0_US + 3 * STEP_US, "", "", EventKind.STORE_UNAVAILABLE, Severity.ERROR, "down"),
]


class DegradedHealth:
    """One logger offline with its memory download stalled, two on a line where neither
    answers, and a writer catching up."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def devices(self) -> list[DeviceReport]:
        info = DeviceInfo("RL-1", "SN-1", "1.2.0", 8, "2026-01-15")
        dead = DeviceHealth(state="offline", last_error="no reply from device 1", info=info)
        stalled = BackfillHealth(state="stalled", cursor=1029, last_error="record 1030 unread")
        line = LineHealth(
            "/dev/ttyUSB1", ["chamber-2/logger-2", "chamber-2/logger-3"], True, 2, T0_US
        )
        held = DeviceHealth(
            state="offline",
            quarantined=True,
            quarantine_reason="line",
            quarantine_until_utc_us=T0_US,
        )
        return [
            DeviceReport("chamber-1", "logger-1", "reference-modbus", dead, stalled),
            DeviceReport("chamber-2", "logger-2", "reference-modbus", held, None, line),
            DeviceReport("chamber-2", "logger-3", "reference-modbus", held, None, line),
        ]

    def writer(self) -> WriterHealth | None:
        return WriterHealth(
            "degraded", "the store is slow", 12, 12, 0, 100_000, 120, 0, 0, 0, 1, None, None, None,
            2.5, 4096,
        )  # fmt: skip

    def store(self) -> StoreInfo:
        return StoreInfo(self._store.engine_name, self._store.url, self._store.schema)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    store = Store(sqlite_url(tmp_path_factory.mktemp("store")))
    store.open({"chamber-1": "Climatic chamber 1", "chamber-2": None}, CHANNELS)
    for channel in CHANNELS:
        store.write(_samples(channel))
    store.write_log(EVENTS, [Gap("chamber-1", "logger-1", 5, 9, T0_US, None, T0_US + STEP_US)])
    # chamber-1 is polled here; chamber-2 comes from the store
    live = LiveView.create(CHANNELS[:3], ring_size=16)
    for channel in CHANNELS[:3]:
        live.accept(_samples(channel)[-3:])
    ports = Ports(
        live,
        DegradedHealth(store),
        store,
        StoreHistory(store),
        store,
        FakeCertificates(),
        store.runs,
        StoreReports(store, FakeCertificates()),
        store.alarms,
    )
    try:
        yield create_app(ports)
    finally:
        live.close()
        store.close()


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    """An event loop of the test's own, where each case is sent to the app in this process."""
    with start_blocking_portal() as p:
        yield p


def _names_a_rule_the_schema_cannot_state(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    """A request valid by the schema is refused only for a rule the schema cannot state."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    detail = response.json()["detail"]
    assert any(rule in detail for rule in CROSS_PARAMETER_RULES), f"valid, yet refused: {detail}"
    return None


async def _send(app: FastAPI, case: Case) -> httpx.Response:
    request = case.as_transport_kwargs(base_url="http://loggerd")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        return await http.request(
            request["method"],
            request["url"],
            params=request.get("params"),
            headers=request.get("headers"),
            json=request.get("json"),
        )


# The OpenAPI is the routes' alone, whatever ports an app is built from.
api = schemathesis.openapi.from_dict(create_app(fake_ports()).openapi())
api.config.generation.update(max_examples=FUZZING_CASES, deterministic=True, database="none")


@api.parametrize()
# Shared by every case: the only writes (runs opened and closed) change what a later case sees
# only into answers the OpenAPI documents (a second open run on a chamber is a 409).
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_openapi_tells_the_truth(case: Case, app: FastAPI, portal: BlockingPortal) -> None:
    response = portal.call(_send, app, case)
    case.validate_response(response, additional_checks=[_names_a_rule_the_schema_cannot_state])
