"""What the API reads, as small read-only interfaces (ports), handed in by whoever serves it.

The daemon hands in its live view, its devices' health and its store; an API replica only its
store. Nothing here talks to a device: the API can run in a process that polls nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from loggerd.chamber.decision import Rule
from loggerd.chamber.statistics import Family
from loggerd.core.alarms import Alarm
from loggerd.core.events import Event, Gap
from loggerd.core.health import BackfillHealth, DeviceHealth, LineHealth, WriterHealth
from loggerd.core.profiles import Profile, Run
from loggerd.live.view import LiveReading
from loggerd.reports import ReportFormat
from loggerd.storage.downsample import Series
from loggerd.storage.export import Format
from loggerd.storage.reader import SampleColumns
from loggerd.storage.store import ChannelMeta, StoredSample


class LiveReadings(Protocol):
    def latest(self, chamber_id: str) -> list[LiveReading] | None:
        """Each channel's newest live reading; None for a chamber not polled here."""


@dataclass(frozen=True)
class DeviceReport:
    chamber_id: str
    device_id: str
    driver: str
    health: DeviceHealth
    backfill: BackfillHealth | None  # for a logger whose history is its memory
    line: LineHealth | None = None  # the line it shares with other devices, if it does


@dataclass(frozen=True)
class StoreInfo:
    engine: str  # sqlite | postgresql
    url: str  # without password
    schema: str | None


class Health(Protocol):
    def devices(self) -> list[DeviceReport]: ...

    def writer(self) -> WriterHealth | None:
        """None where nothing is written (an API replica)."""

    def store(self) -> StoreInfo: ...


class Catalog(Protocol):
    """Every chamber and channel any loggerd registered in the store, so replicas agree."""

    def refresh_catalog(self) -> None: ...

    def chamber_names(self) -> dict[str, str | None]: ...

    def chamber_channels(self, chamber_id: str, refresh: bool = True) -> list[ChannelMeta]: ...


class History(Protocol):
    def count(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        at_most: int,
    ) -> int:
        """Raw samples in [start_us, end_us), counted up to `at_most` (a bounded cost)."""

    def columns(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        limit: int,
    ) -> SampleColumns:
        """The first `limit` raw samples in [start_us, end_us), by time then channel."""

    def newest(self, chamber_id: str) -> dict[str, StoredSample | None]:
        """Each channel's newest stored sample (for chambers not polled here)."""

    def downsample(self, meta: ChannelMeta, start_us: int, end_us: int, max_points: int) -> Series:
        """At most max_points of one channel: raw samples, or exact buckets."""

    def export(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        fmt: Format,
        limit: int | None,
        past_due: dict[str, bool] | None,
    ) -> Iterator[bytes]:
        """The raw samples, encoded, streamed."""


class EventLog(Protocol):
    def events(
        self,
        chamber_id: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[Event]:
        """Events in [start_us, end_us), newest first."""

    def gaps(self, chamber_id: str | None = None, device_id: str | None = None) -> list[Gap]: ...


@dataclass(frozen=True)
class CertificateInfo:
    certificate_id: str
    version: int
    laboratory: str
    issued: date
    due: date
    past_due: bool


class Certificates(Protocol):
    def certificate(self, chamber_id: str, channel_id: str) -> CertificateInfo | None: ...

    def past_due(self, chamber_id: str) -> dict[str, bool] | None:
        """Per channel with a certificate, whether it is past due; None: not known here."""


class Runs(Protocol):
    """Test runs: read, and opened and closed (they are the lab's records, not hardware)."""

    def create(
        self,
        chamber_id: str,
        test_id: str,
        unit_under_test: str,
        operator: str,
        profile: Profile,
        start_us: int,
        created_us: int,
        notes: str = "",
    ) -> Run: ...

    def close(self, run_id: int, end_us: int) -> Run: ...

    def get(self, run_id: int) -> Run | None: ...

    def list(
        self, chamber_id: str | None = None, open_only: bool = False, limit: int = 1000
    ) -> list[Run]: ...


class Alarms(Protocol):
    """Alarms as stored, and their acknowledgement by a person."""

    def get(self, alarm_id: int) -> Alarm | None: ...

    def acknowledge(self, alarm_id: int, by: str, comment: str, utc_us: int) -> Alarm: ...

    def list(
        self,
        chamber_id: str | None = None,
        state: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 1000,
    ) -> list[Alarm]: ...


class RunReports(Protocol):
    def report(self, run_id: int, fmt: ReportFormat, family: Family, rule: Rule) -> bytes:
        """Run `run_id`'s report (reports/); UnknownRun for no such run."""


@dataclass(frozen=True)
class Ports:
    """Everything the API reads."""

    live: LiveReadings
    health: Health
    catalog: Catalog
    history: History
    events: EventLog
    certificates: Certificates
    runs: Runs
    reports: RunReports
    alarms: Alarms
