"""Search stage: a validated search request -> Elasticsearch body, and response -> results."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from pipeline.events import coverage_line

FACETS = {
    "source": "source",
    "language": "language",
    # Entity registry ids (newswire/entities/): one bucket per entity in every script.
    "person": "person_ids",
    "organisation": "organisation_ids",
    "place": "place_ids",
    "category": "categories",
    "actor": "actors",
    # Agency metadata (pipeline/agency.py): IPTC urgency 1-9, subject ids ("medtop:20000151").
    "urgency": "urgency",
    "subject": "subjects",
}
# Facets counted by id whose buckets also carry a readable label (SearchResult.facet_labels):
# facet name -> (id field, label field in the same order).
LABELLED_FACETS = {"subject": ("subjects", "subject_labels")}
# Entity facets filter by id or, as before the registry, by the name as written.
NAME_FIELDS = {"person": "persons", "organisation": "organisations", "place": "places"}
# Whatever the request, these documents stay out of hits, facets and story summaries unless
# `include_hidden` is set (pipeline/lifecycle.py: killed, withheld or still embargoed).
HIDDEN_VISIBILITIES = ("embargoed", "withdrawn")
# The neutral fields find every article; content_* add stemmed matches in each language, so a
# query needs no language of its own ("negotiation" finds "negotiations").
TEXT_FIELDS = ("title^3", "summary^2", "body", "content_*", "actor_names")
MAX_PAGE_SIZE = 100
# Elasticsearch refuses deep pagination past index.max_result_window (10,000).
MAX_WINDOW = 10_000
FACET_SIZE = 15
# "Show more" on a facet asks for this many values at most.
MAX_FACET_SIZE = 200
# A live "N new stories" count needs no exact figure beyond this.
NEW_SINCE_LIMIT = 1000


class InvalidSearch(ValueError):
    """The request cannot be searched; the message is safe to show the user."""


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What a newsroom user asked for: text, facet filters, a date range and a page."""

    query: str = ""
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    date_from: str | None = None
    date_to: str | None = None
    page: int = 1
    size: int = 10
    sort: str = "relevance"
    collapse_stories: bool = True
    # Keyset paging to any depth: sort values of the last hit seen (SearchResult.next_after).
    # Elasticsearch refuses collapse together with search_after, so it pages articles.
    search_after: tuple[str | int | float, ...] | None = None
    cursor: bool = False
    # Facets whose values the user expanded ("show more"), with how many to count.
    facet_sizes: dict[str, int] = field(default_factory=dict)
    # Only articles of which some version was a correction.
    corrections_only: bool = False
    # Embargoed and withdrawn articles too (admins only: the interfaces check that).
    include_hidden: bool = False
    # What one collapsed hit stands for: a story (its copies) or an event (every outlet's
    # stories of one happening, pipeline/events.py).
    group: str = "story"


GROUPS = {"story": "story_id", "event": "event_id"}


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result, with highlighted fragments (HTML-escaped, matches in <mark>)."""

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
    # The whole story, whatever matched: filled by attach_story_summaries.
    story_articles: int = 1
    story_sources: list[str] = field(default_factory=list)
    story_languages: list[str] = field(default_factory=list)
    summary: str = ""
    # The hit's event, whatever matched: filled by attach_event_summaries (group=event).
    event_id: str = ""
    event_stories: int = 0
    event_sources: list[str] = field(default_factory=list)
    event_languages: list[str] = field(default_factory=list)
    event_coverage: str = ""
    # Sort values of the hit, present when paging by cursor.
    sort: tuple[str | int | float, ...] | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of hits, the total, and facet counts over everything that matched."""

    total: int
    hits: list[SearchHit]
    facets: dict[str, list[tuple[str, int]]]
    histogram: list[tuple[str, int]]
    # search_after for the page after this one (None without hits or without cursor paging);
    # a page shorter than its size is the last.
    next_after: tuple[str | int | float, ...] | None = None
    # Newest indexed_at among all matches: the watermark for "N new stories since".
    latest_indexed_at: str | None = None
    # Readable labels of labelled facets' ids: {"subject": {"medtop:20000151": "earthquake"}}.
    facet_labels: dict[str, dict[str, str]] = field(default_factory=dict)


def facet_filters(**values: Sequence[str] | None) -> dict[str, tuple[str, ...]]:
    """Filters from facet-named arguments (CLI options, query parameters); empty ones dropped."""
    return {name: tuple(chosen) for name, chosen in values.items() if chosen}


