"""HTTP API for search: full text with facets, highlights and story collapse; one article."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from newswire.deps import require_admin, search_store
from newswire.search.service import search as run
from pipeline.search import SearchRequest, facet_filters

router = APIRouter(tags=["search"])
# Optional here: only a search that includes hidden articles needs the admin token.
_bearer = HTTPBearer(auto_error=False)


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
    event_id: str = Field("", description="The hit's event (stories of one happening)")
    event_stories: int = Field(0, description="Stories in the hit's event (group=event)")
    event_sources: list[str] = Field(default_factory=list)
    event_languages: list[str] = Field(default_factory=list)
    event_coverage: str = Field("", description="'Full coverage: 9 stories from 7 outlets …'")


class SearchResponse(BaseModel):
    total: int = Field(description="Matching stories (one per story when collapsed)")
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]]
    histogram: list[tuple[str, int]] = Field(description="(day, count) of matching articles")
    facet_labels: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Readable label of each id of a labelled facet (subject)"
    )


@router.get("/search", response_model=SearchResponse)
def search(
    q: Annotated[str, Query(max_length=1000, description='Words, "phrases", -not, a | b')] = "",
    source: Annotated[list[str] | None, Query()] = None,
    language: Annotated[list[str] | None, Query()] = None,
    person: Annotated[list[str] | None, Query()] = None,
    organisation: Annotated[list[str] | None, Query()] = None,
    place: Annotated[list[str] | None, Query()] = None,
    category: Annotated[list[str] | None, Query()] = None,
    actor: Annotated[list[str] | None, Query(description="Tracked actor id")] = None,
    urgency: Annotated[list[str] | None, Query(description="Agency urgency, 1-9")] = None,
    subject: Annotated[
        list[str] | None, Query(description="Subject id, e.g. medtop:20000151")
    ] = None,
    corrections: Annotated[
        bool, Query(description="Only articles with a corrected version")
    ] = False,
    include_hidden: Annotated[
        bool, Query(description="Embargoed and withdrawn articles too (admin token needed)")
    ] = False,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    date_from: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 10,
    sort: Annotated[str, Query(pattern="^(relevance|newest)$")] = "relevance",
    collapse: Annotated[bool, Query(description="One hit per story")] = True,
    group: Annotated[
        str, Query(pattern="^(story|event)$", description="One hit per story, or per event")
    ] = "story",
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
        urgency=urgency,
        subject=subject,
    )
    if include_hidden:
        require_admin(credentials)  # embargoed texts must not leak to readers
    request = SearchRequest(
        query=q,
        filters=filters,
        date_from=date_from,
        date_to=date_to,
        page=page,
        size=size,
        sort=sort,
        collapse_stories=collapse,
        corrections_only=corrections,
        include_hidden=include_hidden,
        group=group,
    )
    return asdict(run(search_store(), request))


@router.get("/articles/{doc_id}")
def article(doc_id: str) -> dict[str, Any]:
    """One article; `body_html` is sanitised feed HTML, safe to display.

    A withdrawn article stays readable (flagged by `visibility` and `withdrawal`), for audit;
    an embargoed one is not found until its embargo passes.
    """
    found = search_store().get_article(doc_id)
    if found is None or found.get("visibility") == "embargoed":
        raise HTTPException(404, f"no article {doc_id}")
    return found
