"""Store factories and API dependencies shared by the features' CLI and API modules, and how
the API answers errors (a bad request is a 400 with a message, a backend that is down a 503
naming it, never a stack trace).

One client set per process (the stores keep connection pools); Celery workers build their own
after the fork (workers/tasks.py).
"""

from __future__ import annotations

import hmac
from functools import cache
from typing import Annotated

from elasticsearch import ApiError
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newswire.alerts.store import AlertStore
from newswire.backends import BACKEND_DOWN, outage
from newswire.events.store import EventStore
from newswire.feeds.store import FeedStore
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import get_settings
from pipeline.search import InvalidSearch

_bearer = HTTPBearer(auto_error=False)


@cache
def search_store() -> SearchStore:
    return SearchStore.from_settings(get_settings())


@cache
def redis_store() -> RedisStore:
    settings = get_settings()
    return RedisStore.from_url(settings.redis_url, settings.index_prefix)


@cache
def feed_store() -> FeedStore:
    settings = get_settings()
    return FeedStore.from_url(settings.redis_url, settings.index_prefix)


@cache
def event_store() -> EventStore:
    settings = get_settings()
    return EventStore(
        redis_store().client,
        redis_store().prefix,
        window_hours=settings.event_window_hours,
        merge_ttl_seconds=settings.dedup_ttl_days * 86_400,
    )


def alert_store() -> AlertStore:
    return AlertStore.of(search_store())


def require_admin(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Admin endpoints are off without NEWSWIRE_ADMIN_TOKEN and need it as a Bearer token."""
    token = get_settings().admin_token
    if not token:
        raise HTTPException(403, "admin endpoints are disabled: set NEWSWIRE_ADMIN_TOKEN")
    if credentials is None or not hmac.compare_digest(credentials.credentials, token):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


AdminOnly = [Depends(require_admin)]


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
