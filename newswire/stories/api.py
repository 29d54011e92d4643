"""HTTP API for stories: a story's members and sources, what a member changed, an article's
versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from newswire.deps import search_store
from newswire.stories import service as stories

router = APIRouter(tags=["stories"])


@router.get("/stories/{story_id}")
def story(
    story_id: str,
    changes: Annotated[
        bool, Query(description="Add each member's sentence diff against the representative")
    ] = False,
) -> dict[str, Any]:
    """A story: its representative (first published), members, every source and language."""
    found = stories.get_story(search_store(), story_id, changes=changes)
    if found is None:
        raise HTTPException(404, f"no story {story_id}")
    return found


@router.get("/articles/{doc_id}/changes")
def article_changes(doc_id: str) -> dict[str, Any]:
    """Sentences the article added, removed and edited compared with its story's representative
    (null for an article in another language than the representative)."""
    found = stories.article_changes(search_store(), doc_id)
    if found is None:
        raise HTTPException(404, f"no article {doc_id}")
    return found


@router.get("/articles/{doc_id}/versions")
def article_versions(doc_id: str) -> dict[str, Any]:
    """The article's version number and its previous texts, oldest first."""
    found = stories.article_versions(search_store(), doc_id)
    if found is None:
        raise HTTPException(404, f"no article {doc_id}")
    return found
