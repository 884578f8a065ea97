"""GET /api/v1/chambers/{id}/history: raw samples as JSON, downsampled buckets (max_points),
or a streamed raw export (CSV, Parquet)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from loggerd.api.deps import (
    EARLIEST_US,
    CatalogDep,
    CertificatesDep,
    ChamberId,
    HistoryDep,
    IsoTime,
    channels_or_404,
    ordered,
    time_us,
)
from loggerd.api.encoding import history_json
from loggerd.api.errors import NOT_FOUND, STORE_DOWN
from loggerd.api.ports import History
from loggerd.api.schemas import HistoryOut, TooManyPointsOut, finite
from loggerd.core.times import iso, utc_now_us
from loggerd.storage.downsample import Series
from loggerd.storage.export import MEDIA_TYPES, Format
from loggerd.storage.store import ChannelMeta, StoreError

MAX_JSON_POINTS = 1_000_000  # the largest `limit`
MAX_POINTS_LIMIT = 100_000
# Raw points JSON answers at most, unless the app is built with another limit (create_app's
# max_raw_points). Above it a request is refused (422) with the max_points to ask for, before
# a row is read: 24 h of 8 channels at 1 Hz is 691,200 points, some 120 MB of JSON.
MAX_RAW_POINTS = 200_000
_HOUR_US = 3_600_000_000

router = APIRouter(tags=["history"])


def _series_points(s: Series) -> list[dict[str, Any]]:
    ts = s.timestamp_us.tolist()
    if s.source == "raw":
        quality = s.quality or []
        return [
            {"channel": s.channel_id, "timestamp": iso(t), "value": finite(v), "quality": q}
            for t, v, q in zip(ts, s.value.tolist(), quality, strict=True)
        ]
    assert s.minimum is not None and s.maximum is not None and s.count is not None
    return [
        {"channel": s.channel_id, "timestamp": iso(t), "value": v, "min": lo, "max": hi, "count": n}
        for t, v, lo, hi, n in zip(
            ts,
            s.value.tolist(),
            s.minimum.tolist(),
            s.maximum.tolist(),
            s.count.tolist(),
            strict=True,
        )
    ]


def _json(body: dict[str, Any]) -> Response:
    # orjson writes NaN and ±inf as null, as the response model does.
    return Response(orjson.dumps(body), media_type="application/json")


def _downsampled(
    history: History,
    chamber_id: str,
    metas: list[ChannelMeta],
    span_us: tuple[int, int],
    max_points: int,
) -> Response:
    budget = max_points // len(metas)
    if budget < 1:
        raise HTTPException(
            422, f"max_points={max_points} is fewer than the {len(metas)} channels asked for"
        )
    points: list[dict[str, Any]] = []
    series: dict[str, dict[str, Any]] = {}
    for meta in metas:
        try:
            s = history.downsample(meta, *span_us, budget)
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
    return _json(
        {
            "chamber_id": chamber_id,
            "start": iso(span_us[0]),
            "end": iso(span_us[1]),
            "units": {m.channel_id: m.unit for m in metas},
            "series": series,
            "points": points,
        }
    )


def _too_many(metas: list[ChannelMeta], span_us: tuple[int, int], cap: int) -> JSONResponse:
    """422: more raw points than JSON answers; the max_points to ask for instead."""
    n = len(metas)
    suggested = max(n, min(cap, MAX_POINTS_LIMIT) // n * n)
    detail = (
        f"more than {cap} points in this range ({n} channel{'s' if n > 1 else ''} from "
        f"{iso(span_us[0])} to "
        f"{iso(span_us[1])}), more than JSON answers raw: ask for max_points={suggested} "
        "(buckets with mean, min, max and count; raw samples where they fit), narrow the "
        "range, or use format=csv or format=parquet for every raw sample"
    )
    return JSONResponse({"detail": detail, "max_points": suggested}, status_code=422)


def _raw(
    history: History,
    chamber_id: str,
    metas: list[ChannelMeta],
    span_us: tuple[int, int],
    limit: int | None,
    cap: int,
) -> Response:
    wanted = [m.channel_id for m in metas]
    # Counted first, and only up to the limit: a range of months costs no more than one that
    # just fits, and nothing is read that would not be sent.
    if (limit is None or limit > cap) and history.count(
        chamber_id, wanted, *span_us, cap + 1
    ) > cap:
        return _too_many(metas, span_us, cap)
    # cap + 1: samples stored since the count (a range ending now) are noticed, not cut off.
    points = history.columns(chamber_id, wanted, *span_us, min(limit or cap + 1, cap + 1))
    if len(points) > cap:
        return _too_many(metas, span_us, cap)
    head = {
        "chamber_id": chamber_id,
        "start": iso(span_us[0]),
        "end": iso(span_us[1]),
        "units": {m.channel_id: m.unit for m in metas},
        "series": None,
    }
    return Response(history_json(head, points), media_type="application/json")


# What an export sends at a time. Each chunk of a sync iterator is fetched from a worker
# thread: the export's own 2,000-row chunks (~150 kB of CSV) cost a thread hop each.
SEND_BYTES = 1 << 20


def _coalesced(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks joined into pieces of about SEND_BYTES."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= SEND_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def _export(
    history: History,
    chamber_id: str,
    metas: list[ChannelMeta],
    span_us: tuple[int, int],
    fmt: Format,
    limit: int | None,
    past_due: dict[str, bool] | None,
) -> StreamingResponse:
    chunks = history.export(
        chamber_id, [m.channel_id for m in metas], *span_us, fmt, limit, past_due
    )
    return StreamingResponse(
        _coalesced(chunks),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{chamber_id}-history.{fmt}"'},
    )


@router.get(
    "/chambers/{chamber_id}/history",
    response_model=HistoryOut,
    responses={
        200: {
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
            "description": "JSON, or with format=csv|parquet a streamed raw export",
        },
        **NOT_FOUND,
        422: {
            "model": TooManyPointsOut,
            "description": "A parameter is invalid, start is not before end, max_points is "
            "fewer than the channels or given with format=csv|parquet, or the range holds more "
            "raw points than JSON answers (200,000 unless configured otherwise: then "
            "`max_points` says what to ask for); says which and what to do",
        },
        **STORE_DOWN,
    },
)
def history(
    request: Request,
    chamber_id: ChamberId,
    catalog: CatalogDep,
    source: HistoryDep,
    certificates: CertificatesDep,
    channel: Annotated[
        list[str] | None,
        Query(
            description="Channel id; repeat for several; all channels when absent",
            examples=[["t1", "rh"]],
        ),
    ] = None,
    start: Annotated[
        IsoTime,
        Query(
            description="ISO 8601 (UTC when no offset); default: one hour before end",
            examples=["2026-11-26T10:00:00Z"],
        ),
    ] = None,
    end: Annotated[
        IsoTime,
        Query(
            description="ISO 8601 (UTC when no offset); default: now",
            examples=["2026-11-26T11:00:00Z"],
        ),
    ] = None,
    format: Annotated[
        Literal["json", "csv", "parquet"],
        Query(description="csv and parquet stream every raw sample of the range"),
    ] = "json",
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_JSON_POINTS,
            description="At most this many raw samples, the first by time; JSON answers at "
            "most 200,000 (unless configured otherwise)",
        ),
    ] = None,
    max_points: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_POINTS_LIMIT,
            description="At most this many points in all (shared evenly by the channels): "
            "raw samples when they fit, else buckets with mean, min, max and count",
        ),
    ] = None,
) -> Response:
    metas = channels_or_404(catalog, chamber_id, channel)
    end_us = utc_now_us() if end is None else time_us("end", end)
    start_us = max(end_us - _HOUR_US, EARLIEST_US) if start is None else time_us("start", start)
    ordered(start_us, end_us)
    span_us = (start_us, end_us)
    if format != "json":
        if max_points is not None:
            raise HTTPException(
                422, f"format={format} exports raw samples; max_points is for format=json"
            )
        past_due = certificates.past_due(chamber_id)
        return _export(source, chamber_id, metas, span_us, format, limit, past_due)
    if max_points is not None:
        return _downsampled(source, chamber_id, metas, span_us, max_points)
    cap: int = getattr(request.app.state, "max_raw_points", MAX_RAW_POINTS)
    return _raw(source, chamber_id, metas, span_us, limit, cap)
