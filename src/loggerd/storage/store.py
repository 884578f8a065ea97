"""History: samples and their rollups in SQLite (embedded default) or PostgreSQL (many chambers).

Knows nothing of hardware. One code path for both engines, except the bulk write, where each
takes its own fast path behind `Store.write`: `executemany` on SQLite, binary COPY on
PostgreSQL. A write is one transaction: the samples, and the rollups of the samples that were
really new, so a retried batch never counts twice. Timestamps are UTC microseconds since the
Unix epoch (BIGINT) on both engines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, bindparam, case, create_engine, delete, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from loggerd.core.channels import Channel
from loggerd.core.errors import LoggerdError
from loggerd.core.events import ClockCheck, Event, EventKind, Gap, Severity
from loggerd.core.samples import VALUED_QUALITIES, Quality, Sample, TimeSource
from loggerd.storage import rollups, schema
from loggerd.storage.schema import TIERS, Tier, chambers, channels, devices, rollup_tables, samples

log = logging.getLogger(__name__)

__all__ = ["ChannelMeta", "DeviceRow", "Retention", "Store", "StoreError"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SAMPLE_COLUMNS = (
    "channel_key, ts_us, value, raw_value, quality, time_source, sequence, calibration_version, "
    "uncertainty, method, clock_offset_us"
)
COPY_SAMPLES = f"COPY samples ({SAMPLE_COLUMNS}) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = [
    "int4",
    "int8",
    "float8",
    "float8",
    "varchar",
    "varchar",
    "int8",
    "int4",
    "float8",
    "varchar",
    "int8",
]
# Qualities whose value counts (in rollups too): see samples.VALUED_QUALITIES.
_VALUED = frozenset(q.value for q in VALUED_QUALITIES)

# raw values, probe temperatures -> (values, uncertainties, out-of-range mask, version)
Recorrection = Callable[
    [np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]],
    tuple[
        np.ndarray[Any, np.dtype[np.float64]],
        np.ndarray[Any, np.dtype[np.float64]],
        np.ndarray[Any, np.dtype[np.bool_]],
        int,
    ],
]

Row = tuple[
    int,
    int,
    float | None,
    float | None,
    str,
    str,
    int | None,
    int | None,
    float | None,
    str | None,
    int | None,
]


class StoreError(LoggerdError):
    """The store cannot be reached or refused a write; nothing was written."""


class SchemaError(StoreError):
    """The database's schema is not the one this loggerd needs (run `loggerd db upgrade`)."""


@dataclass(frozen=True)
class DeviceRow:
    chamber_id: str
    device_id: str
    driver: str | None = None


@dataclass(frozen=True)
class ChannelMeta:
    """A channel as the database knows it, whichever loggerd registered it."""

    key: int
    chamber_id: str
    channel_id: str
    device_id: str
    name: str | None
    point: str
    quantity: str
    unit: str


@dataclass(frozen=True)
class StoredSample:
    channel_id: str
    timestamp_us: int
    value: float | None
    raw_value: float | None
    quality: Quality
    time_source: TimeSource
    sequence: int | None
    calibration_version: int | None = None
    uncertainty: float | None = None
    method: str | None = None
    clock_offset_us: int | None = None

    @property
    def logger_time_us(self) -> int | None:
        """The logger's own, uncorrected, time of a logger-stamped sample."""
        if self.clock_offset_us is None:
            return None
        return self.timestamp_us + self.clock_offset_us


@dataclass(frozen=True)
class Retention:
    """How long to keep raw samples and each rollup tier; None keeps them for ever."""

    raw_s: float | None = None
    rollup_s: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict:
    """A logger record read again whose value or time differs from the one stored: the stored
    one is kept (it was read first) and the difference is raised as an event."""

    chamber_id: str
    channel_id: str
    device_id: str
    sequence: int
    stored_raw_value: float | None
    stored_logger_time_us: int | None
    new_raw_value: float | None
    new_logger_time_us: int | None


@dataclass(frozen=True)
class WriteResult:
    inserted: int  # new samples stored (and folded into the rollups)
    duplicates: int  # samples already stored (same channel and time, or same logger record)
    expired: int  # samples older than the raw retention: not stored
    conflicts: tuple[Conflict, ...] = ()


