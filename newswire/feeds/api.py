"""HTTP API for managed feeds: reads are open like /search; changes need the admin token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Response
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel, Field

from newswire.deps import AdminOnly, feed_store
from newswire.feeds.service import status_rows
from newswire.feeds.store import FeedExists, UnknownFeed
from newswire.settings import get_settings
from pipeline.feedlist import FeedConfig, FeedListError, validate_feed
from pipeline.opml import OpmlError, export_opml, parse_opml, slug

router = APIRouter(prefix="/feeds", tags=["feeds"])
admin = AdminOnly


class FeedIn(BaseModel):
    url: str = Field(description="http(s) feed URL")
    id: str | None = Field(None, description="Feed id (default: from the URL)")
    source: str | None = None
    language: str | None = Field(None, description="Default language, ISO 639")
    tags: list[str] = Field(default_factory=list)
    min_interval: int | None = Field(None, description="Shortest poll interval, seconds")
    max_interval: int | None = Field(None, description="Longest poll interval, seconds")


class FeedPatch(BaseModel):
    url: str | None = None
    source: str | None = None
    language: str | None = None
    tags: list[str] | None = None
    min_interval: int | None = None
    max_interval: int | None = None


class PollRequest(BaseModel):
    feeds: list[str] = Field(default_factory=list, description="Feed ids; empty: the due")
    all: bool = Field(False, description="Every feed, due or not")


def validated(entry: dict[str, Any]) -> FeedConfig:
    try:
        return validate_feed(entry, where=str(entry.get("id") or "feed"))
    except FeedListError as exc:
        raise HTTPException(400, str(exc)) from exc


def record_or_404(feed_id: str, *, daily: bool = False) -> Any:
    try:
        return feed_store().get(feed_id, daily=daily)
    except UnknownFeed as exc:
        raise HTTPException(404, f"no feed {feed_id}") from exc


@router.get("")
def list_feeds(tag: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
    """Every managed feed with its settings and state."""
    return [r.to_dict() for r in feed_store().all() if tag is None or tag.lower() in r.config.tags]


@router.get("/status")
def status() -> list[dict[str, Any]]:
    """Feed health, the sick first: last poll, HTTP status, new entries, errors, reason."""
    return status_rows(feed_store().all())


@router.get("/export.opml")
def export() -> Response:
    """The feed list as OPML 2.0."""
    body = export_opml([r.config for r in feed_store().all()])
    return Response(body, media_type="text/x-opml; charset=utf-8")


@router.get("/{feed_id}")
def show(feed_id: str) -> dict[str, Any]:
    """One feed: settings, state, new entries per day."""
    return dict(record_or_404(feed_id, daily=True).to_dict())


@router.post("", dependencies=admin, status_code=201)
def add(body: FeedIn) -> dict[str, Any]:
    """Start polling a feed; it is due at once."""
    store = feed_store()
    entry = body.model_dump()
    entry["id"] = body.id or slug(body.url.split("//", 1)[-1], set(store.ids()))
    try:
        return store.add(validated(entry)).to_dict()
    except FeedExists as exc:
        raise HTTPException(409, str(exc)) from exc


@router.patch("/{feed_id}", dependencies=admin)
def update(feed_id: str, body: FeedPatch) -> dict[str, Any]:
    """Change some of a feed's settings."""
    current = record_or_404(feed_id).config.to_dict()
    current.update(body.model_dump(exclude_none=True))
    return feed_store().update(validated(current)).to_dict()


@router.delete("/{feed_id}", dependencies=admin, status_code=204)
def remove(feed_id: str) -> Response:
    """Stop polling a feed and forget its state."""
    if not feed_store().remove(feed_id):
        raise HTTPException(404, f"no feed {feed_id}")
    return Response(status_code=204)


@router.post("/{feed_id}/pause", dependencies=admin)
def pause(feed_id: str) -> dict[str, Any]:
    """Take a feed out of rotation."""
    record_or_404(feed_id)
    return feed_store().pause(feed_id).to_dict()


@router.post("/{feed_id}/resume", dependencies=admin)
def resume(feed_id: str) -> dict[str, Any]:
    """Back into rotation (also when disabled), errors forgiven, due now."""
    record_or_404(feed_id)
    return feed_store().resume(feed_id).to_dict()


@router.post("/poll", dependencies=admin, status_code=202)
def poll(body: PollRequest) -> dict[str, Any]:
    """Queue polls of the named feeds, all feeds, or the due ones, for the workers."""
    from workers.tasks import poll_due_feeds

    settings = get_settings()
    store = feed_store()
    if body.feeds:
        unknown = sorted(set(body.feeds) - set(store.ids()))
        if unknown:
            raise HTTPException(404, f"no such feeds: {', '.join(unknown)}")
        targets: list[tuple[str, int | None]] = [(f, None) for f in body.feeds]
    elif body.all:
        targets = [(f, None) for f in store.ids()]
    else:
        claim, due = store.claim_due(now=time.time(), lease_seconds=settings.poll_lease_seconds)
        targets = [(f, claim) for f in due]
    size = settings.poll_batch_size
    tasks = [poll_due_feeds.delay(targets[i : i + size]).id for i in range(0, len(targets), size)]
    return {"feeds": len(targets), "tasks": tasks}


@router.post("/import", dependencies=admin)
def import_opml(
    body: Annotated[bytes, Body(media_type="text/x-opml", description="An OPML document")],
) -> dict[str, int]:
    """Add the OPML document's feeds; known ones get its settings and keep their state."""
    store = feed_store()
    try:
        known = {r.config.url: r.id for r in store.all()}
        feeds = parse_opml(body, existing_ids=set(known.values()), known_urls=known)
    except OpmlError as exc:
        raise HTTPException(400, str(exc)) from exc
    return store.upsert(feeds)


class FeedsCollector:
    """Gauges read from Redis at scrape time: feeds by state and the overdue backlog."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        store = feed_store()
        by_state = GaugeMetricFamily(
            "newswire_feeds", "Managed feeds by state (active, paused, disabled)", labels=["state"]
        )
        for state, count in store.status_counts().items():
            by_state.add_metric([state], float(count))
        yield by_state
        yield GaugeMetricFamily(
            "newswire_feeds_overdue",
            "Active feeds past their due time (a growing number means polling lags)",
            value=float(store.overdue()),
        )
