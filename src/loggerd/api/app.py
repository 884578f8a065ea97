"""The HTTP API's application: its routers, and what an error answers. It is built from
read-only ports (api/ports.py), never from the daemon, so it runs wherever they can be served."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from loggerd import __version__
from loggerd.api.errors import http_error, invalid_request, store_unavailable
from loggerd.api.ports import Ports
from loggerd.api.routers import alarms, chambers, events, gaps, health, history, latest, runs
from loggerd.storage.store import StoreError

PREFIX = "/api/v1"


def create_app(ports: Ports, max_raw_points: int = history.MAX_RAW_POINTS) -> FastAPI:
    """The app, reading `ports`. `max_raw_points`: the most raw points history answers as
    JSON; a request for more gets a 422 with the max_points to ask for instead."""
    # /docs and /redoc load Swagger UI and ReDoc from loggerd itself: a lab network often has
    # no way out, and the default CDN links then give a blank page.
    app = FastAPIOffline(
        title="loggerd",
        version=__version__,
        description="Live and historical readings of climatic test chambers. Times are UTC. "
        'Every error answers `{"detail": "…"}`: one line saying what is wrong and what to do.',
    )
    app.state.ports = ports
    app.state.max_raw_points = max_raw_points
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(StoreError, store_unavailable)
    app.add_exception_handler(SQLAlchemyError, store_unavailable)
    for module in (health, events, gaps, chambers, latest, history, runs, alarms):
        app.include_router(module.router, prefix=PREFIX)
    return app
