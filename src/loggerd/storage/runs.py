"""The run book: test runs kept beside the history they refer to.

A run is a span of a chamber's history, so it lives in the same database: any API replica, the
CLI and a report read the same runs. A chamber runs one test at a time: a run cannot open on a
chamber whose last run is still open, and a closed run stays closed.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row, insert, select, update

from loggerd.core.errors import LoggerdError
from loggerd.core.profiles import Profile, Run, parse_profile
from loggerd.storage import schema
from loggerd.storage.database import Database

__all__ = ["RunBook", "RunConflict", "UnknownRun"]


class UnknownRun(LoggerdError):
    """No run has this id."""


class RunConflict(LoggerdError):
    """The run cannot do that in its state (open one beside an open one, close one twice)."""


class RunBook:
    """Creates, closes and reads test runs; calls block."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
    ) -> Run:
        db = self._db
        t = schema.runs
        with db.failing_as(f"creating a run in {db.url} failed"), db.engine.begin() as conn:
            open_run = conn.execute(
                select(t.c.id).where(t.c.chamber_id == chamber_id, t.c.end_us.is_(None))
            ).first()
            if open_run is not None:
                raise RunConflict(
                    f"chamber {chamber_id!r} has run {open_run.id} open: close it first "
                    f"(`loggerd runs close {open_run.id}`)"
                )
            row = dict(
                chamber_id=chamber_id,
                test_id=test_id,
                unit_under_test=unit_under_test,
                operator=operator,
                start_us=start_us,
                end_us=None,
                profile=json.dumps(profile.to_dict(), sort_keys=True),
                created_us=created_us,
                notes=notes,
            )
            run_id = conn.execute(insert(t).returning(t.c.id), row).scalar_one()
        return _run({"id": run_id, **row})

    def close(self, run_id: int, end_us: int) -> Run:
        db = self._db
        t = schema.runs
        with db.failing_as(f"closing run {run_id} in {db.url} failed"), db.engine.begin() as conn:
            row = conn.execute(select(t).where(t.c.id == run_id)).first()
            if row is None:
                raise UnknownRun(f"no run {run_id}: `loggerd runs list` shows the runs")
            if row.end_us is not None:
                raise RunConflict(f"run {run_id} is already closed")
            if end_us <= row.start_us:
                raise RunConflict(
                    f"run {run_id} cannot end before it started: give an end after its start"
                )
            conn.execute(update(t).where(t.c.id == run_id).values(end_us=end_us))
        return _run({**row._asdict(), "end_us": end_us})

    def get(self, run_id: int) -> Run | None:
        db = self._db
        t = schema.runs
        with db.failing_as(f"reading run {run_id} from {db.url} failed"), db.engine.connect() as c:
            row = c.execute(select(t).where(t.c.id == run_id)).first()
        return None if row is None else _run(row)

    def list(
        self, chamber_id: str | None = None, open_only: bool = False, limit: int = 1000
    ) -> list[Run]:
        """Runs, newest start first."""
        db = self._db
        t = schema.runs
        q = select(t).order_by(t.c.start_us.desc(), t.c.id.desc()).limit(limit)
        if chamber_id is not None:
            q = q.where(t.c.chamber_id == chamber_id)
        if open_only:
            q = q.where(t.c.end_us.is_(None))
        with db.failing_as(f"reading runs from {db.url} failed"), db.engine.connect() as c:
            return [_run(r) for r in c.execute(q)]


def _run(row: Row[Any] | dict[str, Any]) -> Run:
    r = row if isinstance(row, dict) else row._asdict()
    return Run(
        id=r["id"],
        chamber_id=r["chamber_id"],
        test_id=r["test_id"],
        unit_under_test=r["unit_under_test"],
        operator=r["operator"],
        start_us=r["start_us"],
        end_us=r["end_us"],
        profile=parse_profile(json.loads(r["profile"]), f"run {r['id']}'s stored profile"),
        created_us=r["created_us"],
        notes=r["notes"],
    )
