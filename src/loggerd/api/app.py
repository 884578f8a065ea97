"""The HTTP API: live readings from the ring buffer, history from the store. No hardware here."""

from __future__ import annotations

import dataclasses
import enum
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from loggerd import __version__
from loggerd.core.events import EventKind
from loggerd.service.daemon import Daemon
from loggerd.storage.downsample import Series, downsample
from loggerd.storage.export import MEDIA_TYPES, export_chunks, iso
from loggerd.storage.store import ChannelMeta, StoreError

MAX_JSON_POINTS = 1_000_000
MAX_POINTS_LIMIT = 100_000


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


def _f32(x: np.float32) -> float | None:
    """A float32 from the ring as the decimal it was (the shortest repr that round-trips)."""
    return None if math.isnan(x) else float(str(x))


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _fields(obj: Any) -> dict[str, Any]:
    """Every field of a dataclass, for JSON: a `<name>_utc_us` timestamp becomes `<name>_utc`
    in ISO 8601 UTC; nested dataclasses become objects. New fields appear without code here."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name.endswith("_utc_us"):
            out[f.name.removesuffix("_us")] = None if value is None else iso(value)
        else:
            out[f.name] = _jsonable(value)
    return out


class ChannelOut(BaseModel):
    id: str
    name: str
    quantity: str
    unit: str
    device_id: str


class ChamberOut(BaseModel):
    id: str
    name: str | None
    channels: list[ChannelOut]


class ChambersOut(BaseModel):
    chambers: list[ChamberOut]


class CalibrationOut(BaseModel):
    certificate_id: str
    version: int
    laboratory: str
    issued: str
    due: str
    past_due: bool = Field(description="The certificate's due date has passed: recalibrate")


class ReadingOut(BaseModel):
    channel: str
    quantity: str
    value: float | None = Field(
        description="In `unit`, corrected with the channel's certificate when it has one; "
        "null when there is no usable value"
    )
    raw_value: float | None = Field(description="As the device sent it, never corrected")
    unit: str
    timestamp: str | None = Field(description="ISO 8601, UTC")
    time_source: str | None = Field(description="Whose clock stamped it: host or logger")
    quality: str = Field(
        description="good; supersaturated or inconsistent (flagged, value kept); "
        "sensor_fault, out_of_range, cal_out_of_range, missing or invalid (no value); "
        "no_data before the first poll"
    )
    age_s: float | None
    uncertainty: float | None = Field(
        default=None, description="Expanded uncertainty (k = 2) of value, in `unit`"
    )
    method: str | None = Field(
        default=None, description="Derived channels: the formulation used (e.g. hardy1998)"
    )
    calibration_version: int | None = None
    calibration: CalibrationOut | None = Field(
        default=None, description="The channel's certificate, with its due date"
    )


class LatestOut(BaseModel):
    chamber_id: str
    readings: list[ReadingOut]


class PointOut(BaseModel):
    channel: str
    timestamp: str = Field(description="ISO 8601, UTC; of an aggregated point, its bucket's start")
    value: float | None = Field(description="The value; of an aggregated point, the mean")
    raw_value: float | None = None
    quality: str | None = None
    time_source: str | None = None
    sequence: int | None = None
    logger_time: str | None = Field(
        default=None,
        description="A logger record's own, uncorrected time (ISO 8601); timestamp is it "
        "corrected by the clock offset measured against the host",
    )
    uncertainty: float | None = Field(default=None, description="Expanded (k = 2), in the unit")
    calibration_version: int | None = None
    method: str | None = None
    min: float | None = Field(default=None, description="Aggregated points: smallest value")
    max: float | None = Field(default=None, description="Aggregated points: largest value")
    count: int | None = Field(default=None, description="Aggregated points: good values in it")


class SeriesOut(BaseModel):
    source: str = Field(
        description="raw (samples as stored), raw_buckets (aggregated from raw samples) or "
        "the rollup the buckets come from: 1m, 10m, 1h, 1d"
    )
    bucket_width_s: float | None = Field(description="Width of aggregated points; null for raw")
    points: int


class HistoryOut(BaseModel):
    chamber_id: str
    start: str
    end: str
    units: dict[str, str] = Field(description="Unit of each channel's values")
    series: dict[str, SeriesOut] | None = Field(
        default=None, description="With max_points: how each channel was downsampled"
    )
    points: list[PointOut]


class DeviceHealthOut(BaseModel):
    """Every field of the acquisition's DeviceHealth (timestamps as ISO 8601 UTC)."""

    model_config = ConfigDict(extra="allow")

    chamber_id: str
    device_id: str
    driver: str
    state: str