class _KeyMap(dict[tuple[str, str], int]):
    """(chamber, channel) -> channel key for one batch; a miss asks the store's catalog."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def __missing__(self, ids: tuple[str, str]) -> int:
        key = self[ids] = self.store.channel(*ids).key
        return key


_CHAMBER_ID = attrgetter("chamber_id")


def _lock_id(chamber_id: str) -> int:
    """A chamber's advisory lock id (int4); a collision only makes two chambers take turns."""
    return zlib.crc32(chamber_id.encode()) - 2**31


def _differs(stored: Row, new: Row) -> bool:
    """Whether a logger record read again differs from the stored one: raw value or the
    logger's own time (the correction may differ between readings, the record may not)."""
    if (stored[3] is None) != (new[3] is None):
        return True
    if stored[3] is not None and new[3] is not None and stored[3] != new[3]:
        return True
    stored_time = None if stored[10] is None else stored[1] + stored[10]
    new_time = None if new[10] is None else new[1] + new[10]
    return stored_time != new_time


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'loggerd.db'}"


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "loggerd.storage:migrations")
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


class Store:
    """The sample history. Thread-safe through SQLAlchemy's pool; calls block."""

    def __init__(
        self,
        url: str,
        synchronous: str = "FULL",
        busy_timeout_s: float = 30.0,
        *,
        schema: str | None = None,
        retention: Retention | None = None,
    ) -> None:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        self.engine_name = parsed.get_backend_name()
        if self.engine_name not in ("sqlite", "postgresql"):
            raise StoreError(f"unsupported store URL {url!r}: use sqlite:/// or postgresql://")
        self.is_sqlite = self.engine_name == "sqlite"
        if schema is not None and (self.is_sqlite or not _SCHEMA_NAME.match(schema)):
            raise StoreError(
                f"schema {schema!r}: only for PostgreSQL, lower-case letters, digits and _"
            )
        if synchronous not in ("FULL", "NORMAL"):
            raise StoreError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.schema = schema
        self.retention = retention or Retention()
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            # How long a write waits for another process's lock before it counts as failed.
            kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        elif schema is not None:
            kwargs["connect_args"] = {"options": f"-c search_path={schema}"}
        self.engine: Engine = create_engine(parsed, **kwargs)
        self.url = self._safe_url()
        if self.is_sqlite:
            self._sqlite_pragmas(synchronous)
        # Advisory locks are database-wide: keep each schema's channels apart.
        self._lock_namespace = zlib.crc32((schema or "public").encode()) - 2**31
        self._by_id: dict[tuple[str, str], ChannelMeta] = {}
        self._by_key: dict[int, ChannelMeta] = {}
        self._chamber_names: dict[str, str | None] = {}
        self._sqlite_merge = {t.name: rollups.sqlite_merge_sql(t) for t in TIERS}
        self._postgres_merge = {t.name: rollups.postgres_merge_sql(t) for t in TIERS}

    def _sqlite_pragmas(self, synchronous: str) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # --- schema -------------------------------------------------------------------------------

    def upgrade(self) -> str:
        """Bring the database to the newest schema (Alembic); returns the revision."""
        from alembic import command

        try:
            with self.engine.begin() as conn:
                if not self.is_sqlite:
                    # Two loggerds upgrading one database at once: the second waits.
                    conn.exec_driver_sql(
                        "SELECT pg_advisory_xact_lock(%(ns)s, 0)", {"ns": self._lock_namespace}
                    )
                    if self.schema is not None:
                        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                config = _alembic_config()
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot upgrade the store at {self.url}: {exc}") from exc
        return head_revision()

    def revision(self) -> str | None:
        """The database's schema revision; None for an empty database."""
        from alembic.runtime.migration import MigrationContext

        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store at {self.url}: {exc}") from exc

    def check_schema(self) -> None:
        current, head = self.revision(), head_revision()
        if current != head:
            raise SchemaError(
                f"the store at {self.url} has schema revision {current or 'none'}, this "
                f"loggerd needs {head}: run `loggerd db upgrade`"
            )

    # --- catalog ------------------------------------------------------------------------------

    def open(
        self,
        chamber_names: dict[str, str | None],
        channel_rows: Sequence[Channel],
        device_rows: Sequence[DeviceRow] = (),
    ) -> None:
        """Make the schema current (SQLite) or check it (PostgreSQL), then register chambers,
        devices and channels. Several loggerds may register into one database at once."""
        if self.is_sqlite:
            self.upgrade()
        else:
            self.check_schema()
        insert = sqlite.insert if self.is_sqlite else postgresql.insert
        drivers = {(d.chamber_id, d.device_id): d.driver for d in device_rows}
        for c in channel_rows:
            drivers.setdefault((c.chamber_id, c.device_id), None)
        try:
            with self.engine.begin() as conn:
                for cid, name in chamber_names.items():
                    conn.execute(
                        insert(chambers).values(id=cid, name=name).on_conflict_do_nothing()
                    )
                    conn.execute(update(chambers).where(chambers.c.id == cid).values(name=name))
                device_keys: dict[tuple[str, str], int] = {}
                for (cid, did), driver in sorted(drivers.items()):
                    conn.execute(
                        insert(devices)
                        .values(chamber_id=cid, device_id=did, driver=driver)
                        .on_conflict_do_nothing()
                    )
                    where = (devices.c.chamber_id == cid) & (devices.c.device_id == did)
                    if driver is not None:
                        conn.execute(update(devices).where(where).values(driver=driver))
                    device_keys[(cid, did)] = conn.execute(
                        select(devices.c.key).where(where)
                    ).scalar_one()
                for row in channel_rows:
                    values = dict(
                        device_key=device_keys[(row.chamber_id, row.device_id)],
                        name=row.name,
                        point=row.point,
                        quantity=row.quantity,
                        unit=row.unit,
                    )
                    conn.execute(
                        insert(channels)
                        .values(chamber_id=row.chamber_id, channel_id=row.channel_id, **values)
                        .on_conflict_do_nothing()
                    )
                    conn.execute(
                        update(channels)
                        .where(
                            (channels.c.chamber_id == row.chamber_id)
                            & (channels.c.channel_id == row.channel_id)
                        )
                        .values(**values)
                    )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {self.url}: {exc}") from exc
        self.refresh_catalog()

    def refresh_catalog(self) -> None:
        query = (
            select(
                channels.c.key,
                channels.c.chamber_id,
                channels.c.channel_id,
                devices.c.device_id,
                channels.c.name,
                channels.c.point,
                channels.c.quantity,
                channels.c.unit,
            )
            .join(devices, devices.c.key == channels.c.device_key)
            .order_by(channels.c.key)
        )
        try:
            with self.engine.connect() as conn:
                metas = [ChannelMeta(*r) for r in conn.execute(query)]
                names = {
                    r.id: r.name for r in conn.execute(select(chambers).order_by(chambers.c.id))
                }
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store at {self.url}: {exc}") from exc
        self._by_id = {(m.chamber_id, m.channel_id): m for m in metas}
        self._by_key = {m.key: m for m in metas}
        self._chamber_names = names

    def chamber_names(self) -> dict[str, str | None]:
        """Every chamber in the database (other loggerds' too), by id."""
        return dict(self._chamber_names)

    def chamber_channels(self, chamber_id: str, refresh: bool = True) -> list[ChannelMeta]:
        """The chamber's channels in registration order; re-reads the catalog on a miss, so a
        stateless API replica sees chambers that other loggerds registered after it started."""
        found = [m for m in self._by_key.values() if m.chamber_id == chamber_id]
        if not found and refresh:
            self.refresh_catalog()
            return self.chamber_channels(chamber_id, refresh=False)
        return found

    def channel(self, chamber_id: str, channel_id: str) -> ChannelMeta:
        meta = self._by_id.get((chamber_id, channel_id))
        if meta is None:
            self.refresh_catalog()
            meta = self._by_id.get((chamber_id, channel_id))
        if meta is None:
            raise StoreError(f"no channel {channel_id!r} of chamber {chamber_id!r} in the store")
        return meta

    # --- writing ------------------------------------------------------------------------------

    def _rows(self, batch: Iterable[Sample], cutoff_us: int | None) -> Iterator[Row]:
        """Rows to store, in batch order; samples older than `cutoff_us` are left out."""
        keys = _KeyMap(self)
        for s in batch:
            if cutoff_us is not None and s.timestamp_us < cutoff_us:
                continue
            yield (
                keys[(s.chamber_id, s.channel_id)],
                s.timestamp_us,
                # Missing is missing: NaN is stored as NULL.
                s.value if s.value == s.value else None,
                s.raw_value if s.raw_value == s.raw_value else None,
                s.quality,
                s.time_source,
                s.sequence,
                s.calibration_version,
                s.uncertainty if s.uncertainty is None or s.uncertainty == s.uncertainty else None,
                s.method,
                s.clock_offset_us,
            )

    def write(self, batch: Sequence[Sample]) -> WriteResult:
        """Write samples and fold the new ones into the rollups, in one transaction.

        A sample already stored (same channel and time, or same channel and logger sequence
        number) is left as it is, so retries and overlapping backfills are harmless. A sample
        older than the raw retention is not stored: it would be deleted at the next prune, and
        its rollup buckets may already have been folded from it.
        """
        if not batch:
            return WriteResult(0, 0, 0)
        cutoff_us = None
        if self.retention.raw_s is not None:
            cutoff_us = time.time_ns() // 1000 - int(self.retention.raw_s * 1e6)
        dbapi = self.engine.dialect.loaded_dbapi
        try:
            fairy = self.engine.raw_connection()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot connect to the store at {self.url}: {exc}") from exc
        conflicts: list[tuple[Row, Row]] = []
        try:
            if self.is_sqlite:
                kept, inserted = self._write_sqlite(
                    fairy.driver_connection, batch, cutoff_us, conflicts
                )
            else:
                kept, inserted = self._write_postgres(
                    fairy.driver_connection, batch, cutoff_us, conflicts
                )
        except dbapi.Error as exc:
            # On a dropped connection the rollback fails too: the error to report is the first.
            with contextlib.suppress(dbapi.Error):
                fairy.rollback()
            raise StoreError(f"write of {len(batch)} samples to {self.url} failed: {exc}") from exc
        finally:
            fairy.close()
        return WriteResult(
            inserted, kept - inserted, len(batch) - kept, tuple(map(self._conflict, conflicts))
        )

    def _conflict(self, pair: tuple[Row, Row]) -> Conflict:
        stored, new = pair
        meta = self._by_key[new[0]]

        def logger_time(r: Row) -> int | None:
            return None if r[10] is None else r[1] + r[10]

        return Conflict(
            meta.chamber_id,
            meta.channel_id,
            meta.device_id,
            new[6] or 0,
            stored[3],
            logger_time(stored),
            new[3],
            logger_time(new),
        )

    def _write_sqlite(
        self,
        conn: Any,
        batch: Sequence[Sample],
        cutoff_us: int | None,
        conflicts: list[tuple[Row, Row]],
    ) -> tuple[int, int]:
        rows = list(self._rows(batch, cutoff_us))
        if not rows:
            return 0, 0
        kept = len(rows)
        cur = conn.cursor()
        insert = f"INSERT INTO samples ({SAMPLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        # IMMEDIATE: take the write lock now, so the duplicate check below sees every sample
        # and no other writer can slip in between check and insert.
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("SAVEPOINT batch")
            try:
                cur.executemany(insert, rows)
            except conn.IntegrityError:
                cur.execute("ROLLBACK TO batch")
                rows = self._new_only(cur, rows, "?", conflicts)
                cur.executemany(insert, rows)
            cur.execute("RELEASE batch")
            for tier, partials in self._partials(rows):
                cur.executemany(self._sqlite_merge[tier.name], partials.rows())
            cur.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        return kept, len(rows)

    def _write_postgres(
        self,
        conn: Any,
        batch: Sequence[Sample],
        cutoff_us: int | None,
        conflicts: list[tuple[Row, Row]],
    ) -> tuple[int, int]:
        import psycopg

        # Writers of one chamber take turns (each loggerd owns its chambers, so they only meet
        # on overlapping retries): the duplicate check then sees every committed sample.
        locks = sorted({_lock_id(c) for c in set(map(_CHAMBER_ID, batch))})
        sent: list[Row] = []
        with conn.cursor() as cur:
            # One round trip (the ids are integers computed here, not input).
            cur.execute(
                "".join(
                    f"SELECT pg_advisory_xact_lock({self._lock_namespace}, {k});" for k in locks
                )
                + "SAVEPOINT batch"
            )
            pending = self._rows(batch, cutoff_us)
            try:
                # Rows are made while COPY streams, so the server works as Python converts.
                with cur.copy(COPY_SAMPLES) as copy:
                    copy.set_types(COPY_TYPES)
                    write_row, keep = copy.write_row, sent.append
                    for r in pending:
                        keep(r)
                        write_row(r)
                    partials = self._partials(sent)  # while the server finishes the COPY
                rows = sent
            except psycopg.errors.UniqueViolation:
                sent.extend(pending)  # the server may stop reading before the end
                cur.execute("ROLLBACK TO SAVEPOINT batch")
                rows = self._new_only(cur, sent, "%s", conflicts)
                self._copy(cur, rows, [])
                partials = self._partials(rows)
            with conn.pipeline():  # one round trip for the rest of the transaction
                cur.execute("RELEASE SAVEPOINT batch")
                for tier, p in partials:
                    if len(p):
                        cur.execute(self._postgres_merge[tier.name], p.array_literals())
                conn.commit()
        return len(sent), len(rows)

    @staticmethod
    def _copy(cur: Any, rows: Iterable[Row], sent: list[Row]) -> None:
        """COPY rows into samples (one binary stream), keeping each sent row in `sent`."""
        with cur.copy(COPY_SAMPLES) as copy:
            copy.set_types(COPY_TYPES)
            write_row, keep = copy.write_row, sent.append
            for r in rows:
                keep(r)
                write_row(r)

    @staticmethod
    def _new_only(
        cur: Any, rows: list[Row], mark: str, conflicts: list[tuple[Row, Row]]
    ) -> list[Row]:
        """The rows not yet stored, nor repeated earlier in the batch (under the write lock).

        A logger record stored already and read again with another value or logger time is
        not written; the pair goes to `conflicts` (the first reading stays, nothing is
        overwritten in silence).
        """
        span: dict[int, list[int]] = {}
        for r in rows:
            lo_hi = span.setdefault(r[0], [r[1], r[1], 2**62, -(2**62)])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], r[1]), max(lo_hi[1], r[1])
            if r[6] is not None:
                lo_hi[2], lo_hi[3] = min(lo_hi[2], r[6]), max(lo_hi[3], r[6])
        seen_ts: set[tuple[int, int]] = set()
        seen_seq: dict[tuple[int, int], Row] = {}
        for key, (t0, t1, s0, s1) in span.items():
            cur.execute(
                f"SELECT ts_us FROM samples WHERE channel_key = {mark} "
                f"AND ts_us >= {mark} AND ts_us <= {mark}",
                (key, t0, t1),
            )
            seen_ts.update((key, t) for (t,) in cur.fetchall())
            if s0 <= s1:
                cur.execute(
                    f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE channel_key = {mark} "
                    f"AND sequence >= {mark} AND sequence <= {mark}",
                    (key, s0, s1),
                )
                seen_seq.update(((key, r[6]), tuple(r)) for r in cur.fetchall())
        new: list[Row] = []
        for r in rows:
            if r[6] is not None:
                stored = seen_seq.get((r[0], r[6]))
                if stored is not None:
                    if _differs(stored, r):
                        conflicts.append((stored, r))
                    continue
            if (r[0], r[1]) in seen_ts:
                continue
            seen_ts.add((r[0], r[1]))
            if r[6] is not None:
                seen_seq[(r[0], r[6])] = r
            new.append(r)
        return new

    @staticmethod
    def _partials(rows: list[Row]) -> list[tuple[Tier, rollups.Partials]]:
        if not rows:
            return []
        n = len(rows)
        key = np.fromiter((r[0] for r in rows), np.int64, n)
        ts = np.fromiter((r[1] for r in rows), np.int64, n)
        # Only values count: good ones, and flagged ones that keep their value (samples.py).
        valued = _VALUED
        value = np.fromiter(
            (r[2] if r[2] is not None and r[4] in valued else math.nan for r in rows),
            np.float64,
            n,
        )
        return rollups.per_tier(key, ts, value)

    def write_log(
        self,
        events: Sequence[Event] = (),
        gaps: Sequence[Gap] = (),
        clock_checks: Sequence[ClockCheck] = (),
    ) -> None:
        """Write events, gaps and clock checks in one transaction; ones already stored (the
        same key: a spool drained again after a crash) are left as they are."""
        insert = sqlite.insert if self.is_sqlite else postgresql.insert
        work = [
            (
                schema.events,
                [
                    dict(
                        utc_us=e.utc_us,
                        chamber_id=e.chamber_id,
                        device_id=e.device_id,
                        kind=str(e.kind),
                        severity=str(e.severity),
                        message=e.message,
                        details=json.dumps(e.details, sort_keys=True, default=str),
                    )
                    for e in events
                ],
            ),
            (schema.gaps, [dataclasses.asdict(g) for g in gaps]),
            (schema.clock_checks, [dataclasses.asdict(c) for c in clock_checks]),
        ]
        try:
            with self.engine.begin() as conn:
                for table, rows in work:
                    if not rows:
                        continue
                    stmt = insert(table)
                    if table is schema.gaps:
                        # A gap found again after a crash (its records' samples lost with the
                        # process) starts where the stored one does and may reach further: the
                        # stored one grows, so every lost record stays in a gap.
                        old, new = schema.gaps.c, stmt.excluded
                        wider = new.last_sequence > old.last_sequence
                        most = func.max if self.is_sqlite else func.greatest
                        conn.execute(
                            stmt.on_conflict_do_update(
                                index_elements=["chamber_id", "device_id", "first_sequence"],
                                set_={
                                    "last_sequence": most(old.last_sequence, new.last_sequence),
                                    "end_us": case((wider, new.end_us), else_=old.end_us),
                                },
                            ),
                            rows,
                        )
                    else:
                        conn.execute(stmt.on_conflict_do_nothing(), rows)
        except SQLAlchemyError as exc:
            raise StoreError(f"write of events to {self.url} failed: {exc}") from exc

    def device_cursor(
        self, chamber_id: str, channel_ids: Sequence[str]
    ) -> tuple[int, int, int | None] | None:
        """The logger record up to which every one of the device's channels is stored, its
        (corrected) time and the logger's own time of it: the smallest, over the channels,
        of the newest stored sequence number (None: none yet).

        A record's samples can be split over two transactions, so a crash may leave the
        newest record on some channels only; resuming from the smallest re-reads it, and the
        store's keys make the re-read harmless."""
        newest: list[tuple[int, int, int | None]] = []
        try:
            with self.engine.connect() as conn:
                for c in channel_ids:
                    key = self.channel(chamber_id, c).key
                    row = conn.execute(
                        select(samples.c.sequence, samples.c.ts_us, samples.c.clock_offset_us)
                        .where((samples.c.channel_key == key) & samples.c.sequence.is_not(None))
                        .order_by(samples.c.sequence.desc())
                        .limit(1)
                    ).first()
                    if row is not None:
                        logger_time = None if row[2] is None else int(row[1]) + int(row[2])
                        newest.append((int(row[0]), int(row[1]), logger_time))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store at {self.url}: {exc}") from exc
        return min(newest) if newest else None

    def events(
        self,
        chamber_id: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[Event]:
        """Events in [start_us, end_us), newest first."""
        t = schema.events
        query = select(t).order_by(t.c.utc_us.desc()).limit(limit)
        if chamber_id is not None:
            query = query.where(t.c.chamber_id == chamber_id)
        if start_us is not None:
            query = query.where(t.c.utc_us >= start_us)
        if end_us is not None:
            query = query.where(t.c.utc_us < end_us)
        if kinds:
            query = query.where(t.c.kind.in_(list(kinds)))
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store at {self.url}: {exc}") from exc
        return [
            Event(
                r.utc_us,
                r.chamber_id,
                r.device_id,
                EventKind(r.kind),
                Severity(r.severity),
                r.message,
                json.loads(r.details),
            )
            for r in rows
        ]

    def gaps(self, chamber_id: str | None = None, device_id: str | None = None) -> list[Gap]:
        """Spans of logger records lost for good, oldest first."""
        t = schema.gaps
        query = select(t).order_by(t.c.chamber_id, t.c.device_id, t.c.first_sequence)
        if chamber_id is not None:
            query = query.where(t.c.chamber_id == chamber_id)
        if device_id is not None:
            query = query.where(t.c.device_id == device_id)
        try:
            with self.engine.connect() as conn:
                return [Gap(**r._mapping) for r in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store at {self.url}: {exc}") from exc

    def clock_checks(self, chamber_id: str, device_id: str, limit: int = 100) -> list[ClockCheck]:
        """A device's clock checks, newest first."""
        t = schema.clock_checks
        query = (
            select(t)
            .where((t.c.chamber_id == chamber_id) & (t.c.device_id == device_id))
            .order_by(t.c.utc_us.desc())
            .limit(limit)
        )
        try:
            with self.engine.connect() as conn:
                return [ClockCheck(**r._mapping) for r in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store at {self.url}: {exc}") from exc

    # --- retention ----------------------------------------------------------------------------

    def prune(self, now_us: int | None = None) -> dict[str, int]:
        """Delete raw samples and rollup rows older than their retention; rows deleted by table.

        Channel by channel, so each DELETE walks its part of the primary key and no transaction
        holds the write lock for long.
        """
        now_us = time.time_ns() // 1000 if now_us is None else now_us
        targets: list[tuple[str, Any, Any, int]] = []
        if self.retention.raw_s is not None:
            targets.append(
                ("samples", samples, samples.c.ts_us, now_us - int(self.retention.raw_s * 1e6))
            )
        for tier in TIERS:
            keep_s = self.retention.rollup_s.get(tier.name)
            if keep_s is not None:
                table = rollup_tables[tier.name]
                # A bucket goes once all of it is older than the horizon.
                cutoff = now_us - int(keep_s * 1e6) - tier.width_us
                targets.append((tier.table_name, table, table.c.bucket_us, cutoff + 1))
        deleted: dict[str, int] = {}
        self.refresh_catalog()
        try:
            for name, table, ts_column, cutoff in targets:
                deleted[name] = 0
                for key in self._by_key:
                    with self.engine.begin() as conn:
                        result = conn.execute(
                            delete(table).where(table.c.channel_key == key, ts_column < cutoff)
                        )
                        deleted[name] += result.rowcount
        except SQLAlchemyError as exc:
            raise StoreError(f"pruning the store at {self.url} failed: {exc}") from exc
        return deleted

    # --- reading ------------------------------------------------------------------------------

    def history(
        self,
        chamber_id: str,
        channel_ids: Sequence[str],
        start_us: int,
        end_us: int,
        limit: int | None = None,
    ) -> Iterator[StoredSample]:
        """Samples in [start_us, end_us), by time then channel. Streams from the database."""
        keys = {self.channel(chamber_id, c).key: c for c in channel_ids}
        query = (
            select(samples)
            .where(samples.c.channel_key.in_(list(keys)))
            .where(samples.c.ts_us >= start_us, samples.c.ts_us < end_us)
            .order_by(samples.c.ts_us, samples.c.channel_key)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            # yield_per streams (a server-side cursor on PostgreSQL): memory stays flat. The
            # result is closed even when the reader stops early (a client that hangs up).
            result = conn.execution_options(yield_per=5000).execute(query)
            try:
                yield from self._stored(result, keys)
            finally:
                result.close()

    @staticmethod
    def _stored(result: Any, keys: dict[int, str]) -> Iterator[StoredSample]:
        for r in result:
            yield StoredSample(
                channel_id=keys[r.channel_key],
                timestamp_us=r.ts_us,
                value=r.value,
                raw_value=r.raw_value,
                quality=Quality(r.quality),
                time_source=TimeSource(r.time_source),
                sequence=r.sequence,
                calibration_version=r.calibration_version,
                uncertainty=r.uncertainty,
                method=r.method,
                clock_offset_us=r.clock_offset_us,
            )

    def latest(self, chamber_id: str) -> dict[str, StoredSample | None]:
        """The newest stored sample of each of the chamber's channels (for API replicas that
        run no acquisition, and so have no ring)."""
        metas = self.chamber_channels(chamber_id)
        out: dict[str, StoredSample | None] = {}
        try:
            with self.engine.connect() as conn:
                for m in metas:
                    rows = conn.execute(
                        select(samples)
                        .where(samples.c.channel_key == m.key)
                        .order_by(samples.c.ts_us.desc())
                        .limit(1)
                    )
                    out[m.channel_id] = next(self._stored(rows, {m.key: m.channel_id}), None)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store at {self.url}: {exc}") from exc
        return out

    def count(
        self,
        chamber_id: str | None = None,
        channel_ids: Sequence[str] = (),
        start_us: int | None = None,
        end_us: int | None = None,
    ) -> int:
        """Stored samples: all of them, or of some channels in [start_us, end_us)."""
        query = select(func.count()).select_from(samples)
        if chamber_id is not None:
            keys = [self.channel(chamber_id, c).key for c in channel_ids]
            query = query.where(samples.c.channel_key.in_(keys))
        if start_us is not None:
            query = query.where(samples.c.ts_us >= start_us)
        if end_us is not None:
            query = query.where(samples.c.ts_us < end_us)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # --- re-correction -----------------------------------------------------------------------

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
        key = self.channel(chamber_id, channel_id).key
        candidates = (Quality.GOOD.value, Quality.CAL_OUT_OF_RANGE.value)
        where = (
            (samples.c.channel_key == key)
            & (samples.c.ts_us >= start_us)
            & (samples.c.ts_us < end_us)
            & samples.c.raw_value.is_not(None)
            & samples.c.quality.in_(candidates)
        )
        try:
            with self.engine.begin() as conn:
                found = conn.execute(
                    select(samples.c.ts_us, samples.c.raw_value)
                    .where(where)
                    .order_by(samples.c.ts_us)
                ).all()
                if not found:
                    return 0
                ts = np.array([r.ts_us for r in found], dtype=np.int64)
                raw = np.array([r.raw_value for r in found], dtype=np.float64)
                probe = np.full(len(ts), np.nan)
                if probe_channel_id is not None:
                    pkey = self.channel(chamber_id, probe_channel_id).key
                    rows = conn.execute(
                        select(samples.c.ts_us, samples.c.value).where(
                            (samples.c.channel_key == pkey)
                            & (samples.c.ts_us >= int(ts[0]))
                            & (samples.c.ts_us <= int(ts[-1]))
                        )
                    ).all()
                    at = {r.ts_us: r.value for r in rows if r.value is not None}
                    probe = np.array([at.get(int(t), np.nan) for t in ts], dtype=np.float64)
                value, uncertainty, outside, version = correct(raw, probe)
                params = [
                    {
                        "k": key,
                        "t": int(t),
                        "v": None if o or math.isnan(v) else float(v),
                        "u": None if o or math.isnan(u) else float(u),
                        # NaN without the out-of-range flag: the correction had no input (a
                        # 2-D table with no probe temperature at that instant): no value.
                        "q": (
                            Quality.CAL_OUT_OF_RANGE.value
                            if o
                            else Quality.INVALID.value
                            if math.isnan(v)
                            else Quality.GOOD.value
                        ),
                        "c": version,
                    }
                    for t, v, u, o in zip(ts, value, uncertainty, outside, strict=True)
                ]
                conn.execute(
                    update(samples)
                    .where(
                        (samples.c.channel_key == bindparam("k"))
                        & (samples.c.ts_us == bindparam("t"))
                    )
                    .values(
                        value=bindparam("v"),
                        uncertainty=bindparam("u"),
                        quality=bindparam("q"),
                        calibration_version=bindparam("c"),
                    ),
                    params,
                )
                self._rebuild_rollups(conn, key, int(ts[0]), int(ts[-1]) + 1)
        except SQLAlchemyError as exc:
            raise StoreError(f"re-correction of {chamber_id}/{channel_id} failed: {exc}") from exc
        return len(params)

    def _rebuild_rollups(self, conn: Any, key: int, start_us: int, end_us: int) -> None:
        """Recompute a channel's rollup buckets over [start_us, end_us) from its samples."""
        widest = TIERS[-1].width_us
        lo = start_us // widest * widest
        hi = -(-end_us // widest) * widest
        for tier in TIERS:
            table = rollup_tables[tier.name]
            conn.execute(
                delete(table).where(
                    (table.c.channel_key == key)
                    & (table.c.bucket_us >= lo)
                    & (table.c.bucket_us < hi)
                )
            )
        rows = conn.execute(
            select(samples.c.ts_us, samples.c.value, samples.c.quality).where(
                (samples.c.channel_key == key) & (samples.c.ts_us >= lo) & (samples.c.ts_us < hi)
            )
        ).all()
        if not rows:
            return
        ts = np.array([r.ts_us for r in rows], dtype=np.int64)
        value = np.array(
            [r.value if r.value is not None and r.quality in _VALUED else math.nan for r in rows],
            dtype=np.float64,
        )
        order = np.argsort(ts, kind="stable")
        keys = np.full(len(ts), key, dtype=np.int64)
        for tier, partials in rollups.per_tier(keys, ts[order], value[order]):
            if not len(partials):
                continue
            if self.is_sqlite:
                conn.exec_driver_sql(self._sqlite_merge[tier.name], partials.rows())
            else:
                conn.exec_driver_sql(
                    self._postgres_merge[tier.name], tuple(partials.array_literals())
                )

    def close(self) -> None:
        self.engine.dispose()
