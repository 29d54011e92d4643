"""HTTP API for tracked actors, their alerts and alert rules (/rules); reads are open, changes
need the admin token; a RuleError is a 400 with its message."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query

from newswire.alerts.service import MAX_BACKFILL_DAYS, AlertsService, RuleNotFound, service
from newswire.deps import AdminOnly, alert_store
from newswire.settings import get_settings
from pipeline.alerts import ActorConfigError, parse_actors
from pipeline.rules import RuleError

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


# -- /rules ---------------------------------------------------------------------------------------
rules_router = APIRouter(prefix="/rules", tags=["rules"])


def _service() -> AlertsService:
    return service()


def _rule_call(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except RuleError as exc:
        raise HTTPException(400, str(exc)) from exc
    except RuleNotFound as exc:
        raise HTTPException(404, str(exc)) from exc


@rules_router.get("")
def list_rules() -> list[dict[str, Any]]:
    """Every rule, webhook secrets hidden, with each channel's delivery status."""
    return _service().list_rules()


@rules_router.post("", dependencies=AdminOnly, status_code=201)
def create_rule(rule: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Create a rule (pipeline.rules.AlertRule fields as JSON); 400 says which field is wrong."""
    return dict(_rule_call(lambda: _service().create_rule(rule)))


@rules_router.get("/deliveries")
def deliveries() -> dict[str, Any]:
    """Deliveries owed (new, retrying, held) and dead-lettered ones with their reason."""
    svc = _service()
    return {"owed": svc.outbox(), "dead_letters": svc.dead_letters()}


@rules_router.post("/deliveries/replay", dependencies=AdminOnly)
def replay(
    jobs: Annotated[list[str] | None, Body(embed=True, description="Job ids; none: all")] = None,
) -> dict[str, Any]:
    """Owe dead-lettered deliveries again, with the same delivery ids."""
    return {"replayed": _service().replay(jobs)}


@rules_router.get("/inbox")
def inbox(
    rule: Annotated[str | None, Query(description="Rule id")] = None,
    unread: bool = False,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Alerts newest first, one per rule and story, with their read mark."""
    return _service().inbox(rule_id=rule, unread=unread, size=size)


@rules_router.post("/inbox/{alert_id}/read", dependencies=AdminOnly, status_code=204)
def mark_read(alert_id: str, read: Annotated[bool, Body(embed=True)] = True) -> None:
    """Mark an alert read (or unread with {"read": false})."""
    _rule_call(lambda: _service().mark_read(alert_id, read=read))


@rules_router.get("/{rule_id}")
def get_rule(rule_id: str) -> dict[str, Any]:
    """One rule with its delivery status per channel and its owed deliveries."""
    return dict(_rule_call(lambda: _service().get_rule(rule_id)))


@rules_router.patch("/{rule_id}", dependencies=AdminOnly)
def update_rule(rule_id: str, changes: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Change the given fields; a webhook secret sent back as "(hidden)" keeps its value."""
    return dict(_rule_call(lambda: _service().update_rule(rule_id, changes)))


@rules_router.delete("/{rule_id}", dependencies=AdminOnly, status_code=204)
def delete_rule(rule_id: str) -> None:
    """Delete a rule (its alerts stay in the inbox)."""
    _rule_call(lambda: _service().delete_rule(rule_id))


@rules_router.get("/{rule_id}/test")
def backfill_rule(
    rule_id: str, days: Annotated[int, Query(ge=1, le=MAX_BACKFILL_DAYS)] = 7
) -> dict[str, Any]:
    """Backfill: the stories the rule matches in the last `days` days."""
    return dict(_rule_call(lambda: _service().test_rule(rule_id, days=days)))


@rules_router.post("/{rule_id}/snooze", dependencies=AdminOnly)
def snooze(
    rule_id: str,
    until: Annotated[
        datetime | None, Body(embed=True, description="ISO 8601 with zone; null lifts it")
    ] = None,
) -> dict[str, Any]:
    """Hold the rule's deliveries until a moment."""
    if until is not None and until.tzinfo is None:
        raise HTTPException(400, "until needs a zone offset, like 2026-03-01T08:00:00+01:00")
    return dict(_rule_call(lambda: _service().snooze(rule_id, until)))