class WriterHealthOut(BaseModel):
    state: Literal["ok", "degraded"]
    reason: str | None = Field(description="Why degraded, and what to do")
    queued: int = Field(description="Samples accepted and not yet in the store")
    spooled: int = Field(description="Of those, samples safe in the spool on local disk")
    held: int = Field(description="Of those, samples in memory only (the spool refused them)")
    spool_bytes: int | None
    capacity: int = Field(description="Samples held in memory at which acquisition waits")
    written: int
    duplicates: int
    conflicts: int = Field(description="Logger records read again with another value")
    expired: int
    failed_flushes: int
    lag_s: float | None = Field(description="Age of the oldest sample not yet in the store")
    last_flush: str | None
    last_flush_duration_s: float | None
    last_error: str | None


class StoreHealthOut(BaseModel):
    engine: Literal["sqlite", "postgresql"]
    url: str = Field(description="Without password")
    schema_: str | None = Field(alias="schema")


class EventOut(BaseModel):
    time: str = Field(description="ISO 8601, UTC")
    chamber_id: str | None
    device_id: str | None
    kind: str
    severity: Literal["info", "warning", "error"]
    message: str
    details: dict[str, Any]


class EventsOut(BaseModel):
    events: list[EventOut] = Field(description="Newest first")


class GapOut(BaseModel):
    chamber_id: str
    device_id: str
    first_sequence: int
    last_sequence: int
    records: int = Field(description="Logger records lost for good")
    start: str | None = Field(description="Time of the last record kept before the gap")
    end: str | None = Field(description="Time of the first record kept after it")
    detected: str


class GapsOut(BaseModel):
    gaps: list[GapOut]


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    reasons: list[str] = Field(description="Why degraded: one line per cause")
    version: str
    devices: list[DeviceHealthOut]
    writer: WriterHealthOut
    store: StoreHealthOut


