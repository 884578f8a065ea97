"""The API's ports, served by this process's parts: the store (catalog, history, events), the
live view, the devices' and the writer's health, the chambers' certificates."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loggerd.api.ports import (
    CertificateInfo,
    Certificates,
    DeviceReport,
    LiveReadings,
    Ports,
    StoreInfo,
)
from loggerd.chamber.decision import Rule
from loggerd.chamber.statistics import Family
from loggerd.core.health import WriterHealth
from loggerd.live.view import LiveReading
from loggerd.processing.pipeline import ChamberProcessor
from loggerd.reports import Calibration, ReportFormat, RunData, gather, render
from loggerd.storage.downsample import Series, downsample
from loggerd.storage.export import Format, export_chunks
from loggerd.storage.reader import SampleColumns
from loggerd.storage.store import ChannelMeta, Store, StoredSample

if TYPE_CHECKING:  # an API replica imports this module and loads no acquisition code
    from loggerd.acquisition.poller import DevicePoller


class StoreHistory:
    """History read from the store: raw samples, downsampled series, exports."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def count(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        at_most: int,
    ) -> int:
        return self.store.reader.count_at_most(chamber_id, channel_ids, start_us, end_us, at_most)

    def columns(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        limit: int,
    ) -> SampleColumns:
        return self.store.reader.sample_columns(chamber_id, channel_ids, start_us, end_us, limit)

    def newest(self, chamber_id: str) -> dict[str, StoredSample | None]:
        return self.store.latest(chamber_id)

    def downsample(self, meta: ChannelMeta, start_us: int, end_us: int, max_points: int) -> Series:
        return downsample(self.store, meta, start_us, end_us, max_points)

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
        return export_chunks(
            self.store, chamber_id, channel_ids, start_us, end_us, fmt, limit, past_due=past_due
        )


@dataclass(frozen=True)
class ServedHealth:
    """The health of what this process runs: its devices and writer (none on an API replica,
    which polls and writes nothing), and the store it reads."""

    store_: Store
    pollers: Sequence[DevicePoller] = ()
    drivers: Mapping[tuple[str, str], str] = field(default_factory=dict)  # -> driver name
    writer_health: Callable[[], WriterHealth] | None = None

    def devices(self) -> list[DeviceReport]:
        return [
            DeviceReport(
                p.chamber_id,
                p.device_id,
                self.drivers[(p.chamber_id, p.device_id)],
                p.health,
                None if p.follower is None else p.follower.health,
                None if p.line_gate is None else p.line_gate.health,
            )
            for p in self.pollers
        ]

    def writer(self) -> WriterHealth | None:
        return None if self.writer_health is None else self.writer_health()

    def store(self) -> StoreInfo:
        return StoreInfo(self.store_.engine_name, self.store_.url, self.store_.schema)


@dataclass(frozen=True)
class ServedSnapshot:
    """What acquisition's process tells the API's process, every half second: its devices' and
    writer's health and its chambers' certificates (everything else the API reads from the
    store and the shared live view)."""

    devices: list[DeviceReport]
    writer: WriterHealth | None
    certificates: dict[tuple[str, str], CertificateInfo]
    past_due: dict[str, dict[str, bool]]


