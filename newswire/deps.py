"""Store factories and API dependencies shared by the features' CLI and API modules.

One client set per process (the stores keep connection pools); Celery workers build their own
after the fork (workers/tasks.py).
"""

from __future__ import annotations

import hmac
from functools import cache
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newswire.alerts.store import AlertStore
from newswire.events.store import EventStore
from newswire.feeds.store import FeedStore
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import get_settings

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
