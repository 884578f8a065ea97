"""The alarm log: each alarm from raised to cleared, its acknowledgement, and its history.

Transitions are applied idempotently (a raise of a condition that has an open alarm, or a
clear of one that has none, changes nothing), so replaying them after a crash is harmless.
The acknowledgement is a person's act: it needs a name and a comment, and is refused twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from loggerd.core.alarms import (
    Alarm,
    AlarmAction,
    AlarmKey,
    AlarmKind,
    AlarmSeverity,
    Notice,
    Transition,
)
from loggerd.core.errors import LoggerdError
from loggerd.storage import schema
from loggerd.storage.database import Database

__all__ = ["AlarmConflict", "AlarmLog", "UnknownAlarm"]


class UnknownAlarm(LoggerdError):
    """No alarm has this id."""


class AlarmConflict(LoggerdError):
    """The alarm cannot take that action in its state (acknowledged already)."""


class AlarmLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def apply(self, transitions: Sequence[Transition]) -> list[int]:
        """Store transitions in one transaction; the ids of the alarms they changed."""
        if not transitions:
            return []
        db = self._db
        changed = []
        with db.failing_as(f"writing alarms to {db.url} failed"), db.engine.begin() as conn:
            for t in transitions:
                alarm_id = self._apply(conn, t)
                if alarm_id is not None:
                    changed.append(alarm_id)
        return changed

    def _apply(self, conn: Connection, t: Transition) -> int | None:
        a = schema.alarms
        k = t.key
        open_id = conn.execute(
            select(a.c.id).where(
                a.c.chamber_id == k.chamber_id,
                a.c.kind == str(k.kind),
                a.c.subject == k.subject,
                a.c.cleared_us.is_(None),
            )
        ).scalar()
        if t.raised:
            if open_id is not None:
                return None
            alarm_id = conn.execute(
                insert(a).returning(a.c.id),
                dict(
                    chamber_id=k.chamber_id, kind=str(k.kind), subject=k.subject,
                    severity=str(t.severity), message=t.message, value=t.value,
                    limit_value=t.limit, raised_us=t.utc_us,
                ),
            ).scalar_one()  # fmt: skip
            self._history(conn, alarm_id, t.utc_us, "raised", None, t.message)
            return int(alarm_id)
        if open_id is None:
            return None
        conn.execute(update(a).where(a.c.id == open_id).values(cleared_us=t.utc_us))
        self._history(conn, open_id, t.utc_us, "cleared", None, t.message)
        return int(open_id)

    def _history(
        self, conn: Connection, alarm_id: int, utc_us: int, action: str, by: str | None, text: str
    ) -> None:
        stmt = self._db.insert(schema.alarm_history).on_conflict_do_nothing()
        conn.execute(stmt, dict(alarm_id=alarm_id, utc_us=utc_us, action=action, by=by, text=text))

    def acknowledge(self, alarm_id: int, by: str, comment: str, utc_us: int) -> Alarm:
        db = self._db
        a = schema.alarms
        with db.failing_as(f"acknowledging an alarm in {db.url} failed"), db.engine.begin() as c:
            row = c.execute(select(a).where(a.c.id == alarm_id)).first()
            if row is None:
                raise UnknownAlarm(f"no alarm {alarm_id}: GET /api/v1/alarms lists them")
            if row.acked_us is not None:
                raise AlarmConflict(f"alarm {alarm_id} was acknowledged by {row.acked_by} already")
            c.execute(
                update(a)
                .where(a.c.id == alarm_id)
                .values(acked_us=utc_us, acked_by=by, ack_comment=comment)
            )
            self._history(c, alarm_id, utc_us, "acknowledged", by, comment)
        found = self.get(alarm_id)
        assert found is not None
        return found

    def open_keys(self) -> list[AlarmKey]:
        """The conditions of alarms not cleared (to restore an engine after a restart)."""
        return [x.key for x in self.list(state="active", limit=1_000_000)]

    def register(self, target: str, now_us: int) -> None:
        """A notification target starts from the actions stored from now on (a new webhook is
        not sent the whole past); one registered before keeps its place."""
        db = self._db
        h, d = schema.alarm_history, schema.alarm_deliveries
        with db.failing_as(f"registering {target} in {db.url} failed"), db.engine.begin() as c:
            last = c.execute(select(func.max(h.c.seq))).scalar() or 0
            c.execute(
                db.insert(d).on_conflict_do_nothing(),
                dict(target=target, last_seq=last, delivered_us=now_us),
            )

    def pending(self, target: str, limit: int = 100) -> list[Notice]:
        """The actions `target` has not been sent, in the order they were stored."""
        db = self._db
        h, d = schema.alarm_history, schema.alarm_deliveries
        with db.failing_as(f"reading alarms from {db.url} failed"), db.engine.connect() as c:
            last = c.execute(select(d.c.last_seq).where(d.c.target == target)).scalar()
            if last is None:
                raise UnknownAlarm(f"notification target {target} is not registered")
            rows = c.execute(select(h).where(h.c.seq > last).order_by(h.c.seq).limit(limit)).all()
        alarms = {a.id: a for a in self._read(schema.alarms.c.id.in_({r.alarm_id for r in rows}),
                                                limit=len(rows) or 1)}  # fmt: skip
        return [
            Notice(r.seq, replace(alarms[r.alarm_id], history=()),
                   AlarmAction(r.utc_us, r.action, r.by, r.text))
            for r in rows
        ]  # fmt: skip

    def delivered(self, target: str, seq: int, now_us: int) -> None:
        db = self._db
        d = schema.alarm_deliveries
        with db.failing_as(f"recording a delivery in {db.url} failed"), db.engine.begin() as c:
            c.execute(
                update(d)
                .where(d.c.target == target, d.c.last_seq < seq)
                .values(last_seq=seq, delivered_us=now_us)
            )

    def get(self, alarm_id: int) -> Alarm | None:
        found = self._read(schema.alarms.c.id == alarm_id, limit=1)
        return found[0] if found else None

    def _read(self, *where: Any, limit: int) -> list[Alarm]:
        db = self._db
        a, h = schema.alarms, schema.alarm_history
        query = select(a).where(*where).order_by(a.c.raised_us.desc(), a.c.id.desc()).limit(limit)
        with db.failing_as(f"reading alarms from {db.url} failed"), db.engine.connect() as c:
            rows = c.execute(query).all()
            ids = [r.id for r in rows]
            actions: dict[int, list[AlarmAction]] = {i: [] for i in ids}
            if ids:
                for r in c.execute(
                    select(h).where(h.c.alarm_id.in_(ids)).order_by(h.c.utc_us, h.c.seq)
                ):
                    actions[r.alarm_id].append(AlarmAction(r.utc_us, r.action, r.by, r.text))
        return [
            Alarm(
                r.id, AlarmKey(AlarmKind(r.kind), r.chamber_id, r.subject),
                AlarmSeverity(r.severity), r.message, r.value, r.limit_value, r.raised_us,
                r.cleared_us, r.acked_us, r.acked_by, r.ack_comment, tuple(actions[r.id]),
            )
            for r in rows
        ]  # fmt: skip

    def list(
        self,
        chamber_id: str | None = None,
        state: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 1000,
    ) -> list[Alarm]:
        """Alarms, newest raised first: all, or active (including acknowledged) or cleared,
        of a chamber, raised in [start_us, end_us)."""
        a = schema.alarms
        where: list[Any] = []
        if chamber_id is not None:
            where.append(a.c.chamber_id == chamber_id)
        if state == "active":
            where.append(a.c.cleared_us.is_(None))
        elif state == "cleared":
            where.append(a.c.cleared_us.is_not(None))
        elif state == "unacknowledged":
            where.append(a.c.acked_us.is_(None))
        if start_us is not None:
            where.append(a.c.raised_us >= start_us)
        if end_us is not None:
            where.append(a.c.raised_us < end_us)
        return self._read(*where, limit=limit)
