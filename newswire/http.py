"""How the API answers errors: a bad request is a 400 with a message, a backend that is down a
503 naming it, never a stack trace."""

from __future__ import annotations

from elasticsearch import ApiError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from newswire.backends import BACKEND_DOWN, outage
from newswire.settings import get_settings
from pipeline.search import InvalidSearch


async def _bad_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
    return JSONResponse({"error": "invalid request", "detail": problems}, status_code=400)


async def _invalid_search(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "invalid search", "detail": str(exc)}, status_code=400)


def unavailable(exc: Exception) -> JSONResponse | None:
    """The 503 answer for an unreachable backend, or None when `exc` is something else."""
    found = outage(exc, get_settings())
    if found is None:
        return None
    return JSONResponse(
        {"error": "backend unavailable", "backend": found.backend, "detail": found.message},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _backend_down(_: Request, exc: Exception) -> JSONResponse:
    return unavailable(exc) or JSONResponse({"error": "backend error"}, status_code=503)


async def _es_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    down = unavailable(exc)
    if down is not None:
        return down
    # The message of a 400 from Elasticsearch is about the query; anything else is ours.
    if exc.status_code == 400:
        return JSONResponse({"error": "invalid search", "detail": str(exc.message)}, 400)
    return JSONResponse({"error": "search backend error", "detail": exc.error}, 502)


def install_error_handlers(app: FastAPI) -> None:
    """Register the project's error answers on `app`."""
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(InvalidSearch, _invalid_search)
    app.add_exception_handler(ApiError, _es_error)
    for error in BACKEND_DOWN:
        app.add_exception_handler(error, _backend_down)
