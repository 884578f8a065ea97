"""The event log: events, gaps (logger records lost for good) and clock checks.

Each table is keyed so that writing a row twice leaves one: the writer may drain a spool entry
again after a crash. See docs/nothing-lost.md.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, func, select

from loggerd.core.events import ClockCheck, Event, EventKind, Gap, Severity
from loggerd.storage import schema
from loggerd.storage.database import Database

__all__ = ["EventLog"]


class EventLog:
    """Writes and reads the event log of one database; calls block."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def write(
        self,
        events: Sequence[Event] = (),
        gaps: Sequence[Gap] = (),
        clock_checks: Sequence[ClockCheck] = (),
    ) -> None:
        """Write events, gaps and clock checks in one transaction; ones already stored (the
        same key: a spool drained again after a crash) are left as they are."""
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
        db = self._db
        with db.failing_as(f"write of events to {db.url} failed"), db.engine.begin() as conn:
            for table, rows in work:
                if not rows:
                    continue
                if table is schema.gaps:
                    self._write_gaps(conn, rows)
                else:
                    conn.execute(db.insert(table).on_conflict_do_nothing(), rows)

    def _write_gaps(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        # A gap found again after a crash (its records' samples lost with the process) starts
        # where the stored one does and may reach further: the stored one grows, so every lost
        # record stays in a gap.
        stmt = self._db.insert(schema.gaps)
        old, new = schema.gaps.c, stmt.excluded
        wider = new.last_sequence > old.last_sequence
        most = func.max if self._db.is_sqlite else func.greatest
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
        with self._db.reading(), self._db.engine.connect() as conn:
            rows = conn.execute(query).all()
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
        with self._db.reading(), self._db.engine.connect() as conn:
            return [Gap(**r._mapping) for r in conn.execute(query)]

    def clock_checks(self, chamber_id: str, device_id: str, limit: int = 100) -> list[ClockCheck]:
        """A device's clock checks, newest first."""
        t = schema.clock_checks
        query = (
            select(t)
            .where((t.c.chamber_id == chamber_id) & (t.c.device_id == device_id))
            .order_by(t.c.utc_us.desc())
            .limit(limit)
        )
        with self._db.reading(), self._db.engine.connect() as conn:
            return [ClockCheck(**r._mapping) for r in conn.execute(query)]