def _parse_day(value: str, name: str) -> date:
    try:
        if "T" in value:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidSearch(f"{name} must be a date like 2025-03-12, not {value!r}") from exc


def validate(request: SearchRequest) -> None:
    """Raise InvalidSearch with a user-facing message when the request cannot run."""
    unknown = set(request.filters) - set(FACETS)
    if unknown:
        raise InvalidSearch(f"unknown filter(s) {sorted(unknown)}; known: {sorted(FACETS)}")
    if not 1 <= request.size <= MAX_PAGE_SIZE:
        raise InvalidSearch(f"size must be between 1 and {MAX_PAGE_SIZE}")
    if request.page < 1 or request.page * request.size > MAX_WINDOW:
        raise InvalidSearch(f"page must be >= 1 and page*size <= {MAX_WINDOW}")
    if request.sort not in {"relevance", "newest"}:
        raise InvalidSearch("sort must be 'relevance' or 'newest'")
    if len(request.query) > 1000:
        raise InvalidSearch("query is longer than 1000 characters")
    start = _parse_day(request.date_from, "from") if request.date_from else None
    end = _parse_day(request.date_to, "to") if request.date_to else None
    if start and end and start > end:
        raise InvalidSearch("'from' is after 'to'")
    if (request.cursor or request.search_after is not None) and request.collapse_stories:
        raise InvalidSearch(
            "paging by cursor needs collapse=false: Elasticsearch cannot collapse with search_after"
        )
    if request.group not in GROUPS:
        raise InvalidSearch(f"group must be one of {sorted(GROUPS)}")
    if request.group != "story" and not request.collapse_stories:
        raise InvalidSearch("group=event needs collapse: it is one hit per event")
    if request.search_after is not None and request.page != 1:
        raise InvalidSearch("page and a cursor cannot be combined")
    unknown_sizes = set(request.facet_sizes) - set(FACETS)
    if unknown_sizes:
        raise InvalidSearch(f"unknown facet(s) {sorted(unknown_sizes)}; known: {sorted(FACETS)}")
    if any(not 1 <= size <= MAX_FACET_SIZE for size in request.facet_sizes.values()):
        raise InvalidSearch(f"a facet counts between 1 and {MAX_FACET_SIZE} values")


def _query(request: SearchRequest) -> dict[str, Any]:
    must: list[dict[str, Any]] = []
    if request.query.strip():
        # simple_query_string accepts "phrases", -exclusions and OR, and never fails on syntax.
        must.append(
            {
                "simple_query_string": {
                    "query": request.query,
                    "fields": list(TEXT_FIELDS),
                    "default_operator": "and",
                }
            }
        )
    filters: list[dict[str, Any]] = [
        {"terms": {FACETS[name]: list(values)}}
        if name not in NAME_FIELDS
        else {
            "bool": {
                "should": [
                    {"terms": {FACETS[name]: list(values)}},
                    {"terms": {NAME_FIELDS[name]: list(values)}},
                ],
                "minimum_should_match": 1,
            }
        }
        for name, values in request.filters.items()
        if values
    ]
    if request.date_from or request.date_to:
        bounds = {}
        if request.date_from:
            bounds["gte"] = request.date_from
        if request.date_to:
            bounds["lte"] = request.date_to
        filters.append({"range": {"published_at": bounds}})
    if request.corrections_only:
        filters.append({"term": {"corrected": True}})
    boolean: dict[str, Any] = {"must": must or [{"match_all": {}}], "filter": filters}
    if not request.include_hidden:
        boolean["must_not"] = [visibility_exclusion()]
    return {"bool": boolean}


def visibility_exclusion() -> dict[str, Any]:
    """The clause that keeps embargoed and withdrawn articles out (a must_not: documents
    indexed before visibility existed have none and stay visible)."""
    return {"terms": {"visibility": list(HIDDEN_VISIBILITIES)}}


def _cursor_sort(request: SearchRequest) -> list[Any]:
    # doc_id breaks ties, so a cursor never skips or repeats a hit.
    newest = request.sort == "newest" or not request.query.strip()
    head: list[Any] = [] if newest else ["_score"]
    return [*head, {"published_at": "desc"}, {"doc_id": "asc"}]


