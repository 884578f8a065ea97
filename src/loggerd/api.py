"""The HTTP API: live readings from the ring buffer, history from the store. No hardware here."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from . import __version__
from .acquisition import ChannelInfo
from .daemon import Daemon

MAX_JSON_POINTS = 1_000_000


def iso(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


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


class ReadingOut(BaseModel):
    channel: str
    quantity: str
    value: float | None = Field(description="In `unit`; null when quality is not good")
    raw_value: float | None
    unit: str
    timestamp: str | None = Field(description="ISO 8601, UTC")
    time_source: str | None = Field(description="Whose clock stamped it: host or logger")
    quality: str = Field(
        description="good, sensor_fault, out_of_range, missing or invalid; "
        "no_data before the first poll"
    )
    age_s: float | None


class LatestOut(BaseModel):
    chamber_id: str
    readings: list[ReadingOut]


class PointOut(BaseModel):
    channel: str
    timestamp: str
    value: float | None
    raw_value: float | None
    quality: str
    time_source: str
    sequence: int | None


class HistoryOut(BaseModel):
    chamber_id: str
    start: str
    end: str
    units: dict[str, str] = Field(description="Unit of each channel's values")
    points: list[PointOut]


class DeviceHealthOut(BaseModel):
    chamber_id: str
    device_id: str
    driver: str
    state: str
    last_ok: str | None
    last_error: str | None
    consecutive_failures: int
    reads_ok: int
    reads_failed: int
    missed_ticks: int
    errors_by_kind: dict[str, int]
    model: str | None
    serial_number: str | None


class WriterHealthOut(BaseModel):
    queued: int
    written: int
    failed_flushes: int
    lag_s: float | None = Field(description="Age of the oldest sample not yet in the store")
    last_error: str | None


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    devices: list[DeviceHealthOut]
    writer: WriterHealthOut


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

    def chamber_or_404(chamber_id: str) -> None:
        if chamber_id not in daemon.channels:
            known = ", ".join(sorted(daemon.channels))
            raise HTTPException(404, f"no chamber {chamber_id!r}; known chambers: {known}")

    @app.get("/api/v1/health", response_model=HealthOut)
    async def health() -> HealthOut:
        devices = []
        drivers = {d.id: d.driver for c in config.chambers for d in c.devices}
        for p in daemon.pollers:
            h = p.health
            devices.append(
                DeviceHealthOut(
                    chamber_id=p.chamber_id,
                    device_id=p.device_id,
                    driver=drivers[p.device_id],
                    state=h.state,
                    last_ok=iso(h.last_ok_utc_us) if h.last_ok_utc_us else None,
                    last_error=h.last_error,
                    consecutive_failures=h.consecutive_failures,
                    reads_ok=h.reads_ok,
                    reads_failed=h.reads_failed,
                    missed_ticks=h.missed_ticks,
                    errors_by_kind=h.errors_by_kind,
                    model=h.info.model if h.info else None,
                    serial_number=h.info.serial_number if h.info else None,
                )
            )
        w = daemon.writer.health()
        degraded = w.last_error is not None or any(d.state in ("error", "offline") for d in devices)
        return HealthOut(
            status="degraded" if degraded else "ok",
            version=__version__,
            devices=devices,
            writer=WriterHealthOut(
                queued=w.queued,
                written=w.written,
                failed_flushes=w.failed_flushes,
                lag_s=w.oldest_pending_age_s,
                last_error=w.last_error,
            ),
        )

    @app.get("/api/v1/chambers", response_model=ChambersOut)
    async def list_chambers() -> ChambersOut:
        return ChambersOut(
            chambers=[
                ChamberOut(
                    id=c.id,
                    name=c.name,
                    channels=[
                        ChannelOut(
                            id=i.channel_id,
                            name=i.name,
                            quantity=i.quantity,
                            unit=i.unit,
                            device_id=i.device_id,
                        )
                        for i in daemon.channels[c.id]
                    ],
                )
                for c in config.chambers
            ]
        )

    @app.get("/api/v1/chambers/{chamber_id}/latest", response_model=LatestOut)
    async def latest(chamber_id: str) -> LatestOut:
        chamber_or_404(chamber_id)
        now_us = datetime.now(UTC).timestamp() * 1e6
        readings = []
        for info in daemon.channels[chamber_id]:
            w = daemon.ring.channel(chamber_id, info.channel_id).latest()
            if len(w) == 0:
                readings.append(
                    ReadingOut(
                        channel=info.channel_id,
                        quantity=info.quantity,
                        value=None,
                        raw_value=None,
                        unit=info.unit,
                        timestamp=None,
                        time_source=None,
                        quality="no_data",
                        age_s=None,
                    )
                )
                continue
            ts = int(w.timestamp_us[0])
            readings.append(
                ReadingOut(
                    channel=info.channel_id,
                    quantity=info.quantity,
                    value=_num(float(w.value[0])),
                    raw_value=_num(float(w.raw_value[0])),
                    unit=info.unit,
                    timestamp=iso(ts),
                    time_source=w.time_source[0].value,
                    quality=w.quality[0].value,
                    age_s=round((now_us - ts) / 1e6, 3),
                )
            )
        return LatestOut(chamber_id=chamber_id, readings=readings)

    @app.get("/api/v1/chambers/{chamber_id}/history", response_model=HistoryOut)
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
        format: Annotated[Literal["json", "csv"], Query()] = "json",
        limit: Annotated[int | None, Query(ge=1, le=MAX_JSON_POINTS)] = None,
    ) -> HistoryOut | StreamingResponse:
        chamber_or_404(chamber_id)
        infos = {i.channel_id: i for i in daemon.channels[chamber_id]}
        wanted = channel or list(infos)
        for c in wanted:
            if c not in infos:
                raise HTTPException(
                    404,
                    f"chamber {chamber_id!r} has no channel {c!r}; its "
                    f"channels are: {', '.join(infos)}",
                )
        t_end = _parse_time("end", end, datetime.now(UTC))
        t_start = _parse_time("start", start, t_end - timedelta(hours=1))
        if t_start >= t_end:
            raise HTTPException(
                422, f"start ({t_start.isoformat()}) must be before end ({t_end.isoformat()})"
            )
        start_us = int(t_start.timestamp() * 1e6)
        end_us = int(t_end.timestamp() * 1e6)
        if format == "csv":
            return StreamingResponse(
                _csv(daemon, chamber_id, wanted, infos, start_us, end_us, limit),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{chamber_id}-history.csv"'},
            )
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
            )
            for s in daemon.store.history(chamber_id, wanted, start_us, end_us, cap + 1)
        ]
        if len(points) > cap and limit is None:
            raise HTTPException(
                422,
                f"more than {cap} points in this range; narrow the range, "
                "set limit, or use format=csv",
            )
        return HistoryOut(
            chamber_id=chamber_id,
            start=iso(start_us),
            end=iso(end_us),
            units={c: infos[c].unit for c in wanted},
            points=points[:cap],
        )

    return app


def _csv(
    daemon: Daemon,
    chamber_id: str,
    wanted: list[str],
    infos: dict[str, ChannelInfo],
    start_us: int,
    end_us: int,
    limit: int | None,
) -> Iterator[str]:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(
        ["timestamp", "channel", "value", "raw_value", "unit", "quality", "time_source", "sequence"]
    )
    units = {c: infos[c].unit for c in wanted}
    for n, s in enumerate(daemon.store.history(chamber_id, wanted, start_us, end_us, limit)):
        out.writerow(
            [
                iso(s.timestamp_us),
                s.channel_id,
                "" if s.value is None else repr(s.value),
                "" if s.raw_value is None else repr(s.raw_value),
                units[s.channel_id],
                s.quality.value,
                s.time_source.value,
                "" if s.sequence is None else s.sequence,
            ]
        )
        if n % 1000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
