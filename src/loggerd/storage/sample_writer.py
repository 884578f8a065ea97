"""Writing samples: one transaction per batch, the samples and the rollups of the new ones.

Each engine has its own fast path for the bulk insert, a strategy behind SampleWriter.write:
`executemany` in a `BEGIN IMMEDIATE` transaction on SQLite, one binary COPY on PostgreSQL under
per-chamber advisory locks. What they share lives here once: turning samples into rows, finding
after a failed fast path which rows are stored already (duplicates, and logger records read
again with another value: conflicts), and folding the new rows into rollup partials.
"""

from __future__ import annotations

import contextlib
import math
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from loggerd.core.samples import Sample
from loggerd.storage import rollups
from loggerd.storage.catalog import Catalog
from loggerd.storage.database import Database, said
from loggerd.storage.model import Conflict, StoreError, WriteResult
from loggerd.storage.sample_batch import SampleBatch
from loggerd.storage.schema import Tier

__all__ = [
    "COPY_SAMPLES",
    "COPY_TYPES",
    "SAMPLE_COLUMNS",
    "PostgresSampleWriter",
    "Row",
    "SampleWriter",
    "SqliteSampleWriter",
]

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

# A samples row, in SAMPLE_COLUMNS order.
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


class _KeyMap(dict[tuple[str, str], int]):
    """(chamber, channel) -> channel key for one batch; a miss asks the catalog."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.catalog = catalog

    def __missing__(self, ids: tuple[str, str]) -> int:
        key = self[ids] = self.catalog.channel(*ids).key
        return key


def _lock_id(chamber_id: str) -> int:
    """A chamber's advisory lock id (int4); a collision only makes two chambers take turns."""
    return zlib.crc32(chamber_id.encode()) - 2**31


def _logger_time(r: Row) -> int | None:
    """The logger's own time of a row (None unless the logger stamped it)."""
    return None if r[10] is None else r[1] + r[10]


def _differs(stored: Row, new: Row) -> bool:
    """Whether a logger record read again differs from the stored one: raw value or the
    logger's own time (the correction may differ between readings, the record may not)."""
    if (stored[3] is None) != (new[3] is None):
        return True
    if stored[3] is not None and new[3] is not None and stored[3] != new[3]:
        return True
    return _logger_time(stored) != _logger_time(new)


