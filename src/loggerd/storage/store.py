"""History: samples and their rollups in SQLite (embedded default) or PostgreSQL (many chambers).

Knows nothing of hardware. `Store` is the one name callers use: a thin facade over the store's
parts, each a module of its own beside this one:

- database.py: the engine and the facts every part shares; model.py: errors and the data types;
- revisions.py: the schema's revision (Alembic upgrade, check);
- catalog.py: chambers, devices and channels, registered and cached;
- sample_writer.py: a batch of samples and its rollups in one transaction, one strategy per
  engine (`executemany` on SQLite, binary COPY on PostgreSQL);
- event_log.py: events, gaps and clock checks;
- reader.py: history, latest, counts, device cursors, and the rows downsampling is built from;
- retention.py: prune; recorrect.py: re-correction and the rollups it rebuilds;
- runs.py: test runs (the run book); alarm_log.py: alarms, acknowledgements, history.

Timestamps are UTC microseconds since the Unix epoch (BIGINT) on both engines.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import Engine

from loggerd.core.channels import Channel
from loggerd.core.events import ClockCheck, Event, Gap
from loggerd.core.samples import Sample
from loggerd.storage import retention as _retention
from loggerd.storage import revisions
from loggerd.storage.alarm_log import AlarmLog
from loggerd.storage.catalog import Catalog
from loggerd.storage.database import Database
from loggerd.storage.event_log import EventLog
from loggerd.storage.model import (
    ChannelMeta,
    Conflict,
    DeviceRow,
    Retention,
    SchemaError,
    StoredSample,
    StoreError,
    WriteResult,
)
from loggerd.storage.reader import HistoryReader
from loggerd.storage.recorrect import Recorrection, Recorrector
from loggerd.storage.revisions import head_revision
from loggerd.storage.runs import RunBook
from loggerd.storage.sample_batch import SampleBatch
from loggerd.storage.sample_writer import COPY_SAMPLES, COPY_TYPES, SAMPLE_COLUMNS, SampleWriter

__all__ = [
    "COPY_SAMPLES",
    "COPY_TYPES",
    "SAMPLE_COLUMNS",
    "ChannelMeta",
    "Conflict",
    "DeviceRow",
    "Recorrection",
    "Retention",
    "SchemaError",
    "Store",
    "StoreError",
    "StoredSample",
    "WriteResult",
    "head_revision",
    "sqlite_url",
]


def sqlite_url(data_dir: Path) -> str:
    """The URL of the default store: `loggerd.db` in the daemon's data folder."""
    return f"sqlite:///{data_dir / 'loggerd.db'}"


