"""HTTP API for ingestion (admin only): queue a poll of one URL, list dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from newswire.deps import AdminOnly, redis_store

router = APIRouter(tags=["ingest"], dependencies=AdminOnly)


class IngestUrl(BaseModel):
    url: str = Field(description="http(s) feed URL; private addresses are refused")


@router.post("/admin/ingest", status_code=202)
def admin_ingest(body: IngestUrl) -> dict[str, Any]:
    """Queue a poll of one feed URL (address checks apply on the worker, on every redirect)."""
    from pipeline.feedlist import FeedConfig
    from workers.tasks import poll_feed

    if not body.url.startswith(("http://", "https://")):
        raise HTTPException(400, "url must be http(s)")
    feed_id = body.url.split("//", 1)[1].split("/", 1)[0]
    task = poll_feed.delay(FeedConfig(id=feed_id, url=body.url).to_dict())
    return {"task_id": task.id}


@router.get("/admin/deadletter")
def admin_deadletter(limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    """Dead-lettered payloads with their reasons."""
    return redis_store().dead_letters(limit)
