"""What the API answers when it cannot answer: one shape for every error, `{"detail": "one
line"}` saying what is wrong and what to do, documented on each route that can answer it. FastAPI's
own request validation (a list of objects by default) is made to say the same in one line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from loggerd.api.schemas import ErrorOut

# The responses a route documents besides its 200, as FastAPI's `responses=` takes them.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such chamber or channel; names the known ones"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "A parameter is invalid; says which and why"}
}
STORE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "The history store is unavailable; retry shortly"}
}
_LONGEST_INPUT = 60


def _what_was_given(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _LONGEST_INPUT else text[: _LONGEST_INPUT - 1] + "…"


def one_line(errors: Sequence[Any]) -> str:
    """Pydantic's validation errors of a request as one line: `name='given': why; …`."""
    parts = []
    for e in errors:
        # ("query", "kind", 1): the parameter's name, not where FastAPI found it.
        name = next((str(x) for x in e["loc"][1:] if isinstance(x, str)), str(e["loc"][-1]))
        if e["type"] == "missing":
            parts.append(f"{name} is required")
        else:
            why = " ".join(str(e["msg"]).split())
            parts.append(f"{name}={_what_was_given(e.get('input'))}: {why}")
    return "; ".join(parts)


def first_line(exc: Exception) -> str:
    """An exception's message without the SQL and links a driver's error appends below it."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": one_line(exc.errors())})


async def store_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # The database is down or refused the query: say so, and that it is temporary.
    return JSONResponse(
        status_code=503,
        content={
            "detail": f"the history store is unavailable: {first_line(exc)}; live readings "
            "(latest) are still served; retry shortly"
        },
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer to an HTTP error, except that a 405 lists in `Allow` every method the
    path takes: Starlette names only those of the first route on the path (GET /runs beside
    POST /runs would say `Allow: GET`)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        methods = {
            method
            for route in request.app.routes
            if isinstance(route, Route)
            and route.methods
            and route.matches(request.scope)[0] is not Match.NONE
            for method in route.methods
        }
        allowed = ", ".join(sorted(methods))
        return JSONResponse(
            status_code=405,
            content={"detail": f"{request.method} is not allowed here: use {allowed}"},
            headers={"Allow": allowed},
        )
    return await http_exception_handler(request, exc)
