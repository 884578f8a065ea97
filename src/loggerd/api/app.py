"""The HTTP API's application: its routers, and what a store outage answers. It is built from
read-only ports (api/ports.py), never from the daemon, so it runs wherever they can be served."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from loggerd import __version__
from loggerd.api.ports import Ports
from loggerd.api.routers import chambers, events, gaps, health, history, latest
from loggerd.storage.store import StoreError

PREFIX = "/api/v1"


async def _store_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # The database is down or refused the query: say so, and that it is temporary.
    return JSONResponse(
        status_code=503,
        content={
            "detail": f"the history store is unavailable: {exc}; live readings "
            "(latest) are still served; retry shortly"
        },
    )


def create_app(ports: Ports) -> FastAPI:
    app = FastAPI(
        title="loggerd",
        version=__version__,
        description="Live and historical readings of climatic test chambers. Times are UTC.",
    )
    app.state.ports = ports
    app.add_exception_handler(StoreError, _store_unavailable)
    app.add_exception_handler(SQLAlchemyError, _store_unavailable)
    for module in (health, events, gaps, chambers, latest, history):
        app.include_router(module.router, prefix=PREFIX)
    return app