def build_search_body(request: SearchRequest) -> dict[str, Any]:
    """The Elasticsearch request body for a validated SearchRequest."""
    validate(request)
    query = _query(request)
    must = query["bool"]["must"] if request.query.strip() else []
    body: dict[str, Any] = {
        "query": query,
        "from": (request.page - 1) * request.size,
        "size": request.size,
        "track_total_hits": True,
        "_source": [
            "doc_id",
            "story_id",
            "event_id",
            "title",
            "source",
            "url",
            "published_at",
            "language",
            "persons",
            "organisations",
            "places",
            "summary",
        ],
        "highlight": {
            "encoder": "html",
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "fields": {
                "title": {"number_of_fragments": 0},
                "body": {"fragment_size": 160, "number_of_fragments": 3},
            },
        },
        "aggs": {
            **{
                name: {
                    "terms": {
                        "field": field_name,
                        "size": request.facet_sizes.get(name, FACET_SIZE),
                    }
                }
                for name, field_name in FACETS.items()
            },
            "latest_indexed": {"max": {"field": "indexed_at"}},
            "day": {
                "date_histogram": {
                    "field": "published_at",
                    "calendar_interval": "day",
                    "min_doc_count": 1,
                }
            },
        },
    }
    if request.sort == "newest" or not must:
        body["sort"] = [{"published_at": "desc"}, "_score"]
    if request.cursor or request.search_after is not None:
        body["sort"] = _cursor_sort(request)
        body.pop("from")
        if request.search_after is not None:
            body["search_after"] = list(request.search_after)
    if request.collapse_stories:
        group_field = GROUPS[request.group]
        body["collapse"] = {"field": group_field}
        body["aggs"]["stories"] = {"cardinality": {"field": group_field}}
    for name, (id_field, label_field) in LABELLED_FACETS.items():
        # One article per bucket says how its id reads; the ids alone are counted and filtered.
        body["aggs"][name]["aggs"] = {
            "label": {"top_hits": {"size": 1, "_source": [id_field, label_field]}}
        }
    return body


def parse_search_response(response: dict[str, Any]) -> SearchResult:
    """Turn an Elasticsearch response into a SearchResult."""
    hits = []
    for hit in response["hits"]["hits"]:
        source = hit.get("_source", {})
        hits.append(
            SearchHit(
                doc_id=hit["_id"],
                story_id=source.get("story_id", hit["_id"]),
                title=source.get("title", ""),
                source=source.get("source", ""),
                url=source.get("url"),
                published_at=source.get("published_at", ""),
                language=source.get("language", ""),
                score=hit.get("_score"),
                highlights=hit.get("highlight", {}),
                persons=source.get("persons", []),
                organisations=source.get("organisations", []),
                places=source.get("places", []),
                summary=source.get("summary") or "",
                event_id=source.get("event_id") or "",
                sort=tuple(hit["sort"]) if "sort" in hit else None,
            )
        )
    aggs = response.get("aggregations", {})
    facets = {
        name: [(b["key"], b["doc_count"]) for b in aggs.get(name, {}).get("buckets", [])]
        for name in FACETS
    }
    facet_labels = {
        name: _bucket_labels(aggs.get(name, {}), *fields)
        for name, fields in LABELLED_FACETS.items()
    }
    histogram = [
        (b["key_as_string"][:10], b["doc_count"]) for b in aggs.get("day", {}).get("buckets", [])
    ]
    total = response["hits"]["total"]["value"]
    if "stories" in aggs:
        total = min(total, int(aggs["stories"]["value"]))
    next_after = hits[-1].sort if hits else None
    latest = aggs.get("latest_indexed", {}).get("value_as_string")
    return SearchResult(
        total=total,
        hits=hits,
        facets=facets,
        histogram=histogram,
        next_after=next_after,
        latest_indexed_at=latest,
        facet_labels=facet_labels,
    )


