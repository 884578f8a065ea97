"""Fakes for every port the API reads (live readings, health, catalog, history, events,
certificates), and an HTTP client on an app built from them: no daemon, store or device."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import httpx
import numpy as np

from loggerd.api.app import create_app
from loggerd.api.ports import CertificateInfo, DeviceReport, Ports, StoreInfo
from loggerd.core.alarms import Alarm
from loggerd.core.channels import Channel
from loggerd.core.events import Event, EventKind, Gap, Severity
from loggerd.core.health import BackfillHealth, DeviceHealth, WriterHealth
from loggerd.core.profiles import Run
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.live.view import LiveReading
from loggerd.storage.alarm_log import UnknownAlarm
from loggerd.storage.downsample import Series
from loggerd.storage.reader import SampleColumns
from loggerd.storage.runs import UnknownRun
from loggerd.storage.store import ChannelMeta, StoredSample, StoreError

T0_US = 1_780_000_000_000_000
AIR = ChannelMeta(1, "c1", "air", "d1", "Air", "temperature_1", "temperature", "degC")
AIR_CHANNEL = Channel("c1", "air", "d1", "temperature_1", "temperature", "degC", "Air")


class FakeLive:
    def latest(self, chamber_id: str) -> list[LiveReading] | None:
        if chamber_id != "c1":
            return None
        s = Sample("c1", "air", T0_US, -70.25, -70.3, Quality.GOOD, TimeSource.HOST)
        return [LiveReading(AIR_CHANNEL, s)]


class FakeHealth:
    def devices(self) -> list[DeviceReport]:
        dead = DeviceHealth(state="offline", last_error="no reply from device 9")
        stalled = BackfillHealth(state="stalled", last_error="record 5 cannot be read")
        return [DeviceReport("c1", "d1", "reference-modbus", dead, stalled)]

    def writer(self) -> WriterHealth | None:
        return None

    def store(self) -> StoreInfo:
        return StoreInfo("sqlite", "sqlite:///fake.db", None)


class FakeCatalog:
    def refresh_catalog(self) -> None:
        pass

    def chamber_names(self) -> dict[str, str | None]:
        return {"c1": "Chamber 1"}

    def chamber_channels(self, chamber_id: str, refresh: bool = True) -> list[ChannelMeta]:
        return [AIR] if chamber_id == "c1" else []


class FakeHistory:
    def __init__(self) -> None:
        self.down = False

    def _rows(self, start_us: int, end_us: int) -> list[tuple[Any, ...]]:
        if self.down:
            raise StoreError("the database is restarting")
        return [
            (AIR.key, ts, 20.0 + i, 20.0 + i, "good", "host", None, None, None, None, None)
            for i in range(3)
            if start_us <= (ts := T0_US + i * 1_000_000) < end_us
        ]

    def count(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        at_most: int,
    ) -> int:
        return min(at_most, len(self._rows(start_us, end_us)))

    def columns(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        limit: int,
    ) -> SampleColumns:
        rows = self._rows(start_us, end_us)[:limit]
        return SampleColumns.of_rows(rows, {AIR.key: AIR.channel_id})

    def newest(self, chamber_id: str) -> dict[str, StoredSample | None]:
        return {"air": None}

    def downsample(self, meta: ChannelMeta, start_us: int, end_us: int, max_points: int) -> Series:
        ts = np.array([T0_US], dtype=np.int64)
        one = np.array([21.0])
        return Series("air", "1m", 60_000_000, ts, one, one - 1, one + 1, np.array([3]))

    def export(self, *args: Any) -> Iterator[bytes]:
        yield b"timestamp,channel\n"


class FakeEvents:
    def events(
        self,
        chamber_id: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[Event]:
        return [Event(T0_US, "c1", "d1", EventKind.GAP, Severity.ERROR, "records lost", {})]

    def gaps(self, chamber_id: str | None = None, device_id: str | None = None) -> list[Gap]:
        return [Gap("c1", "d1", 5, 9, T0_US, None, T0_US)]


class FakeCertificates:
    def certificate(self, chamber_id: str, channel_id: str) -> CertificateInfo | None:
        return CertificateInfo("CERT-1", 2, "Lab", date(2025, 1, 1), date(2026, 1, 1), True)

    def past_due(self, chamber_id: str) -> dict[str, bool] | None:
        return {"air": True}


class NoRuns:
    """A run book with no runs; the routes of runs are tested on a real store (test_runs.py)."""

    def create(self, *args: Any, **kwargs: Any) -> Run:
        raise AssertionError("these tests create no runs")

    def close(self, run_id: int, end_us: int) -> Run:
        raise UnknownRun(f"no run {run_id}")

    def get(self, run_id: int) -> Run | None:
        return None

    def list(
        self, chamber_id: str | None = None, open_only: bool = False, limit: int = 1000
    ) -> list[Run]:
        return []


class NoReports:
    def report(self, run_id: int, fmt: str, family: str, rule: str) -> bytes:
        raise UnknownRun(f"no run {run_id}")


class NoAlarms:
    """No alarms; the alarm routes are tested on a real store (test_alarms.py)."""

    def get(self, alarm_id: int) -> Alarm | None:
        return None

    def acknowledge(self, alarm_id: int, by: str, comment: str, utc_us: int) -> Alarm:
        raise UnknownAlarm(f"no alarm {alarm_id}")

    def list(self, *args: Any, **kwargs: Any) -> list[Alarm]:
        return []


class HealthyHealth(FakeHealth):
    def devices(self) -> list[DeviceReport]:
        return [DeviceReport("c1", "d1", "reference-modbus", DeviceHealth(state="ok"), None)]


def ports(history: FakeHistory | None = None, health: FakeHealth | None = None) -> Ports:
    return Ports(
        FakeLive(),
        health or FakeHealth(),
        FakeCatalog(),
        history or FakeHistory(),
        FakeEvents(),
        FakeCertificates(),
        NoRuns(),
        NoReports(),
        NoAlarms(),
    )


def client(
    history: FakeHistory | None = None, health: FakeHealth | None = None
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(ports(history, health)))
    return httpx.AsyncClient(transport=transport, base_url="http://api")
