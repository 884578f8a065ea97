"""GET /api/v1/events: gaps, clock checks and settings, downloads, store outages, conflicts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from loggerd.api.deps import EventsDep, time_us
from loggerd.api.schemas import EventOut, EventsOut
from loggerd.core.events import EventKind
from loggerd.core.times import iso

router = APIRouter(tags=["events"])


@router.get("/events", response_model=EventsOut)
def events(
    log: EventsDep,
    chamber: Annotated[str | None, Query(description="Only this chamber's events")] = None,
    kind: Annotated[list[str] | None, Query(description="Repeat for several kinds")] = None,
    start: Annotated[str | None, Query(description="ISO 8601 (UTC when no offset)")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 (UTC when no offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> EventsOut:
    known = {k.value for k in EventKind}
    for k in kind or []:
        if k not in known:
            raise HTTPException(
                422, f"kind={k!r} is not an event kind; kinds: {', '.join(sorted(known))}"
            )
    start_us = None if start is None else time_us("start", start)
    end_us = None if end is None else time_us("end", end)
    found = log.events(chamber, start_us, end_us, kind or (), limit)
    return EventsOut(
        events=[
            EventOut(
                time=iso(e.utc_us),
                chamber_id=e.chamber_id or None,
                device_id=e.device_id or None,
                kind=e.kind.value,
                severity=e.severity.value,
                message=e.message,
                details=e.details,
            )
            for e in found
        ]
    )
