"""How routes get what they read (FastAPI dependencies on the app's ports), and the lookups
and checks several routes share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from pydantic import WithJsonSchema

from loggerd.api.ports import (
    Alarms,
    Catalog,
    Certificates,
    EventLog,
    Health,
    History,
    LiveReadings,
    Ports,
    RunReports,
    Runs,
)
from loggerd.core.times import TimeFormatError, iso, parse_utc_us, to_us
from loggerd.storage.store import ChannelMeta


def _ports(request: Request) -> Ports:
    ports: Ports = request.app.state.ports
    return ports


def _live(request: Request) -> LiveReadings:
    return _ports(request).live


def _health(request: Request) -> Health:
    return _ports(request).health


def _catalog(request: Request) -> Catalog:
    return _ports(request).catalog


def _history(request: Request) -> History:
    return _ports(request).history


def _events(request: Request) -> EventLog:
    return _ports(request).events


def _certificates(request: Request) -> Certificates:
    return _ports(request).certificates


def _runs(request: Request) -> Runs:
    return _ports(request).runs


def _reports(request: Request) -> RunReports:
    return _ports(request).reports


def _alarms(request: Request) -> Alarms:
    return _ports(request).alarms


LiveDep = Annotated[LiveReadings, Depends(_live)]
HealthDep = Annotated[Health, Depends(_health)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
HistoryDep = Annotated[History, Depends(_history)]
EventsDep = Annotated[EventLog, Depends(_events)]
CertificatesDep = Annotated[Certificates, Depends(_certificates)]
RunsDep = Annotated[Runs, Depends(_runs)]
ReportsDep = Annotated[RunReports, Depends(_reports)]
AlarmsDep = Annotated[Alarms, Depends(_alarms)]


def channels_or_404(
    catalog: Catalog, chamber_id: str, wanted: list[str] | None = None
) -> list[ChannelMeta]:
    """The chamber's channels (the `wanted` ones, in that order), or a 404 naming the known
    chambers or channels. From the store's catalog, not this process's configuration: any
    replica serves any chamber."""
    metas = {m.channel_id: m for m in catalog.chamber_channels(chamber_id)}
    if not metas:
        known = ", ".join(sorted(catalog.chamber_names()))
        raise HTTPException(404, f"no chamber {chamber_id!r}; known chambers: {known}")
    for c in wanted or []:
        if c not in metas:
            raise HTTPException(
                404,
                f"chamber {chamber_id!r} has no channel {c!r}; its channels are: "
                f"{', '.join(metas)}",
            )
    return [metas[c] for c in wanted] if wanted else list(metas.values())


# A chamber in a route's path. The example is the first chamber of `loggerd demo`.
ChamberId = Annotated[
    str, Path(description="As /api/v1/chambers lists them", examples=["chamber-1"])
]

# The earliest time ISO 8601 writes (0001-01-01T00:00:00Z): where a default start stops.
EARLIEST_US = to_us(datetime.min.replace(tzinfo=UTC))

# A time in a query, as the OpenAPI declares it. The text is read by loggerd's one parser
# (core.times), not by FastAPI's, which would take a bare number for Unix seconds.
IsoTime = Annotated[str | None, WithJsonSchema({"type": "string", "format": "date-time"})]


def time_us(name: str, value: str) -> int:
    """A query's ISO 8601 time as UTC µs (no offset means UTC), or a 422 that says why."""
    try:
        return parse_utc_us(value, name)
    except TimeFormatError as exc:
        raise HTTPException(422, str(exc)) from None
    except OverflowError:
        # A valid date whose offset moves it past year 1 or 9999 in UTC.
        raise HTTPException(422, f"{name}={value!r} is outside years 1 to 9999 in UTC") from None


def ordered(start_us: int | None, end_us: int | None) -> None:
    """A 422 unless start is before end (where both are given)."""
    if start_us is not None and end_us is not None and start_us >= end_us:
        raise HTTPException(422, f"start ({iso(start_us)}) must be before end ({iso(end_us)})")