class Store:
    """The sample history. Thread-safe through SQLAlchemy's pool; calls block.

    Each method hands over to one part (see the module's docstring); the parts share one
    Database, so `engine` and `retention` set here reach all of them.
    """

    def __init__(
        self,
        url: str,
        synchronous: str = "FULL",
        busy_timeout_s: float = 30.0,
        *,
        schema: str | None = None,
        retention: Retention | None = None,
    ) -> None:
        self._db = db = Database(
            url, synchronous, busy_timeout_s, schema=schema, retention=retention
        )
        # The parts, public for callers that need one directly (downsampling reads through
        # `reader`, the history benchmark makes rows with `sample_writer`).
        self.catalog = Catalog(db)
        self.sample_writer = SampleWriter.for_database(db, self.catalog)
        self.event_log = EventLog(db)
        self.reader = HistoryReader(db, self.catalog)
        self.recorrector = Recorrector(db, self.catalog)
        self.runs = RunBook(db)
        self.alarms = AlarmLog(db)

    # The database's facts; engine and retention may be replaced while the store is open.

    @property
    def engine(self) -> Engine:
        return self._db.engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._db.engine = engine

    @property
    def retention(self) -> Retention:
        return self._db.retention

    @retention.setter
    def retention(self, retention: Retention) -> None:
        self._db.retention = retention

    @property
    def url(self) -> str:
        """The database's URL, password hidden (for messages and health)."""
        return self._db.url

    @property
    def engine_name(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._db.engine_name

    @property
    def is_sqlite(self) -> bool:
        return self._db.is_sqlite

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema the store lives in (None: the default search path)."""
        return self._db.schema

    # Schema: revisions.py.
    def upgrade(self) -> str:
        """Bring the database to the newest schema (Alembic); returns the revision."""
        return revisions.upgrade(self._db)

    def revision(self) -> str | None:
        """The database's schema revision; None for an empty database."""
        return revisions.revision(self._db)

    def check_schema(self) -> None:
        """Raise SchemaError unless the database is at the revision this code needs."""
        revisions.check_schema(self._db, self.revision())

    def prepare_schema(self) -> None:
        """Make the schema current (SQLite: the file is this loggerd's own) or check that it
        is (PostgreSQL: `loggerd db upgrade` is an operator's step, never done behind one's
        back)."""
        if self.is_sqlite:
            self.upgrade()
        else:
            self.check_schema()

    # Catalog: catalog.py.
    def open(
        self,
        chamber_names: dict[str, str | None],
        channel_rows: Sequence[Channel],
        device_rows: Sequence[DeviceRow] = (),
    ) -> None:
        """Make the schema current (SQLite) or check it (PostgreSQL), then register chambers,
        devices and channels. Several loggerds may register into one database at once."""
        self.prepare_schema()
        self.catalog.register(chamber_names, channel_rows, device_rows)

    def refresh_catalog(self) -> None:
        """Read the catalog again (other loggerds may have registered since)."""
        self.catalog.refresh()

    def chamber_names(self) -> dict[str, str | None]:
        """Every chamber in the database (other loggerds' too), by id."""
        return self.catalog.chamber_names()

    def chamber_channels(self, chamber_id: str, refresh: bool = True) -> list[ChannelMeta]:
        """The chamber's channels in registration order; re-reads the catalog on a miss."""
        return self.catalog.chamber_channels(chamber_id, refresh)

    def channel(self, chamber_id: str, channel_id: str) -> ChannelMeta:
        """A channel by its ids; re-reads the catalog on a miss, StoreError if still unknown."""
        return self.catalog.channel(chamber_id, channel_id)

    # Writing: sample_writer.py, event_log.py.
    def write(self, batch: Sequence[Sample] | SampleBatch) -> WriteResult:
        """Write samples (or a batch of them as columns, as the spool keeps them) and fold the
        new ones into the rollups, in one transaction.

        A sample already stored (same channel and time, or same channel and logger sequence
        number) is left as it is, so retries and overlapping backfills are harmless. A sample
        older than the raw retention is not stored: it would be deleted at the next prune, and
        its rollup buckets may already have been folded from it.
        """
        return self.sample_writer.write(batch)

    def write_log(
        self,
        events: Sequence[Event] = (),
        gaps: Sequence[Gap] = (),
        clock_checks: Sequence[ClockCheck] = (),
    ) -> None:
        """Write events, gaps and clock checks in one transaction; ones already stored (the
        same key: a spool drained again after a crash) are left as they are."""
        self.event_log.write(events, gaps, clock_checks)

    # Reading: event_log.py, reader.py.
    def events(
        self,
        chamber_id: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[Event]:
        """Events in [start_us, end_us), newest first."""
        return self.event_log.events(chamber_id, start_us, end_us, kinds, limit)

    def gaps(self, chamber_id: str | None = None, device_id: str | None = None) -> list[Gap]:
        """Spans of logger records lost for good, oldest first."""
        return self.event_log.gaps(chamber_id, device_id)

    def clock_checks(self, chamber_id: str, device_id: str, limit: int = 100) -> list[ClockCheck]:
        """A device's clock checks, newest first."""
        return self.event_log.clock_checks(chamber_id, device_id, limit)

    def device_cursor(
        self, chamber_id: str, channel_ids: Sequence[str]
    ) -> tuple[int, int, int | None] | None:
        """The logger record up to which every one of the device's channels is stored, its
        time and the logger's own time of it (None: none yet); see HistoryReader."""
        return self.reader.device_cursor(chamber_id, channel_ids)

    def history(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        limit: int | None = None,
    ) -> Iterator[StoredSample]:
        """Samples in [start_us, end_us), by time then channel. Streams from the database."""
        return self.reader.history(chamber_id, channel_ids, start_us, end_us, limit)

    def latest(self, chamber_id: str) -> dict[str, StoredSample | None]:
        """The newest stored sample of each of the chamber's channels (for API replicas that
        run no acquisition, and so have no ring)."""
        return self.reader.latest(chamber_id)

    def count(
        self,
        chamber_id: str | None = None,
        channel_ids: Sequence[str] = (),
        start_us: int | None = None,
        end_us: int | None = None,
    ) -> int:
        """Stored samples: all of them, or of some channels in [start_us, end_us)."""
        return self.reader.count(chamber_id, channel_ids, start_us, end_us)

    # Retention: retention.py; re-correction: recorrect.py.
    def prune(self, now_us: int | None = None) -> dict[str, int]:
        """Delete raw samples and rollup rows older than their retention; rows deleted by
        table. Channel by channel, so no transaction holds the write lock for long."""
        return _retention.prune(self._db, self.catalog, now_us)

    def recorrect(
        self,
        chamber_id: str,
        channel_id: str,
        correct: Recorrection,
        start_us: int,
        end_us: int,
        probe_channel_id: str | None = None,
    ) -> int:
        """Correct a channel's stored samples again from their raw values; how many changed.

        For a replaced calibration certificate: `correct(raw, probe)` gives the new values,
        their uncertainties, an out-of-range mask and the certificate version (`probe` is the
        probe-temperature channel's value at the same instant, NaN where there is none, for a
        2-D RH table). Raw values are not touched; samples without one (missing, faults) are
        left alone. The rollup buckets the range touches are rebuilt from the samples, in the
        same transaction.
        """
        return self.recorrector.recorrect(
            chamber_id, channel_id, correct, start_us, end_us, probe_channel_id
        )

    def close(self) -> None:
        self._db.engine.dispose()
