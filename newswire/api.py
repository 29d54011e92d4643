"""HTTP API: search, articles, actors, alerts, health and metrics; admin endpoints need a token."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from dataclasses import asdict
from functools import cache
from typing import Annotated, Any

from elasticsearch import ApiError
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel, Field

from newswire import stories
from newswire.api_feeds import FeedsCollector
from newswire.api_feeds import router as feeds_router
from newswire.api_stories import router as stories_router
from newswire.es_store import SearchStore
from newswire.redis_store import RedisStore
from newswire.settings import get_settings
from pipeline.alerts import ActorConfigError, parse_actors
from pipeline.search import (
    InvalidSearch,
    SearchRequest,
    build_search_body,
    facet_filters,
)

app = FastAPI(
    title="newswire",
    version="0.1.0",
    description="Search ingested wire articles, list tracked actors and their alerts.",
)
_bearer = HTTPBearer(auto_error=False)


@cache
def stores() -> tuple[SearchStore, RedisStore]:
    settings = get_settings()
    return (
        SearchStore.from_settings(settings),
        RedisStore.from_url(settings.redis_url, settings.index_prefix),
    )


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


@app.exception_handler(RequestValidationError)
async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
    return JSONResponse({"error": "invalid request", "detail": problems}, status_code=400)


@app.exception_handler(InvalidSearch)
async def _invalid_search(_: Request, exc: InvalidSearch) -> JSONResponse:
    return JSONResponse({"error": "invalid search", "detail": str(exc)}, status_code=400)


@app.exception_handler(ApiError)
async def _es_error(_: Request, exc: ApiError) -> JSONResponse:
    # The message of a 400 from Elasticsearch is about the query; anything else is ours.
    if exc.status_code == 400:
        return JSONResponse({"error": "invalid search", "detail": str(exc.message)}, 400)
    return JSONResponse({"error": "search backend error", "detail": exc.error}, 502)


class Hit(BaseModel):
    doc_id: str
    story_id: str
    title: str
    source: str
    url: str | None
    published_at: str
    language: str
    score: float | None
    highlights: dict[str, list[str]]
    persons: list[str]
    organisations: list[str]
    places: list[str]
    story_articles: int = Field(1, description="Articles in the hit's story (all, not only hits)")
    story_sources: list[str] = Field(default_factory=list, description="Every source of the story")
    story_languages: list[str] = Field(default_factory=list)


class SearchResponse(BaseModel):
    total: int = Field(description="Matching stories (one per story when collapsed)")
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]]
    histogram: list[tuple[str, int]] = Field(description="(day, count) of matching articles")


@app.get("/search", response_model=SearchResponse)
def search(
    q: Annotated[str, Query(max_length=1000, description='Words, "phrases", -not, a | b')] = "",
    source: Annotated[list[str] | None, Query()] = None,
    language: Annotated[list[str] | None, Query()] = None,
    person: Annotated[list[str] | None, Query()] = None,
    organisation: Annotated[list[str] | None, Query()] = None,
    place: Annotated[list[str] | None, Query()] = None,
    category: Annotated[list[str] | None, Query()] = None,
    actor: Annotated[list[str] | None, Query(description="Tracked actor id")] = None,
    date_from: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 10,
    sort: Annotated[str, Query(pattern="^(relevance|newest)$")] = "relevance",
    collapse: Annotated[bool, Query(description="One hit per story")] = True,
) -> Any:
    """Full-text search with highlights, facet counts and a per-day histogram."""
    filters = facet_filters(
        source=source,
        language=language,
        person=person,
        organisation=organisation,
        place=place,
        category=category,
        actor=actor,
    )
    request = SearchRequest(
        query=q,
        filters=filters,
        date_from=date_from,
        date_to=date_to,
        page=page,
        size=size,
        sort=sort,
        collapse_stories=collapse,
    )
    store, _ = stores()
    return asdict(stories.search(store, build_search_body(request)))


@app.get("/articles/{doc_id}")
def article(doc_id: str) -> dict[str, Any]:
    """One article; `body_html` is sanitised feed HTML, safe to display."""
    store, _ = stores()
    found = store.get_article(doc_id)
    if found is None:
        raise HTTPException(404, f"no article {doc_id}")
    return found


@app.get("/actors")
def actors() -> list[dict[str, Any]]:
    """Tracked actors with their aliases."""
    store, _ = stores()
    return [{k: v for k, v in a.items() if k != "query"} for a in store.actors()]


@app.get("/alerts")
def alerts(
    actor: Annotated[str | None, Query(description="Actor id")] = None,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Articles that mention a tracked actor, newest first."""
    store, _ = stores()
    return store.alerts(actor_id=actor, size=size)


@app.get("/health")
def health() -> dict[str, Any]:
    """Elasticsearch cluster status and Redis reachability."""
    store, redis_store = stores()
    return {
        "elasticsearch": store.es.cluster.health()["status"],
        "redis": bool(redis_store.client.ping()),
    }


class _StateCollector:
    """Gauges read from Redis and Elasticsearch at scrape time (not per-process samples)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        settings = get_settings()
        store, redis_store = stores()
        gauges = (
            (
                "newswire_queue_length",
                "Tasks waiting in the broker queue",
                redis_store.client.llen(settings.queue),
            ),
            (
                "newswire_dead_letters",
                "Payloads in the dead-letter list",
                redis_store.dead_letter_count(),
            ),
            ("newswire_indexed_articles", "Articles in the index", store.count()),
        )
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value=float(value))


@app.get("/metrics", response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    """Prometheus metrics: worker counters (shared multiprocess dir) and queue gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    registry.register(_StateCollector())
    registry.register(FeedsCollector())
    return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class IngestUrl(BaseModel):
    url: str = Field(description="http(s) feed URL; private addresses are refused")


app.include_router(feeds_router)
app.include_router(stories_router)


@app.post("/admin/actors/sync", dependencies=[Depends(require_admin)])
def admin_sync_actors() -> dict[str, int]:
    """Reload config/actors.yaml into Elasticsearch."""
    settings = get_settings()
    try:
        actors_list = parse_actors(settings.actors_file.read_text(encoding="utf-8"))
    except ActorConfigError as exc:
        raise HTTPException(400, str(exc)) from exc
    store, _ = stores()
    return {"actors": store.sync_actors(actors_list)}


@app.post("/admin/ingest", dependencies=[Depends(require_admin)], status_code=202)
def admin_ingest(body: IngestUrl) -> dict[str, Any]:
    """Queue a poll of one feed URL (address checks apply on the worker, on every redirect)."""
    from pipeline.feedlist import FeedConfig
    from workers.tasks import poll_feed

    if not body.url.startswith(("http://", "https://")):
        raise HTTPException(400, "url must be http(s)")
    feed_id = body.url.split("//", 1)[1].split("/", 1)[0]
    task = poll_feed.delay(FeedConfig(id=feed_id, url=body.url).to_dict())
    return {"task_id": task.id}


@app.get("/admin/deadletter", dependencies=[Depends(require_admin)])
def admin_deadletter(limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    """Dead-lettered payloads with their reasons."""
    _, redis_store = stores()
    return redis_store.dead_letters(limit)
