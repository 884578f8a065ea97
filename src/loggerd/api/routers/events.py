"""GET /api/v1/events: gaps, clock checks and settings, downloads, store outages, conflicts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from loggerd.api.deps import CatalogDep, EventsDep, IsoTime, channels_or_404, ordered, time_us
from loggerd.api.errors import INVALID, NOT_FOUND, STORE_DOWN
from loggerd.api.schemas import EventOut, EventsOut
from loggerd.core.events import EventKind
from loggerd.core.times import iso

router = APIRouter(tags=["events"])


@router.get(
    "/events",
    response_model=EventsOut,
    responses={
        **NOT_FOUND,
        422: {
            **INVALID[422],
            "description": "A parameter is invalid, or start is not before end; says which",
        },
        **STORE_DOWN,
    },
)
def events(
    log: EventsDep,
    catalog: CatalogDep,
    *,
    chamber: Annotated[
        str | None, Query(description="Only this chamber's events", examples=["chamber-1"])
    ] = None,
    kind: Annotated[
        list[EventKind],
        Query(
            default_factory=list,
            description="Only these kinds; repeat for several",
            examples=[["gap", "memory_reset"]],
        ),
    ],
    start: Annotated[IsoTime, Query(description="ISO 8601 (UTC when no offset)")] = None,
    end: Annotated[IsoTime, Query(description="ISO 8601 (UTC when no offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> EventsOut:
    if chamber is not None:
        channels_or_404(catalog, chamber)
    start_us = None if start is None else time_us("start", start)
    end_us = None if end is None else time_us("end", end)
    ordered(start_us, end_us)
    found = log.events(chamber, start_us, end_us, [k.value for k in kind], limit)
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
