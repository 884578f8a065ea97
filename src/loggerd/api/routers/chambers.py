"""GET /api/v1/chambers: every chamber and channel any loggerd registered in the store."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from loggerd.api.deps import CatalogDep
from loggerd.api.errors import STORE_DOWN
from loggerd.api.schemas import ChamberOut, ChambersOut, ChannelOut
from loggerd.storage.store import StoreError

router = APIRouter(tags=["chambers"])


@router.get("/chambers", response_model=ChambersOut, responses=STORE_DOWN)
def list_chambers(catalog: CatalogDep) -> ChambersOut:
    # From the database: every chamber any loggerd registered, so replicas agree.
    try:
        catalog.refresh_catalog()
    except StoreError as exc:
        raise HTTPException(503, str(exc)) from exc
    return ChambersOut(
        chambers=[
            ChamberOut(
                id=cid,
                name=name,
                channels=[
                    ChannelOut(
                        id=m.channel_id,
                        name=m.name or m.channel_id,
                        quantity=m.quantity,
                        unit=m.unit,
                        device_id=m.device_id,
                    )
                    for m in catalog.chamber_channels(cid, refresh=False)
                ],
            )
            for cid, name in catalog.chamber_names().items()
        ]
    )
