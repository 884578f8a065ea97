"""What acquisition reports about each device and the writer about the store, and what the API
shows of it in /api/v1/health.

Plain records: acquisition writes them as it goes, the service hands them to the API, and the
API turns every field into JSON (a `<name>_utc_us` timestamp as ISO 8601 `<name>_utc`), so a
field added here appears in the API without code there.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeviceInfo:
    model: str
    serial_number: str
    firmware_version: str
    channel_count: int
    calibration_date: str | None = None


@dataclass
class DeviceHealth:
    state: str = "starting"  # starting | ok | error (bad replies) | offline (no reply)
    last_ok_utc_us: int | None = None
    last_error: str | None = None
    last_error_utc_us: int | None = None
    consecutive_failures: int = 0
    reads_ok: int = 0
    reads_failed: int = 0
    retries: int = 0
    missed_ticks: int = 0  # ticks a poll overran: recorded as samples of quality `skipped`
    # Ticks not polled because the device's line was quarantined (no device on it answered):
    # recorded as samples of quality `skipped` too.
    line_quarantined_ticks: int = 0
    late_polls: int = 0  # polls started more than 250 ms after their tick
    poll_lateness_ms_p50: float | None = None  # of the last 600 polls' starts after their tick
    poll_lateness_ms_p99: float | None = None
    quarantined: bool = False  # left alone (no I/O) until quarantine_until_utc_us
    quarantines: int = 0  # back-off periods it was left alone for on its own account
    quarantine_until_utc_us: int | None = None
    # Why it is left alone: `device` (its own failed polls) or `line` (no device on its line
    # answered: the line is quarantined, see LineHealth). None when it is not.
    quarantine_reason: str | None = None
    info: DeviceInfo | None = None
    errors_by_kind: dict[str, int] = field(default_factory=dict)


@dataclass
class LineHealth:
    """A line shared by two or more devices (a serial port, a TCP endpoint), quarantined as a
    whole when none of its devices answers: none of them is polled until
    quarantine_until_utc_us, then one is probed (docs/serial-lines.md)."""

    name: str  # the line's url, as the devices' configuration names it
    devices: list[str]  # chamber/device of each device on it, in configuration order
    quarantined: bool = False
    quarantines: int = 0  # back-off periods it was quarantined for (a failed probe starts one)
    quarantine_until_utc_us: int | None = None


@dataclass
class BackfillHealth:
    """Where the device's history stands, for /api/v1/health."""

    # starting | waiting_for_store | downloading | behind (downloading, but the logger records
    # at least as fast as its memory is read: the download cannot catch up; see the rates) |
    # following | stalled (records wait in the logger and reads make no progress: see
    # last_error)
    state: str = "starting"
    cursor: int | None = None  # the newest record handed on to the store
    logger_newest: int | None = None
    logger_oldest: int | None = None
    download_from: int | None = None  # the current download, when there is one
    download_to: int | None = None  # its end: the logger's newest record, as it records on
    # The download's pace, measured over the last span of 10 s or more (None until then):
    read_rate_per_s: float | None = None  # records read from the logger's memory
    record_rate_per_s: float | None = None  # records the logger took meanwhile
    eta_s: float | None = None  # time to catch up at those rates (None: it cannot, or unknown)
    records_downloaded: int = 0  # over the life of this loggerd
    records_lost: int = 0  # in gaps found by this loggerd
    last_error: str | None = None
    clock_offset_s: float | None = None
    clock_uncertainty_s: float | None = None
    clock_drift_ppm: float | None = None
    clock_checked_utc_us: int | None = None

    @property
    def progress(self) -> float | None:
        """Share of the current download done, 0..1 (None when not downloading)."""
        if self.download_from is None or self.download_to is None or self.cursor is None:
            return None
        total = self.download_to - self.download_from + 1
        return min(1.0, max(0.0, (self.cursor - self.download_from + 1) / total))


@dataclass
class WriterHealth:
    """The writer's state: what waits for the store, and why it waits."""

    state: str  # ok | degraded
    reason: str | None  # why degraded: the store's or the spool's error, and what to do
    queued: int  # samples accepted and not yet in the store (spooled and held)
    spooled: int  # of those, samples safe in the spool on disk
    held: int  # of those, samples only in memory (the spool refused them)
    capacity: int  # held samples at which submit() waits (back-pressure)
    written: int  # samples now in the store (stored by us, or there already)
    duplicates: int  # of those, samples that were there already (retries, overlapping backfill)
    conflicts: int  # logger records read again with another value (kept as first stored)
    expired: int  # samples older than the raw retention, not stored
    failed_flushes: int
    last_error: str | None
    last_flush_utc_s: float | None
    last_flush_duration_s: float | None
    oldest_pending_age_s: float | None  # the writer's lag: how long the oldest sample waits
    spool_bytes: int | None
    # The 99th percentile of the latest 600 spool appends, ms: what a poll's hand-off to
    # history waits (None: nothing appended yet, or no spool).
    spool_append_ms_p99: float | None = None