class SampleWriter(ABC):
    """Writes batches of samples into one database; the subclass is the engine's bulk path."""

    # The DB-API's parameter mark in the duplicate check's queries.
    MARK: ClassVar[str]

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self._db = db
        self._catalog = catalog
        self._merger = rollups.Merger(db.is_sqlite)

    @staticmethod
    def for_database(db: Database, catalog: Catalog) -> SampleWriter:
        """The strategy for the database's engine."""
        strategy = SqliteSampleWriter if db.is_sqlite else PostgresSampleWriter
        return strategy(db, catalog)

    def write(self, samples: Sequence[Sample] | SampleBatch) -> WriteResult:
        """Write samples and fold the new ones into the rollups, in one transaction (see
        Store.write)."""
        if not len(samples):
            return WriteResult(0, 0, 0)
        batch = samples if isinstance(samples, SampleBatch) else SampleBatch.from_samples(samples)
        cutoff_us = self._db.retention.raw_cutoff_us(time.time_ns() // 1000)
        engine = self._db.engine
        dbapi = engine.dialect.loaded_dbapi
        try:
            fairy = engine.raw_connection()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot connect to the store at {self._db.url}: {said(exc)}") from exc
        conflicts: list[tuple[Row, Row]] = []
        try:
            kept, inserted = self._write(fairy.driver_connection, batch, cutoff_us, conflicts)
        except dbapi.Error as exc:
            # On a dropped connection the rollback fails too: the error to report is the first.
            with contextlib.suppress(dbapi.Error):
                fairy.rollback()
            raise StoreError(
                f"write of {len(batch)} samples to {self._db.url} failed: {said(exc)}"
            ) from exc
        finally:
            fairy.close()
        return WriteResult(
            inserted, kept - inserted, len(batch) - kept, tuple(map(self._conflict, conflicts))
        )

    @abstractmethod
    def _write(
        self,
        conn: Any,
        batch: SampleBatch,
        cutoff_us: int | None,
        conflicts: list[tuple[Row, Row]],
    ) -> tuple[int, int]:
        """Write in one transaction on a DB-API connection: (rows kept, rows inserted)."""

    def rows(self, batch: Sequence[Sample] | SampleBatch, cutoff_us: int | None) -> list[Row]:
        """Rows to store, in batch order; samples older than `cutoff_us` are left out, and
        NaN is stored as NULL (missing is missing)."""
        if not isinstance(batch, SampleBatch):
            batch = SampleBatch.from_samples(batch)
        rows: list[Any] = batch.rows(_KeyMap(self._catalog).__getitem__, cutoff_us)
        return rows

    def _conflict(self, pair: tuple[Row, Row]) -> Conflict:
        stored, new = pair
        meta = self._catalog.by_key(new[0])
        return Conflict(
            meta.chamber_id,
            meta.channel_id,
            meta.device_id,
            new[6] or 0,
            stored[3],
            _logger_time(stored),
            new[3],
            _logger_time(new),
        )

    def _new_only(self, cur: Any, rows: list[Row], conflicts: list[tuple[Row, Row]]) -> list[Row]:
        """The rows not yet stored, nor repeated earlier in the batch (under the write lock).

        A logger record stored already and read again with another value or logger time is
        not written; the pair goes to `conflicts` (the first reading stays, nothing is
        overwritten in silence).
        """
        mark = self.MARK
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

    def _merges(self, rows: list[Row]) -> list[tuple[str, Any]]:
        """The rollup upserts (statement, parameters) that fold `rows` in, finest tier first."""
        return self._merger.statements(self._partials(rows))

    @staticmethod
    def _partials(rows: list[Row]) -> list[tuple[Tier, rollups.Partials]]:
        if not rows:
            return []
        n = len(rows)
        key = np.fromiter((r[0] for r in rows), np.int64, n)
        ts = np.fromiter((r[1] for r in rows), np.int64, n)
        counted = rollups.COUNTED
        value = np.fromiter(
            (r[2] if r[2] is not None and r[4] in counted else math.nan for r in rows),
            np.float64,
            n,
        )
        return rollups.per_tier(key, ts, value)


class SqliteSampleWriter(SampleWriter):
    """executemany in one BEGIN IMMEDIATE transaction (the database's write lock)."""

    MARK = "?"

    def _write(
        self,
        conn: Any,
        batch: SampleBatch,
        cutoff_us: int | None,
        conflicts: list[tuple[Row, Row]],
    ) -> tuple[int, int]:
        # Columns, not rows: SQLite stores a NaN bound as NULL, so values go as they are; a
        # column with nothing in it (no calibration, no method...) is a NULL in the statement
        # rather than a None bound per row (each a trip through sqlite3's adapter lookup); and
        # the rows are made while executemany takes them, none kept beyond its insert.
        columns = batch.columns(_KeyMap(self._catalog).__getitem__, cutoff_us, nan_as_none=False)
        kept = len(columns[1])
        if not kept:
            return 0, 0
        bound = [i for i, c in enumerate(columns) if not _all_none(c)]
        marks = ", ".join("?" if i in bound else "NULL" for i in range(len(columns)))
        cur = conn.cursor()
        # IMMEDIATE: take the write lock now, so the duplicate check below sees every sample
        # and no other writer can slip in between check and insert.
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("SAVEPOINT batch")
            try:
                cur.executemany(
                    f"INSERT INTO samples ({SAMPLE_COLUMNS}) VALUES ({marks})",
                    zip(*(columns[i] for i in bound), strict=True),
                )
                inserted = kept
                merges = self._merger.statements(_column_partials(columns))
            except conn.IntegrityError:
                cur.execute("ROLLBACK TO batch")
                rows = self._new_only(cur, self.rows(batch, cutoff_us), conflicts)
                cur.executemany(_INSERT_ROW, rows)
                inserted = len(rows)
                merges = self._merges(rows)
            cur.execute("RELEASE batch")
            for sql, params in merges:
                cur.executemany(sql, params)
            cur.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        return kept, inserted


_INSERT_ROW = f"INSERT INTO samples ({SAMPLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _all_none(column: Sequence[Any]) -> bool:
    return column[0] is None and column.count(None) == len(column)


def _column_partials(columns: list[Sequence[Any]]) -> list[tuple[Tier, rollups.Partials]]:
    """The rollup partials of every row of the columns (see SampleWriter._partials)."""
    n = len(columns[1])
    value = np.array(columns[2], np.float64)  # None (NULL) is NaN: not counted either way
    counted = {q: q in rollups.COUNTED for q in set(columns[4])}
    if not all(counted.values()):
        value[~np.fromiter(map(counted.__getitem__, columns[4]), bool, n)] = math.nan
    return rollups.per_tier(np.array(columns[0], np.int64), np.array(columns[1], np.int64), value)


class PostgresSampleWriter(SampleWriter):
    """Binary COPY in one transaction, under the advisory locks of the batch's chambers."""

    MARK = "%s"

    def _write(
        self,
        conn: Any,
        batch: SampleBatch,
        cutoff_us: int | None,
        conflicts: list[tuple[Row, Row]],
    ) -> tuple[int, int]:
        import psycopg

        # Writers of one chamber take turns (each loggerd owns its chambers, so they only meet
        # on overlapping retries): the duplicate check then sees every committed sample.
        locks = sorted({_lock_id(c) for c in set(batch.chamber_id)})
        namespace = self._db.lock_namespace
        sent: list[Row] = []
        with conn.cursor() as cur:
            # One round trip (the ids are integers computed here, not input).
            cur.execute(
                "".join(f"SELECT pg_advisory_xact_lock({namespace}, {k});" for k in locks)
                + "SAVEPOINT batch"
            )
            pending = iter(self.rows(batch, cutoff_us))
            try:
                # Rows are made while COPY streams, so the server works as Python converts.
                with cur.copy(COPY_SAMPLES) as copy:
                    copy.set_types(COPY_TYPES)
                    write_row, keep = copy.write_row, sent.append
                    for r in pending:
                        keep(r)
                        write_row(r)
                    merges = self._merges(sent)  # while the server finishes the COPY
                rows = sent
            except psycopg.errors.UniqueViolation:
                sent.extend(pending)  # the server may stop reading before the end
                cur.execute("ROLLBACK TO SAVEPOINT batch")
                rows = self._new_only(cur, sent, conflicts)
                self._copy(cur, rows)
                merges = self._merges(rows)
            with conn.pipeline():  # one round trip for the rest of the transaction
                cur.execute("RELEASE SAVEPOINT batch")
                for sql, params in merges:
                    cur.execute(sql, params)
                conn.commit()
        return len(sent), len(rows)

    @staticmethod
    def _copy(cur: Any, rows: Iterable[Row]) -> None:
        """COPY rows into samples (one binary stream)."""
        with cur.copy(COPY_SAMPLES) as copy:
            copy.set_types(COPY_TYPES)
            for r in rows:
                copy.write_row(r)
