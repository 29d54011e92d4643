"""Search as the newsroom runs it: a request built from facet-named parameters, the
Elasticsearch body from pipeline/search.py, and each hit joined with its story's summary."""

from __future__ import annotations

from typing import Any

from newswire.entities import service as entities
from newswire.search.store import SearchStore
from pipeline.search import (
    SearchRequest,
    SearchResult,
    attach_event_summaries,
    attach_story_summaries,
    build_search_body,
    event_summary_body,
    parse_search_response,
    story_summary_body,
)


def run_search(store: SearchStore, body: dict[str, Any]) -> SearchResult:
    """Run a search body; each hit also says how many articles and sources its story has."""
    result = parse_search_response(store.search(body))
    # Entity facets count registry ids; the newsroom reads their display names.
    registry = entities.entity_store_for(store.settings)
    result = entities.label_facets(registry, result, store.settings.translation_target)
    story_ids = sorted({hit.story_id for hit in result.hits})
    if not story_ids:
        return result
    result = attach_story_summaries(result, store.search(story_summary_body(story_ids)))
    # group=event: each hit also says how many stories, outlets and languages its event has.
    event_ids = sorted({hit.event_id for hit in result.hits if hit.event_id})
    if body.get("collapse", {}).get("field") == "event_id" and event_ids:
        result = attach_event_summaries(result, store.search(event_summary_body(event_ids)))
    return result


def search(store: SearchStore, request: SearchRequest) -> SearchResult:
    """Validate `request` (InvalidSearch with a user-facing message) and run it."""
    return run_search(store, build_search_body(request))
