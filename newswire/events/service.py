"""Event service: the event step of a batch (after story assignment), merges carried into the
index, and reading events back for the API, the CLI and the page.

Decisions are pure (pipeline/events.py); shared state is in Redis (newswire/events/store.py)
and, once indexed, in each article's `event_id`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from newswire.events.store import EventStore
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from newswire.stories.service import get_articles, update_article
from pipeline.events import (
    EventConfig,
    EventDecision,
    EventFingerprint,
    TermStats,
    article_terms,
    coverage_line,
    epoch,
    fingerprint,
)
from pipeline.lifecycle import PUBLIC

log = structlog.get_logger(__name__)

MAX_EVENT_ARTICLES = 500


def event_store_for(redis_store: RedisStore, settings: Settings) -> EventStore:
    """The event state on the same Redis and under the same prefix as the story state (as
    newswire.deps.event_store builds it for the CLI and the API)."""
    return EventStore(
        redis_store.client,
        redis_store.prefix,
        window_hours=settings.event_window_hours,
        merge_ttl_seconds=settings.dedup_ttl_days * 86_400,
    )


def event_config(settings: Settings) -> EventConfig:
    """Join and merge thresholds from the NEWSWIRE_EVENT_* settings."""
    return EventConfig(
        window_hours=settings.event_window_hours,
        same_language_threshold=settings.event_same_language_threshold,
        cross_language_threshold=settings.event_cross_language_threshold,
        merge_margin=settings.event_merge_margin,
    )


def fingerprint_document(
    document: dict[str, Any],
    config: EventConfig,
    stats: TermStats | None = None,
    counts: Mapping[str, int] | None = None,
) -> EventFingerprint:
    """The event fingerprint of an indexed (or about to be indexed) document."""
    return fingerprint(
        doc_id=document["doc_id"],
        story_id=document.get("story_id") or document["doc_id"],
        title=document.get("title") or "",
        summary=document.get("summary") or "",
        body=document.get("body") or "",
        language=document.get("language") or "und",
        published_at=document.get("published_at") or "",
        actors=document.get("actors") or (),
        names=[*(document.get("persons") or ()), *(document.get("places") or ())],
        stats=stats,
        config=config,
        counts=counts,
    )


def assign_events(
    event_store: EventStore,
    documents: Sequence[dict[str, Any]],
    config: EventConfig,
    *,
    search_store: SearchStore | None = None,
) -> list[EventDecision]:
    """Set `event_id` on each new document (after its story is known), in batch order.

    When an article shows two events are one, the merged event's indexed articles are moved to
    the surviving id (with `search_store`), and so are the batch's own documents.
    """
    counts = [
        article_terms(
            document.get("title") or "",
            document.get("summary") or "",
            document.get("body") or "",
            document.get("language") or "und",
            config,
        )
        for document in documents
    ]
    stats = event_store.term_stats_many(
        [
            (
                document.get("language") or "und",
                sorted(terms),
                epoch(document.get("published_at") or ""),
            )
            for document, terms in zip(documents, counts, strict=True)
        ]
    )
    fingerprints = [
        fingerprint_document(document, config, stat, terms)
        for document, stat, terms in zip(documents, stats, counts, strict=True)
    ]
    decisions = event_store.assign_many(fingerprints, config)
    for document, decision in zip(documents, decisions, strict=True):
        document["event_id"] = decision.event_id
    # A merge decided for a later article also moves the batch's earlier ones (and, with
    # `search_store`, the merged events' indexed articles).
    for decision in decisions:
        if decision.merged:
            _carry_merge(event_store, search_store, documents, decision)
    return decisions


def _carry_merge(
    event_store: EventStore,
    search_store: SearchStore | None,
    documents: Sequence[dict[str, Any]],
    decision: EventDecision,
) -> None:
    losers = set(decision.merged)
    log.info("events merged", into=decision.event_id, merged=sorted(losers))
    for document in documents:
        if document.get("event_id") in losers:
            document["event_id"] = decision.event_id
    if search_store is None:
        return
    members: list[str] = []
    for loser in sorted(losers):
        members += event_store.member_events(loser)

    def move(source: dict[str, Any]) -> dict[str, Any] | None:
        if source.get("event_id") == decision.event_id:
            return None
        return {**source, "event_id": decision.event_id}

    for doc_id in event_store.event_docs(members):
        update_article(search_store, doc_id, move)


# -- reading events ----------------------------------------------------------------------------
def get_event(
    search_store: SearchStore,
    event_store: EventStore,
    event_id: str,
    *,
    include_hidden: bool = False,
) -> dict[str, Any] | None:
    """An event: its stories (each with its articles, sources and times), outlets, languages
    and the events merged into it; None if it has no article. An article id or a merged
    event's id finds the event it belongs to now."""
    resolved = event_store.resolve(event_id)
    members = event_store.member_events(resolved)
    doc_ids = event_store.event_docs(members)
    if not doc_ids:
        record = event_store.record(event_id)
        if record is None:
            return None
        resolved = record.event_id
        members = event_store.member_events(resolved)
        doc_ids = event_store.event_docs(members)
    found = get_articles(search_store, doc_ids[:MAX_EVENT_ARTICLES])
    articles = sorted(
        (a for a in found.values() if include_hidden or a.get("visibility", PUBLIC) == PUBLIC),
        key=lambda a: (a.get("published_at") or "", a["doc_id"]),
    )
    if not articles:
        return None
    stories: dict[str, list[dict[str, Any]]] = {}
    for article in articles:
        stories.setdefault(article.get("story_id") or article["doc_id"], []).append(article)
    outlets = sorted({s["source"] for a in articles for s in _sources(a)})
    languages = sorted({a.get("language") or "und" for a in articles})
    info = event_store.event_info(resolved)
    return {
        "event_id": resolved,
        "merged": [m for m in members if m != resolved],
        "title": articles[0].get("title") or "",
        "first_published": articles[0].get("published_at"),
        "last_published": articles[-1].get("published_at"),
        "articles": len(articles),
        "outlets": outlets,
        "languages": languages,
        "coverage": coverage_line(len(stories), len(outlets), len(languages)),
        "created": _iso(info.get("created")),
        "stories": [
            {
                "story_id": story_id,
                "title": members_[0].get("title") or "",
                "articles": [
                    {
                        "doc_id": a["doc_id"],
                        "title": a.get("title") or "",
                        "source": a.get("source") or "",
                        "sources": [s["source"] for s in _sources(a)],
                        "language": a.get("language") or "und",
                        "published_at": a.get("published_at"),
                        "url": a.get("url"),
                    }
                    for a in members_
                ],
            }
            for story_id, members_ in stories.items()
        ],
    }


def recent_events(
    search_store: SearchStore, event_store: EventStore, limit: int = 20
) -> list[dict[str, Any]]:
    """The events with the latest articles: id, title, coverage line, articles, last article."""
    rows = []
    for event_id, last in event_store.recent(limit):
        event = get_event(search_store, event_store, event_id)
        if event is None:
            continue
        rows.append(
            {
                "event_id": event_id,
                "title": event["title"],
                "coverage": event["coverage"],
                "articles": event["articles"],
                "languages": event["languages"],
                "last": datetime.fromtimestamp(last, UTC).isoformat(),
            }
        )
    return rows


def _sources(article: dict[str, Any]) -> list[dict[str, Any]]:
    return list(article.get("sources") or [{"source": article.get("source") or ""}])


def _iso(epoch: str | None) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(float(epoch), UTC).isoformat()
