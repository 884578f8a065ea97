"""GET /api/v1/health: each device's state, each shared line's, the writer's, the store's, and
why degraded; GET /api/v1/health/ready: the same, answered with 503 when degraded, for
monitors."""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response

from loggerd import __version__
from loggerd.api.deps import HealthDep
from loggerd.api.ports import DeviceReport
from loggerd.api.schemas import (
    DeviceHealthOut,
    HealthOut,
    LineHealthOut,
    StoreHealthOut,
    WriterHealthOut,
)
from loggerd.core.health import LineHealth, WriterHealth
from loggerd.core.times import iso

router = APIRouter(tags=["health"])


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


def _device(report: DeviceReport) -> DeviceHealthOut:
    fields = _fields(report.health)
    if report.backfill is not None:
        fields["backfill"] = {**_fields(report.backfill), "progress": report.backfill.progress}
    return DeviceHealthOut.model_validate(
        {
            "chamber_id": report.chamber_id,
            "device_id": report.device_id,
            "driver": report.driver,
            **fields,
        }
    )


def _reasons(report: DeviceReport) -> list[str]:
    name = f"{report.chamber_id}/{report.device_id}"
    out = []
    b = report.backfill
    if b is not None and b.state == "stalled":
        out.append(
            f"{name}: reading its memory makes no progress ({b.last_error}); its records wait "
            "in the logger"
        )
    if b is not None and b.state == "behind":
        out.append(
            f"{name}: its memory is read at {_rate(b.read_rate_per_s)} records/s while it "
            f"records {_rate(b.record_rate_per_s)}/s: the download cannot catch up, and records "
            "will be overwritten before they are read; give the download a larger share "
            "(backfill_duty) or the line a higher baud rate, or lengthen the logging interval"
        )
    # A device held back with its line is said once, in the line's reason.
    line_down = report.line is not None and report.line.quarantined
    if report.health.state in ("error", "offline") and not line_down:
        out.append(f"{name} is {report.health.state}: {report.health.last_error}")
    return out


def _lines(reports: list[DeviceReport]) -> list[LineHealth]:
    """Each shared line once, in the order of its first device."""
    lines = {r.line.name: r.line for r in reports if r.line is not None}
    return list(lines.values())


def _line_reason(line: LineHealth) -> str:
    until = "?" if line.quarantine_until_utc_us is None else iso(line.quarantine_until_utc_us)
    return (
        f"line {line.name} ({len(line.devices)} devices): no device on it answers; it is "
        f"quarantined until {until}, then probed through one device at a time; check the "
        "cable, the adapter and the devices' power"
    )


def _rate(per_s: float | None) -> str:
    return "?" if per_s is None else f"{per_s:.3g}"


def _writer(w: WriterHealth) -> WriterHealthOut:
    return WriterHealthOut(
        state="ok" if w.state == "ok" else "degraded",
        reason=w.reason,
        queued=w.queued,
        spooled=w.spooled,
        held=w.held,
        spool_bytes=w.spool_bytes,
        spool_append_ms_p99=w.spool_append_ms_p99,
        capacity=w.capacity,
        written=w.written,
        duplicates=w.duplicates,
        conflicts=w.conflicts,
        expired=w.expired,
        failed_flushes=w.failed_flushes,
        lag_s=w.oldest_pending_age_s,
        last_flush=None if w.last_flush_utc_s is None else iso(int(w.last_flush_utc_s * 1e6)),
        last_flush_duration_s=w.last_flush_duration_s,
        last_error=w.last_error,
    )


def _report(source: HealthDep) -> HealthOut:
    reports = source.devices()
    lines = _lines(reports)
    reasons = [_line_reason(line) for line in lines if line.quarantined]
    reasons += [r for report in reports for r in _reasons(report)]
    writer = source.writer()
    if writer is not None and writer.reason is not None:
        reasons.append(writer.reason)
    store = source.store()
    return HealthOut(
        status="degraded" if reasons else "ok",
        reasons=reasons,
        version=__version__,
        devices=[_device(r) for r in reports],
        lines=[LineHealthOut.model_validate(_fields(line)) for line in lines],
        writer=None if writer is None else _writer(writer),
        store=StoreHealthOut.model_validate(
            {"engine": store.engine, "url": store.url, "schema": store.schema}
        ),
    )


@router.get("/health", response_model=HealthOut)
async def health(source: HealthDep) -> HealthOut:
    """Always 200 while loggerd answers: `status` says ok or degraded, `reasons` why."""
    return _report(source)


@router.get(
    "/health/ready",
    response_model=HealthOut,
    responses={
        200: {"description": "status ok"},
        503: {
            "model": HealthOut,
            "description": "status degraded: a device offline or in error, a line on which no "
            "device answers, a stalled memory download, or a writer that cannot keep up; "
            "`reasons` says which",
        },
    },
)
async def ready(source: HealthDep, response: Response) -> HealthOut:
    """For monitors and load balancers: the report of /health, answered with 503 when
    degraded, so that a plain HTTP check (uptime monitor, `curl --fail`) notices."""
    report = _report(source)
    if report.status != "ok":
        response.status_code = 503
    return report
