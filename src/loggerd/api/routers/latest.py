"""GET /api/v1/chambers/{id}/latest: each channel's newest reading, from the live view of a
chamber polled here, else (an API replica) the newest samples in the store."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from loggerd.api.deps import (
    CatalogDep,
    CertificatesDep,
    ChamberId,
    HistoryDep,
    LiveDep,
    channels_or_404,
)
from loggerd.api.errors import INVALID, NOT_FOUND, STORE_DOWN
from loggerd.api.ports import Certificates
from loggerd.api.schemas import CalibrationOut, LatestOut, ReadingOut, finite
from loggerd.core.times import iso, utc_now_us
from loggerd.live.view import LiveReading
from loggerd.storage.store import StoreError

router = APIRouter(tags=["latest"])


def _no_data(channel: str, quantity: str, unit: str) -> ReadingOut:
    return ReadingOut(
        channel=channel,
        quantity=quantity,
        value=None,
        raw_value=None,
        unit=unit,
        timestamp=None,
        time_source=None,
        quality="no_data",
        age_s=None,
    )


def _calibration(certs: Certificates, chamber_id: str, channel_id: str) -> CalibrationOut | None:
    c = certs.certificate(chamber_id, channel_id)
    if c is None:
        return None
    return CalibrationOut(
        certificate_id=c.certificate_id,
        version=c.version,
        laboratory=c.laboratory,
        issued=c.issued.isoformat(),
        due=c.due.isoformat(),
        past_due=c.past_due,
    )


def _reading(r: LiveReading, now_us: int, calibration: CalibrationOut | None) -> ReadingOut:
    c, s = r.channel, r.sample
    if s is None:
        return _no_data(c.channel_id, c.quantity, c.unit)
    return ReadingOut(
        channel=c.channel_id,
        quantity=c.quantity,
        value=finite(s.value),
        raw_value=finite(s.raw_value),
        unit=c.unit,
        timestamp=iso(s.timestamp_us),
        time_source=s.time_source.value,
        quality=s.quality.value,
        age_s=round((now_us - s.timestamp_us) / 1e6, 3),
        uncertainty=finite(s.uncertainty),
        method=s.method,
        calibration_version=s.calibration_version,
        calibration=calibration,
    )


def _from_store(chamber_id: str, catalog: CatalogDep, history: HistoryDep) -> list[ReadingOut]:
    metas = channels_or_404(catalog, chamber_id)
    try:
        newest = history.newest(chamber_id)
    except StoreError as exc:
        raise HTTPException(503, str(exc)) from exc
    now_us = utc_now_us()
    readings = []
    for m in metas:
        s = newest.get(m.channel_id)
        if s is None:
            readings.append(_no_data(m.channel_id, m.quantity, m.unit))
            continue
        readings.append(
            ReadingOut(
                channel=m.channel_id,
                quantity=m.quantity,
                value=s.value,
                raw_value=s.raw_value,
                unit=m.unit,
                timestamp=iso(s.timestamp_us),
                time_source=s.time_source.value,
                quality=s.quality.value,
                age_s=round((now_us - s.timestamp_us) / 1e6, 3),
                uncertainty=s.uncertainty,
                method=s.method,
                calibration_version=s.calibration_version,
            )
        )
    return readings


@router.get(
    "/chambers/{chamber_id}/latest",
    response_model=LatestOut,
    responses={**NOT_FOUND, **INVALID, **STORE_DOWN},
)
def latest(
    chamber_id: ChamberId,
    live: LiveDep,
    catalog: CatalogDep,
    history: HistoryDep,
    certificates: CertificatesDep,
) -> LatestOut:
    found = live.latest(chamber_id)
    if found is None:
        return LatestOut(chamber_id=chamber_id, readings=_from_store(chamber_id, catalog, history))
    now_us = utc_now_us()
    return LatestOut(
        chamber_id=chamber_id,
        readings=[
            _reading(r, now_us, _calibration(certificates, chamber_id, r.channel.channel_id))
            for r in found
        ],
    )