def _bucket_labels(aggregation: dict[str, Any], id_field: str, label_field: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for bucket in aggregation.get("buckets", []):
        hits = bucket.get("label", {}).get("hits", {}).get("hits", [])
        source = hits[0].get("_source", {}) if hits else {}
        ids, names = source.get(id_field) or [], source.get(label_field) or []
        key = str(bucket["key"])
        position = ids.index(key) if key in ids else -1
        labels[key] = names[position] if 0 <= position < len(names) else key
    return labels


def encode_cursor(values: Sequence[str | int | float]) -> str:
    """A URL-safe token for a page's search_after values."""
    raw = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[str | int | float, ...]:
    """The search_after values of a token from encode_cursor; InvalidSearch if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSearch("the page cursor is damaged; start the search again") from exc
    if (
        not isinstance(values, list)
        or not 1 <= len(values) <= 4
        or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
    ):
        raise InvalidSearch("the page cursor is damaged; start the search again")
    return tuple(values)


def new_since_body(request: SearchRequest, since: str) -> dict[str, Any]:
    """A cheap count of the stories matching `request` indexed after `since` (no facets,
    highlights or hits), for a page that announces new stories while it is open."""
    validate(request)
    _parse_day(since, "since")
    query = _query(request)
    query["bool"]["filter"].append({"range": {"indexed_at": {"gt": since}}})
    return {
        "size": 0,
        "query": query,
        "track_total_hits": NEW_SINCE_LIMIT,
        "aggs": {
            "stories": {"cardinality": {"field": "story_id"}},
            "latest_indexed": {"max": {"field": "indexed_at"}},
        },
    }


@dataclass(frozen=True, slots=True)
class NewSince:
    """How many matching stories and articles arrived after a watermark, and the new one."""

    stories: int
    articles: int
    latest_indexed_at: str | None


def parse_new_since(response: dict[str, Any]) -> NewSince:
    """Read the answer to new_since_body."""
    aggs = response.get("aggregations", {})
    articles = int(response["hits"]["total"]["value"])
    stories = int(aggs.get("stories", {}).get("value", 0))
    return NewSince(
        stories=min(stories, articles),
        articles=articles,
        latest_indexed_at=aggs.get("latest_indexed", {}).get("value_as_string"),
    )


STORY_SOURCES = 50


def story_summary_body(story_ids: list[str], *, public_only: bool = False) -> dict[str, Any]:
    """Request for the size, sources and languages of each story on a page of hits
    (`public_only`: without embargoed and withdrawn members)."""
    query: dict[str, Any] = {"terms": {"story_id": story_ids}}
    if public_only:
        query = {"bool": {"filter": [query], "must_not": [visibility_exclusion()]}}
    return {
        "size": 0,
        "query": query,
        "aggs": {
            "stories": {
                "terms": {"field": "story_id", "size": max(1, len(story_ids))},
                "aggs": {
                    # Every feed that carried a member, exact copies included.
                    "sources": {"terms": {"field": "sources.source", "size": STORY_SOURCES}},
                    "languages": {"terms": {"field": "language", "size": 20}},
                },
            }
        },
    }


def attach_story_summaries(result: SearchResult, response: dict[str, Any]) -> SearchResult:
    """The result with each hit's story size, sources and languages from story_summary_body."""
    aggregation = response.get("aggregations", {}).get("stories", {})
    buckets = {b["key"]: b for b in aggregation.get("buckets", [])}
    hits = []
    for hit in result.hits:
        bucket = buckets.get(hit.story_id)
        if bucket is None:
            hits.append(hit)
            continue
        hits.append(
            replace(
                hit,
                story_articles=int(bucket["doc_count"]),
                story_sources=sorted(b["key"] for b in bucket["sources"]["buckets"]),
                story_languages=sorted(b["key"] for b in bucket["languages"]["buckets"]),
            )
        )
    return replace(result, hits=hits)


def event_summary_body(event_ids: list[str], *, public_only: bool = False) -> dict[str, Any]:
    """Request for the stories, sources and languages of each event on a page of hits."""
    query: dict[str, Any] = {"terms": {"event_id": event_ids}}
    if public_only:
        query = {"bool": {"filter": [query], "must_not": [visibility_exclusion()]}}
    return {
        "size": 0,
        "query": query,
        "aggs": {
            "events": {
                "terms": {"field": "event_id", "size": max(1, len(event_ids))},
                "aggs": {
                    "stories": {"cardinality": {"field": "story_id"}},
                    "sources": {"terms": {"field": "sources.source", "size": STORY_SOURCES}},
                    "languages": {"terms": {"field": "language", "size": 20}},
                },
            }
        },
    }


def attach_event_summaries(result: SearchResult, response: dict[str, Any]) -> SearchResult:
    """The result with each hit's event coverage ("Full coverage: 9 stories from 7 outlets in
    3 languages") from event_summary_body."""
    aggregation = response.get("aggregations", {}).get("events", {})
    buckets = {b["key"]: b for b in aggregation.get("buckets", [])}
    hits = []
    for hit in result.hits:
        bucket = buckets.get(hit.event_id)
        if bucket is None:
            hits.append(hit)
            continue
        stories = int(bucket["stories"]["value"])
        sources = sorted(b["key"] for b in bucket["sources"]["buckets"])
        languages = sorted(b["key"] for b in bucket["languages"]["buckets"])
        hits.append(
            replace(
                hit,
                event_stories=stories,
                event_sources=sources,
                event_languages=languages,
                event_coverage=coverage_line(stories, len(sources), len(languages)),
            )
        )
    return replace(result, hits=hits)
