"""HTTP API for tracked actors and their alerts; reloading the actors needs the admin token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from newswire.deps import AdminOnly, alert_store
from newswire.settings import get_settings
from pipeline.alerts import ActorConfigError, parse_actors

router = APIRouter(tags=["alerts"])


@router.get("/actors")
def actors() -> list[dict[str, Any]]:
    """Tracked actors with their aliases."""
    return [{k: v for k, v in a.items() if k != "query"} for a in alert_store().actors()]


@router.get("/alerts")
def alerts(
    actor: Annotated[str | None, Query(description="Actor id")] = None,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Articles that mention a tracked actor, newest first."""
    return alert_store().alerts(actor_id=actor, size=size)


@router.post("/admin/actors/sync", dependencies=AdminOnly)
def admin_sync_actors() -> dict[str, int]:
    """Reload config/actors.yaml into Elasticsearch."""
    settings = get_settings()
    try:
        actors_list = parse_actors(settings.actors_file.read_text(encoding="utf-8"))
    except ActorConfigError as exc:
        raise HTTPException(400, str(exc)) from exc
    return {"actors": alert_store().sync_actors(actors_list)}
