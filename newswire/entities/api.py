"""HTTP API for the entity registry: GET /entities, GET /entities/{id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from newswire.entities import service
from newswire.settings import get_settings

router = APIRouter(tags=["entities"])


@router.get("/entities")
def list_entities(
    q: Annotated[str | None, Query(description="Names containing this, any form")] = None,
    type: Annotated[str | None, Query(description="person | organisation | place")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[dict[str, Any]]:
    """The most named entities, with display names and their forms by language."""
    settings = get_settings()
    try:
        return service.list_entities(
            service.entity_store_for(settings),
            language=settings.translation_target,
            entity_type=type,
            contains=q,
            limit=limit,
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("/entities/{entity_id}")
def entity(entity_id: str) -> dict[str, Any]:
    """One entity and how it was formed: each form with its first document and evidence."""
    settings = get_settings()
    found = service.show_entity(
        service.entity_store_for(settings), entity_id, settings.translation_target
    )
    if found is None:
        raise HTTPException(404, f"no entity {entity_id}")
    return found