def _parse_time(name: str, value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(
            422, f"{name}={value!r} is not an ISO 8601 time; use e.g. 2026-11-26T10:00:00Z"
        ) from None
    # A time without an offset is taken as UTC, as everything in loggerd is.
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def create_app(daemon: Daemon) -> FastAPI:
    app = FastAPI(
        title="loggerd",
        version=__version__,
        description="Live and historical readings of climatic test chambers. Times are UTC.",
    )
    config = daemon.config

    @app.exception_handler(StoreError)
    @app.exception_handler(SQLAlchemyError)
    async def store_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # The database is down or refused the query: say so, and that it is temporary.
        return JSONResponse(
            status_code=503,
            content={
                "detail": f"the history store is unavailable: {exc}; live readings "
                "(latest) are still served; retry shortly"
            },
        )

    @app.get("/api/v1/health", response_model=HealthOut)
    async def health() -> HealthOut:
        devices = []
        drivers = {d.id: d.driver for c in config.chambers for d in c.devices}
        reasons = []
        for p in daemon.pollers:
            fields = _fields(p.health)
            if p.follower is not None:
                b = p.follower.health
                fields["backfill"] = {**_fields(b), "progress": b.progress}
            devices.append(
                DeviceHealthOut.model_validate(
                    {
                        "chamber_id": p.chamber_id,
                        "device_id": p.device_id,
                        "driver": drivers[p.device_id],
                        **fields,
                    }
                )
            )
            if p.follower is not None and p.follower.health.state == "stalled":
                reasons.append(
                    f"{p.chamber_id}/{p.device_id}: reading its memory makes no progress "
                    f"({p.follower.health.last_error}); its records wait in the logger"
                )
            if p.health.state in ("error", "offline"):
                reasons.append(
                    f"{p.chamber_id}/{p.device_id} is {p.health.state}: {p.health.last_error}"
                )
        w = daemon.writer.health()
        if w.reason is not None:
            reasons.append(w.reason)
        store = daemon.store
        return HealthOut(
            status="degraded" if reasons else "ok",
            reasons=reasons,
            version=__version__,
            devices=devices,
            writer=WriterHealthOut(
                state="ok" if w.state == "ok" else "degraded",
                reason=w.reason,
                queued=w.queued,
                spooled=w.spooled,
                held=w.held,
                spool_bytes=w.spool_bytes,
                capacity=w.capacity,
                written=w.written,
                duplicates=w.duplicates,
                conflicts=w.conflicts,
                expired=w.expired,
                failed_flushes=w.failed_flushes,
                lag_s=w.oldest_pending_age_s,
                last_flush=(
                    None if w.last_flush_utc_s is None else iso(int(w.last_flush_utc_s * 1e6))
                ),
                last_flush_duration_s=w.last_flush_duration_s,
                last_error=w.last_error,
            ),
            store=StoreHealthOut.model_validate(
                {"engine": store.engine_name, "url": store.url, "schema": store.schema}
            ),
        )

    @app.get("/api/v1/events", response_model=EventsOut)
    def events(
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
        far = datetime(1970, 1, 1, tzinfo=UTC)
        start_us = (
            None if start is None else int(_parse_time("start", start, far).timestamp() * 1e6)
        )
        end_us = None if end is None else int(_parse_time("end", end, far).timestamp() * 1e6)
        found = daemon.store.events(chamber, start_us, end_us, kind or (), limit)
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

    @app.get("/api/v1/chambers/{chamber_id}/gaps", response_model=GapsOut)
    def gaps(chamber_id: str) -> GapsOut:
        channels_or_404(chamber_id, None)
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
                for g in daemon.store.gaps(chamber_id)
            ]
        )

    @app.get("/api/v1/chambers", response_model=ChambersOut)
    def list_chambers() -> ChambersOut:
        # From the database: every chamber any loggerd registered, so replicas agree.
        try:
            daemon.store.refresh_catalog()
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
                        for m in daemon.store.chamber_channels(cid, refresh=False)
                    ],
                )
                for cid, name in daemon.store.chamber_names().items()
            ]
        )

    @app.get("/api/v1/chambers/{chamber_id}/latest", response_model=LatestOut)
    def latest(chamber_id: str) -> LatestOut:
        if chamber_id not in daemon.channels:
            return _latest_from_store(chamber_id)
        now_us = datetime.now(UTC).timestamp() * 1e6
        readings = []
        for info in daemon.channels[chamber_id]:
            w = daemon.ring.channel(chamber_id, info.channel_id).latest()
            if len(w) == 0:
                readings.append(_no_data(info.channel_id, info.quantity, info.unit))
                continue
            ts = int(w.timestamp_us[0])
            last = daemon.last_sample.get((chamber_id, info.channel_id))
            extra = last if last is not None and last.timestamp_us == ts else None
            readings.append(
                ReadingOut(
                    channel=info.channel_id,
                    quantity=info.quantity,
                    value=_f32(w.value[0]) if extra is None else _num(extra.value),
                    raw_value=_f32(w.raw_value[0]) if extra is None else _num(extra.raw_value),
                    unit=info.unit,
                    timestamp=iso(ts),
                    time_source=w.time_source[0].value,
                    quality=w.quality[0].value,
                    age_s=round((now_us - ts) / 1e6, 3),
                    uncertainty=None if extra is None else _num(extra.uncertainty),
                    method=None if extra is None else extra.method,
                    calibration_version=None if extra is None else extra.calibration_version,
                    calibration=_calibration(chamber_id, info.channel_id),
                )
            )
        return LatestOut(chamber_id=chamber_id, readings=readings)

    def _latest_from_store(chamber_id: str) -> LatestOut:
        """A chamber this process does not poll (an API replica): its newest stored samples."""
        metas = channels_or_404(chamber_id, None)
        try:
            newest = daemon.store.latest(chamber_id)
        except StoreError as exc:
            raise HTTPException(503, str(exc)) from exc
        now_us = datetime.now(UTC).timestamp() * 1e6
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
        return LatestOut(chamber_id=chamber_id, readings=readings)

    def _past_due(chamber_id: str) -> dict[str, bool] | None:
        processor = daemon.processors.get(chamber_id)
        if processor is None:
            return None
        return {c: processor.past_due(c) for c in processor.calibrations}

    def _calibration(chamber_id: str, channel_id: str) -> CalibrationOut | None:
        processor = daemon.processors.get(chamber_id)
        cal = processor.calibrations.get(channel_id) if processor is not None else None
        if processor is None or cal is None:
            return None
        cert = cal.certificate
        return CalibrationOut(
            certificate_id=cert.id,
            version=cert.version,
            laboratory=cert.laboratory,
            issued=cert.issued.isoformat(),
            due=cert.due.isoformat(),
            past_due=processor.past_due(channel_id),
        )

    def channels_or_404(chamber_id: str, wanted: list[str] | None) -> list[ChannelMeta]:
        # From the database, not this process's configuration: any replica serves any chamber.
        metas = {m.channel_id: m for m in daemon.store.chamber_channels(chamber_id)}
        if not metas:
            known = ", ".join(sorted(daemon.store.chamber_names()))
            raise HTTPException(404, f"no chamber {chamber_id!r}; known chambers: {known}")
        for c in wanted or []:
            if c not in metas:
                raise HTTPException(
                    404,
                    f"chamber {chamber_id!r} has no channel {c!r}; its "
                    f"channels are: {', '.join(metas)}",
                )
        return [metas[c] for c in wanted] if wanted else list(metas.values())

    @app.get(
        "/api/v1/chambers/{chamber_id}/history",
        response_model=HistoryOut,
        responses={
            200: {
                "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
                "description": "JSON, or with format=csv|parquet a streamed raw export",
            }
        },
    )
    def history(
        chamber_id: str,
        channel: Annotated[
            list[str] | None,
            Query(description="Channel id; repeat for several; all channels when absent"),
        ] = None,
        start: Annotated[
            str | None,
            Query(description="ISO 8601 (UTC when no offset); default: one hour before end"),
        ] = None,
        end: Annotated[
            str | None, Query(description="ISO 8601 (UTC when no offset); default: now")
        ] = None,
        format: Annotated[
            Literal["json", "csv", "parquet"],
            Query(description="csv and parquet stream every raw sample of the range"),
        ] = "json",
        limit: Annotated[int | None, Query(ge=1, le=MAX_JSON_POINTS)] = None,
        max_points: Annotated[
            int | None,
            Query(
                ge=1,
                le=MAX_POINTS_LIMIT,
                description="At most this many points in all (shared evenly by the channels): "
                "raw samples when they fit, else buckets with mean, min, max and count",
            ),
        ] = None,
    ) -> HistoryOut | StreamingResponse | JSONResponse:
        metas = channels_or_404(chamber_id, channel)
        wanted = [m.channel_id for m in metas]
        t_end = _parse_time("end", end, datetime.now(UTC))
        t_start = _parse_time("start", start, t_end - timedelta(hours=1))
        if t_start >= t_end:
            raise HTTPException(
                422, f"start ({t_start.isoformat()}) must be before end ({t_end.isoformat()})"
            )
        start_us = int(t_start.timestamp() * 1e6)
        end_us = int(t_end.timestamp() * 1e6)
        units = {m.channel_id: m.unit for m in metas}
        if format != "json":
            if max_points is not None:
                raise HTTPException(
                    422, f"format={format} exports raw samples; max_points is for format=json"
                )
            return StreamingResponse(
                export_chunks(
                    daemon.store,
                    chamber_id,
                    wanted,
                    start_us,
                    end_us,
                    format,
                    limit,
                    past_due=_past_due(chamber_id),
                ),
                media_type=MEDIA_TYPES[format],
                headers={
                    "Content-Disposition": f'attachment; filename="{chamber_id}-history.{format}"'
                },
            )
        if max_points is not None:
            return _downsampled(daemon, chamber_id, metas, start_us, end_us, max_points, units)
        cap = limit or MAX_JSON_POINTS
        points = [
            PointOut(
                channel=s.channel_id,
                timestamp=iso(s.timestamp_us),
                value=s.value,
                raw_value=s.raw_value,
                quality=s.quality.value,
                time_source=s.time_source.value,
                sequence=s.sequence,
                logger_time=None if s.logger_time_us is None else iso(s.logger_time_us),
                uncertainty=s.uncertainty,
                calibration_version=s.calibration_version,
                method=s.method,
            )
            for s in daemon.store.history(chamber_id, wanted, start_us, end_us, cap + 1)
        ]
        if len(points) > cap and limit is None:
            raise HTTPException(
                422,
                f"more than {cap} points in this range; narrow the range, set limit or "
                "max_points, or use format=csv",
            )
        return HistoryOut(
            chamber_id=chamber_id,
            start=iso(start_us),
            end=iso(end_us),
            units=units,
            points=points[:cap],
        )

    return app


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