class SnapshotHealth:
    """Health as the last snapshot from acquisition's process said it; the store's own.

    A request that reads devices' or the writer's health gets a snapshot at most FRESH_S old:
    an older one is asked for again (`wanted`) and waited for, up to WAIT_S. `read` says
    whether a request has read health since the last snapshot came: the API's link asks for
    the next one sooner if so (see api_worker)."""

    FRESH_S = 0.5
    WAIT_S = 2.0

    def __init__(self, store: Store, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store_ = store
        self.snapshot = ServedSnapshot([], None, {}, {})
        self.read = False
        self.wanted = False
        self.monotonic = monotonic
        self._came_at = -math.inf
        self._came = threading.Condition()

    def update(self, snapshot: ServedSnapshot) -> None:
        with self._came:
            self.snapshot = snapshot
            self._came_at = self.monotonic()
            self.read = self.wanted = False
            self._came.notify_all()

    def _fresh(self) -> ServedSnapshot:
        self.read = True
        asked_at = self.monotonic()
        if asked_at - self._came_at > self.FRESH_S:
            with self._came:
                self.wanted = True
                self._came.wait_for(lambda: self._came_at >= asked_at, self.WAIT_S)
        return self.snapshot  # the last one, if acquisition did not answer in time

    def devices(self) -> list[DeviceReport]:
        return self._fresh().devices

    def writer(self) -> WriterHealth | None:
        return self._fresh().writer

    def store(self) -> StoreInfo:
        return StoreInfo(self.store_.engine_name, self.store_.url, self.store_.schema)


class SnapshotCertificates:
    """Certificates as the last snapshot said them."""

    def __init__(self, health: SnapshotHealth) -> None:
        self.health = health

    def certificate(self, chamber_id: str, channel_id: str) -> CertificateInfo | None:
        return self.health.snapshot.certificates.get((chamber_id, channel_id))

    def past_due(self, chamber_id: str) -> dict[str, bool] | None:
        return self.health.snapshot.past_due.get(chamber_id)


class NoLiveReadings:
    """A process that polls nothing: every chamber's latest comes from the store."""

    def latest(self, chamber_id: str) -> list[LiveReading] | None:
        return None


class ProcessorCertificates:
    """The certificates of the chambers processed here (none for a replica)."""

    def __init__(self, processors: Mapping[str, ChamberProcessor]) -> None:
        self.processors = processors

    def certificate(self, chamber_id: str, channel_id: str) -> CertificateInfo | None:
        processor = self.processors.get(chamber_id)
        cal = processor.calibrations.get(channel_id) if processor is not None else None
        if processor is None or cal is None:
            return None
        cert = cal.certificate
        return CertificateInfo(
            cert.id,
            cert.version,
            cert.laboratory,
            cert.issued,
            cert.due,
            processor.past_due(channel_id),
        )

    def past_due(self, chamber_id: str) -> dict[str, bool] | None:
        processor = self.processors.get(chamber_id)
        if processor is None:
            return None
        return {c: processor.past_due(c) for c in processor.calibrations}


def served_snapshot(
    health: ServedHealth, processors: Mapping[str, ChamberProcessor]
) -> ServedSnapshot:
    certificates = ProcessorCertificates(processors)
    return ServedSnapshot(
        health.devices(),
        health.writer(),
        {
            (chamber_id, channel_id): info
            for chamber_id, processor in processors.items()
            for channel_id in processor.calibrations
            if (info := certificates.certificate(chamber_id, channel_id)) is not None
        },
        {
            chamber_id: past_due
            for chamber_id in processors
            if (past_due := certificates.past_due(chamber_id)) is not None
        },
    )


class StoreReports:
    """Reports of runs from the store, with the calibration of the channels processed here."""

    def __init__(self, store: Store, certificates: Certificates) -> None:
        self.store = store
        self.certificates = certificates

    def report(self, run_id: int, fmt: ReportFormat, family: Family, rule: Rule) -> bytes:
        return render(self.gather(run_id), fmt, family, rule)

    def gather(self, run_id: int) -> RunData:
        """What run `run_id`'s report is computed from, with each channel's certificate."""
        run = self.store.runs.get(run_id)
        calibrations: dict[str, Calibration | None] = {}
        if run is not None:
            for meta in self.store.chamber_channels(run.chamber_id):
                info = self.certificates.certificate(run.chamber_id, meta.channel_id)
                if info is not None:
                    calibrations[meta.channel_id] = Calibration(
                        info.certificate_id, info.version, info.due.isoformat(), info.past_due
                    )
        return gather(self.store, run_id, calibrations or None)


def store_ports(
    store: Store,
    live: LiveReadings,
    health: ServedHealth,
    processors: Mapping[str, ChamberProcessor],
) -> Ports:
    return Ports(
        live=live,
        health=health,
        catalog=store,
        history=StoreHistory(store),
        events=store,
        certificates=ProcessorCertificates(processors),
        runs=store.runs,
        reports=StoreReports(store, ProcessorCertificates(processors)),
        alarms=store.alarms,
    )
