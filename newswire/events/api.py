"""HTTP API for events: an event's stories with sources and times, and the latest events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from newswire.deps import event_store, search_store
from newswire.events import service as events

router = APIRouter(tags=["events"])


@router.get("/events")
def recent(
    limit: Annotated[int, Query(ge=1, le=200, description="How many events")] = 20,
) -> list[dict[str, Any]]:
    """The events with the latest articles, each with its coverage line."""
    return events.recent_events(search_store(), event_store(), limit)


@router.get("/events/{event_id}")
def event(event_id: str) -> dict[str, Any]:
    """An event (or the event of an article, or the event a merged one belongs to now): its
    stories with their articles, sources, languages and times."""
    found = events.get_event(search_store(), event_store(), event_id)
    if found is None:
        raise HTTPException(404, f"no event {event_id}")
    return found
