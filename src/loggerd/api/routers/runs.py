"""/api/v1/runs: test runs — a chamber under a test profile for a span of its history.

Created and closed here (and by `loggerd runs`), kept in the store beside the history, so every
API replica serves the same runs. A chamber runs one test at a time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response

from loggerd.api.deps import CatalogDep, ReportsDep, RunsDep, channels_or_404, time_us
from loggerd.api.errors import INVALID, NOT_FOUND, STORE_DOWN
from loggerd.api.schemas import ErrorOut, ProfileIn, RunCloseIn, RunIn, RunOut, RunsOut
from loggerd.chamber.decision import Rule
from loggerd.chamber.statistics import Family
from loggerd.core.errors import ConfigError
from loggerd.core.profiles import Run, parse_profile
from loggerd.core.times import iso, utc_now_us
from loggerd.reports import MEDIA_TYPES, ReportFormat
from loggerd.storage.runs import RunConflict, UnknownRun

router = APIRouter(tags=["runs"])

NO_RUN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such run (or chamber); says what to do"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The run's state forbids it; says which run and why"}
}
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The run's id")]


def run_out(run: Run) -> RunOut:
    return RunOut(
        id=run.id,
        chamber_id=run.chamber_id,
        test_id=run.test_id,
        unit_under_test=run.unit_under_test,
        operator=run.operator,
        start=iso(run.start_us),
        end=None if run.end_us is None else iso(run.end_us),
        open=run.open,
        profile=ProfileIn.model_validate(run.profile.to_dict()),
        created=iso(run.created_us),
        notes=run.notes,
    )


@router.get("/runs", response_model=RunsOut, responses={**INVALID, **STORE_DOWN})
def list_runs(
    runs: RunsDep,
    *,
    chamber: Annotated[
        str | None, Query(description="Only this chamber's runs", examples=["chamber-1"])
    ] = None,
    open: Annotated[bool, Query(description="Only runs still open")] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> RunsOut:
    """Runs, newest start first."""
    return RunsOut(runs=[run_out(r) for r in runs.list(chamber, open, limit)])


@router.post(
    "/runs",
    response_model=RunOut,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT, **INVALID, **STORE_DOWN},
)
def create_run(runs: RunsDep, catalog: CatalogDep, body: RunIn) -> RunOut:
    """Open a run on a chamber: from `start` (now when absent) until it is closed."""
    channels_or_404(catalog, body.chamber_id)
    try:
        profile = parse_profile(body.profile.model_dump(exclude_none=True), "profile")
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    now = utc_now_us()
    start_us = now if body.start is None else time_us("start", body.start)
    try:
        run = runs.create(
            body.chamber_id,
            body.test_id,
            body.unit_under_test,
            body.operator,
            profile,
            start_us,
            now,
            body.notes,
        )
    except RunConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return run_out(run)


@router.get("/runs/{run_id}", response_model=RunOut, responses={**NO_RUN, **INVALID, **STORE_DOWN})
def get_run(runs: RunsDep, run_id: RunId) -> RunOut:
    run = runs.get(run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id}: GET /api/v1/runs lists them")
    return run_out(run)


@router.post(
    "/runs/{run_id}/close",
    response_model=RunOut,
    responses={**NO_RUN, **CONFLICT, **INVALID, **STORE_DOWN},
)
def close_run(runs: RunsDep, run_id: RunId, body: RunCloseIn | None = None) -> RunOut:
    """Close an open run at `end` (now when absent)."""
    end = None if body is None else body.end
    end_us = utc_now_us() if end is None else time_us("end", end)
    try:
        return run_out(runs.close(run_id, end_us))
    except UnknownRun as exc:
        raise HTTPException(404, str(exc)) from None
    except RunConflict as exc:
        raise HTTPException(409, str(exc)) from None


@router.get(
    "/runs/{run_id}/report",
    responses={
        200: {
            "description": "The report: PDF, HTML (one self-contained page) or JSON",
            "content": {media: {} for media in MEDIA_TYPES.values()},
        },
        **NO_RUN,
        **INVALID,
        **STORE_DOWN,
    },
)
def run_report(
    reports: ReportsDep,
    run_id: RunId,
    format: Annotated[ReportFormat, Query(description="pdf, html or json")] = "pdf",
    family: Annotated[
        Family, Query(description="The standard whose statistics and window to use")
    ] = "gb_t_5170",
    rule: Annotated[Rule, Query(description="ILAC-G8 decision rule")] = "guarded",
) -> Response:
    """Plots of every channel against the profile, per-segment statistics and verdicts,
    completeness, calibration, events and a SHA-256 of the data used."""
    try:
        body = reports.report(run_id, format, family, rule)
    except UnknownRun as exc:
        raise HTTPException(404, str(exc)) from None
    disposition = "inline" if format != "pdf" else "attachment"
    return Response(
        body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'{disposition}; filename="run-{run_id}.{format}"'},
    )
