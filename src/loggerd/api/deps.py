"""How routes get what they read (FastAPI dependencies on the app's ports), and the lookups
and checks several routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from loggerd.api.ports import Catalog, Certificates, EventLog, Health, History, LiveReadings, Ports
from loggerd.core.times import TimeFormatError, parse_utc_us
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


LiveDep = Annotated[LiveReadings, Depends(_live)]
HealthDep = Annotated[Health, Depends(_health)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
HistoryDep = Annotated[History, Depends(_history)]
EventsDep = Annotated[EventLog, Depends(_events)]
CertificatesDep = Annotated[Certificates, Depends(_certificates)]


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


def time_us(name: str, value: str) -> int:
    """A query's ISO 8601 time as UTC µs (no offset means UTC), or a 422 that says why."""
    try:
        return parse_utc_us(value, name)
    except TimeFormatError as exc:
        raise HTTPException(422, str(exc)) from None
