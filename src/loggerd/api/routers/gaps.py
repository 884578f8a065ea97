"""GET /api/v1/chambers/{id}/gaps: logger records lost for good (overwritten before read)."""

from __future__ import annotations

from fastapi import APIRouter

from loggerd.api.deps import CatalogDep, ChamberId, EventsDep, channels_or_404
from loggerd.api.errors import INVALID, NOT_FOUND, STORE_DOWN
from loggerd.api.schemas import GapOut, GapsOut
from loggerd.core.times import iso

router = APIRouter(tags=["gaps"])


@router.get(
    "/chambers/{chamber_id}/gaps",
    response_model=GapsOut,
    responses={**NOT_FOUND, **INVALID, **STORE_DOWN},
)
def gaps(chamber_id: ChamberId, catalog: CatalogDep, log: EventsDep) -> GapsOut:
    channels_or_404(catalog, chamber_id)
    return GapsOut(
        gaps=[
            GapOut(
                chamber_id=g.chamber_id,
                device_id=g.device_id,
                first_sequence=g.first_sequence,
                last_sequence=g.last_sequence,
                records=g.records,
                start=None if g.start_us is None else iso(g.start_us),
                end=None if g.end_us is None else iso(g.end_us),
                detected=iso(g.detected_us),
            )
            for g in log.gaps(chamber_id)
        ]
    )
