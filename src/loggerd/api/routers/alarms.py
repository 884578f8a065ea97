"""/api/v1/alarms: alarms with their state and history, and their acknowledgement."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from loggerd.api.deps import AlarmsDep, IsoTime, ordered, time_us
from loggerd.api.errors import INVALID, STORE_DOWN
from loggerd.api.schemas import AckIn, AlarmActionOut, AlarmOut, AlarmsOut, ErrorOut
from loggerd.core.alarms import Alarm
from loggerd.core.times import iso, utc_now_us
from loggerd.storage.alarm_log import AlarmConflict, UnknownAlarm

router = APIRouter(tags=["alarms"])

NO_ALARM: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such alarm"}
}
ACKED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "Acknowledged already; says by whom"}
}
AlarmId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The alarm's id")]


def alarm_out(a: Alarm) -> AlarmOut:
    return AlarmOut(
        id=a.id,
        chamber_id=a.key.chamber_id,
        kind=str(a.key.kind),
        subject=a.key.subject,
        severity=a.severity.value,
        state=a.state,  # type: ignore[arg-type]
        message=a.message,
        value=a.value,
        limit=a.limit,
        raised=iso(a.raised_us),
        cleared=None if a.cleared_us is None else iso(a.cleared_us),
        acknowledged=None if a.acked_us is None else iso(a.acked_us),
        acknowledged_by=a.acked_by,
        comment=a.ack_comment,
        history=[
            AlarmActionOut(time=iso(h.utc_us), action=h.action, by=h.by, text=h.text)  # type: ignore[arg-type]
            for h in a.history
        ],
    )


@router.get("/alarms", response_model=AlarmsOut, responses={**INVALID, **STORE_DOWN})
def list_alarms(
    alarms: AlarmsDep,
    *,
    chamber: Annotated[str | None, Query(description="Only this chamber's alarms")] = None,
    state: Annotated[
        Literal["active", "cleared", "unacknowledged"] | None,
        Query(description="active (acknowledged or not), cleared, or not yet acknowledged"),
    ] = None,
    start: Annotated[IsoTime, Query(description="Raised at or after; ISO 8601")] = None,
    end: Annotated[IsoTime, Query(description="Raised before; ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> AlarmsOut:
    """Alarms, newest raised first."""
    start_us = None if start is None else time_us("start", start)
    end_us = None if end is None else time_us("end", end)
    ordered(start_us, end_us)
    return AlarmsOut(
        alarms=[alarm_out(a) for a in alarms.list(chamber, state, start_us, end_us, limit)]
    )


@router.get(
    "/alarms/{alarm_id}", response_model=AlarmOut, responses={**NO_ALARM, **INVALID, **STORE_DOWN}
)
def get_alarm(alarms: AlarmsDep, alarm_id: AlarmId) -> AlarmOut:
    alarm = alarms.get(alarm_id)
    if alarm is None:
        raise HTTPException(404, f"no alarm {alarm_id}: GET /api/v1/alarms lists them")
    return alarm_out(alarm)


@router.post(
    "/alarms/{alarm_id}/ack",
    response_model=AlarmOut,
    responses={**NO_ALARM, **ACKED, **INVALID, **STORE_DOWN},
)
def acknowledge(alarms: AlarmsDep, alarm_id: AlarmId, body: AckIn) -> AlarmOut:
    """Acknowledge an alarm: who, and a comment saying what was seen or done."""
    try:
        return alarm_out(alarms.acknowledge(alarm_id, body.by, body.comment, utc_now_us()))
    except UnknownAlarm as exc:
        raise HTTPException(404, str(exc)) from None
    except AlarmConflict as exc:
        raise HTTPException(409, str(exc)) from None