def _series_points(s: Series) -> list[dict[str, Any]]:
    ts = s.timestamp_us.tolist()
    if s.source == "raw":
        quality = s.quality or []
        return [
            {"channel": s.channel_id, "timestamp": iso(t), "value": _num(v), "quality": q}
            for t, v, q in zip(ts, s.value.tolist(), quality, strict=True)
        ]
    assert s.minimum is not None and s.maximum is not None and s.count is not None
    return [
        {
            "channel": s.channel_id,
            "timestamp": iso(t),
            "value": v,
            "min": lo,
            "max": hi,
            "count": n,
        }
        for t, v, lo, hi, n in zip(
            ts,
            s.value.tolist(),
            s.minimum.tolist(),
            s.maximum.tolist(),
            s.count.tolist(),
            strict=True,
        )
    ]


def _downsampled(
    daemon: Daemon,
    chamber_id: str,
    metas: list[ChannelMeta],
    start_us: int,
    end_us: int,
    max_points: int,
    units: dict[str, str],
) -> JSONResponse:
    budget = max_points // len(metas)
    if budget < 1:
        raise HTTPException(
            422, f"max_points={max_points} is fewer than the {len(metas)} channels asked for"
        )
    points: list[dict[str, Any]] = []
    series: dict[str, dict[str, Any]] = {}
    for meta in metas:
        try:
            s = downsample(daemon.store, meta, start_us, end_us, budget)
        except StoreError as exc:
            raise HTTPException(503, str(exc)) from exc
        points.extend(_series_points(s))
        series[meta.channel_id] = {
            "source": s.source,
            "bucket_width_s": None if s.bucket_width_us is None else s.bucket_width_us / 1e6,
            "points": len(s),
        }
    # Built by hand rather than through HistoryOut: thousands of points validated one by one
    # would cost more than the query.
    return JSONResponse(
        {
            "chamber_id": chamber_id,
            "start": iso(start_us),
            "end": iso(end_us),
            "units": units,
            "series": series,
            "points": points,
        }
    )
