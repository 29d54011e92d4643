"""Alert state in Elasticsearch: tracked actors (with their queries and gazetteer) and the alert
records, one per (rule, story), that the inbox lists. Uses the search store's client and index
names; index setup stays there. Rules and deliveries live in Redis (rule_store.py)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from elasticsearch import Elasticsearch, NotFoundError, helpers

from newswire.backends import found_sources
from newswire.search.store import SearchStore, load_mapping_file
from newswire.settings import Settings
from pipeline.alerts import Actor, actor_query
from pipeline.gazetteer import Gazetteer, build_gazetteer
from pipeline.rules import AlertRule, AlertState
from pipeline.withdrawal import alert_revision

ACTOR_CACHE_SECONDS = 30.0
WRITE_ATTEMPTS = 8
# Tracked-actor alerts are rules built from the actors index; the colon keeps their ids apart
# from stored rules, whose ids are slugs.
ACTOR_RULE_PREFIX = "actor:"
# One alert store per search store, so the actor cache outlives a single batch.
_BY_SEARCH_STORE: WeakKeyDictionary[SearchStore, AlertStore] = WeakKeyDictionary()


class AlertStore:
    """Tracked actors and their alerts, in the `<prefix>-actors` and `<prefix>-alerts` indices."""

    def __init__(self, es: Elasticsearch, settings: Settings) -> None:
        self.es = es
        self.settings = settings
        self._actors_cache: tuple[float, list[dict[str, Any]]] | None = None
        self._gazetteer: tuple[list[dict[str, Any]], Gazetteer] | None = None
        self._mapping_checked = False

    @classmethod
    def of(cls, store: SearchStore) -> AlertStore:
        """The alert store sharing `store`'s client (one per search store, cached)."""
        found = _BY_SEARCH_STORE.get(store)
        if found is None:
            found = _BY_SEARCH_STORE[store] = cls(store.es, store.settings)
        return found

    def sync_actors(self, actors: Iterable[Actor]) -> int:
        """Store each actor with its query; actors no longer listed are removed."""
        now = datetime.now(UTC).isoformat()
        actors = list(actors)
        actions: list[dict[str, Any]] = [
            {
                "_op_type": "index",
                "_index": self.settings.actors_index,
                "_id": a.id,
                "_source": {
                    "id": a.id,
                    "name": a.name,
                    "type": a.type,
                    "aliases": list(a.aliases),
                    "query": actor_query(a),
                    "updated_at": now,
                },
            }
            for a in actors
        ]
        listed = {a.id for a in actors}
        # delete_by_query lives in the reindex module, absent from the minimal distribution.
        stale = [a["id"] for a in self.actors() if a["id"] not in listed]
        actions += [
            {"_op_type": "delete", "_index": self.settings.actors_index, "_id": actor_id}
            for actor_id in stale
        ]
        helpers.bulk(self.es, actions, refresh="wait_for")
        return len(actors)

    def actors(self, max_age: float = 0.0) -> list[dict[str, Any]]:
        """Tracked actors; with `max_age`, a copy up to that many seconds old may be returned."""
        now = time.monotonic()
        if max_age and self._actors_cache and now - self._actors_cache[0] < max_age:
            return self._actors_cache[1]
        response = self.es.search(
            index=self.settings.actors_index, size=10_000, sort=[{"id": "asc"}]
        )
        actors = [hit["_source"] for hit in response["hits"]["hits"]]
        self._actors_cache = (now, actors)
        return actors

    def gazetteer(self) -> Gazetteer:
        """The tracked actors as a gazetteer, rebuilt only when the stored actors change."""
        stored = self.actors(max_age=ACTOR_CACHE_SECONDS)
        if self._gazetteer is None or self._gazetteer[0] is not stored:
            actors = [
                Actor(id=a["id"], name=a["name"], type=a["type"], aliases=tuple(a["aliases"]))
                for a in stored
            ]
            self._gazetteer = (stored, build_gazetteer(actors))
        return self._gazetteer[1]

    # -- alert records: one per (rule, story) ---------------------------------------------
    def ensure_mapping(self) -> None:
        """Add this code's fields to an alerts index built from an older mapping (additive)."""
        if self._mapping_checked:
            return
        mapping = load_mapping_file(self.settings.mappings_dir / "alerts.json")["mappings"]
        self.es.indices.put_mapping(
            index=self.settings.alerts_index, properties=mapping["properties"]
        )
        self._mapping_checked = True

    def write_alerts(
        self,
        changes: Sequence[tuple[AlertState, AlertRule]],
        documents: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Write each changed alert record, merging the articles already listed in it.

        Two workers can change one alert within milliseconds (copies of a story in concurrent
        batches), so each write is guarded by the seq_no it read, and a record already at a
        later revision is left alone.
        """
        pending = {state.alert_id: (state, rule) for state, rule in changes}
        if not pending:
            return
        self.ensure_mapping()
        for _ in range(WRITE_ATTEMPTS):
            found = self.es.mget(index=self.settings.alerts_index, ids=list(pending))["docs"]
            found_sources(found)  # unreadable while shards recover: retried, never overwritten
            actions: list[dict[str, Any]] = []
            for hit in found:
                state, rule = pending[hit["_id"]]
                existing = hit.get("_source") if hit.get("found") else None
                record = alert_record(state, rule, documents, existing)
                if record is None:
                    continue
                action: dict[str, Any] = {
                    "_index": self.settings.alerts_index,
                    "_id": state.alert_id,
                    "_source": record,
                }
                if existing is None:
                    action["_op_type"] = "create"
                else:
                    action.update(
                        _op_type="index",
                        if_seq_no=hit["_seq_no"],
                        if_primary_term=hit["_primary_term"],
                    )
                actions.append(action)
            conflicts: dict[str, tuple[AlertState, AlertRule]] = {}
            for ok, item in helpers.streaming_bulk(self.es, actions, raise_on_error=False):
                info = next(iter(item.values()))
                if ok:
                    continue
                if info.get("status") != 409:
                    raise RuntimeError(f"alert write failed: {info.get('error')}")
                conflicts[info["_id"]] = pending[info["_id"]]
            if not conflicts:
                return
            pending = conflicts
        raise RuntimeError(f"alerts {sorted(pending)} kept changing under {WRITE_ATTEMPTS} writes")

    def alert_records(self, alert_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Alert records by id (real-time: sees writes not yet refreshed)."""
        if not alert_ids:
            return {}
        found = self.es.mget(index=self.settings.alerts_index, ids=list(alert_ids))["docs"]
        return found_sources(found)

    def inbox(
        self,
        *,
        rule_id: str | None = None,
        actor_id: str | None = None,
        unread: bool = False,
        size: int = 50,
        user_rules_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Alert records newest first, filtered by rule, actor and read state."""
        filters: list[dict[str, Any]] = []
        if rule_id:
            filters.append({"term": {"rule_id": rule_id}})
        if actor_id:
            filters.append({"term": {"actor_id": actor_id}})
        must_not: list[dict[str, Any]] = []
        if unread:
            must_not.append({"exists": {"field": "read_at"}})
        if user_rules_only:
            must_not.append({"exists": {"field": "actor_id"}})
        response = self.es.search(
            index=self.settings.alerts_index,
            query={"bool": {"filter": filters, "must_not": must_not}},
            size=size,
            sort=[{"matched_at": "desc"}, {"published_at": "desc"}],
        )
        return [{"id": h["_id"], **h["_source"]} for h in response["hits"]["hits"]]

    def mark_read(self, alert_id: str, *, read: bool, now: datetime) -> bool:
        """Set or clear an alert's read mark; False when there is no such alert."""
        try:
            # A partial update merges one field, so it never clobbers the articles list.
            self.es.update(
                index=self.settings.alerts_index,
                id=alert_id,
                doc={"read_at": now.isoformat() if read else None},
                retry_on_conflict=5,
                refresh="wait_for",
            )
        except NotFoundError:
            return False
        return True

    def alerts(self, actor_id: str | None = None, size: int = 50) -> list[dict[str, Any]]:
        """Alert records newest first (tracked-actor and rule alerts), optionally of one actor."""
        return self.inbox(actor_id=actor_id, size=size)


def _article(document: Mapping[str, Any], version: int) -> dict[str, Any]:
    return {
        "doc_id": document["doc_id"],
        "version": version,
        "title": document.get("title") or "",
        "source": document.get("source") or "",
        "language": document.get("language") or "",
        "url": document.get("url"),
        "published_at": document.get("published_at"),
    }


def alert_record(
    state: AlertState,
    rule: AlertRule,
    documents: Mapping[str, Mapping[str, Any]],
    existing: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The alert's record: its state, the articles it lists (known ones kept), the first one's
    headline; None when `existing` is already at this revision or a later one.

    Articles a kill or withhold took out stay listed, flagged `withdrawn`, but leave `doc_ids`;
    a withdrawn alert has `withdrawn_at` and keeps the headline it was raised with.
    """
    revision = alert_revision(state)
    if existing is not None and int(existing.get("revision") or 0) >= revision:
        return None
    known = {a["doc_id"]: a for a in (existing or {}).get("articles") or []}

    def listed(doc_id: str, version: int) -> dict[str, Any]:
        if doc_id in documents:
            return _article(documents[doc_id], version)
        return {**known.get(doc_id, {"doc_id": doc_id}), "version": version}

    articles = [listed(d, v) for d, v in state.articles.items()]
    dropped = [
        {**listed(d, v), "withdrawn": True}
        for d, v in state.dropped.items()
        if d not in state.articles
    ]
    # The headline is the first visible article's; a withdrawn alert keeps its first one's.
    order = {doc_id: position for position, doc_id in enumerate(known)}
    everything = sorted([*articles, *dropped], key=lambda a: order.get(a["doc_id"], len(order)))
    shown = articles or everything
    first = shown[0]
    record: dict[str, Any] = {
        **{k: v for k, v in (existing or {}).items() if k == "read_at"},
        "alert_id": state.alert_id,
        "rule_id": rule.id,
        "rule_name": rule.name,
        "story_id": state.story_id,
        "doc_id": first["doc_id"],
        "doc_ids": [a["doc_id"] for a in articles],
        "title": first.get("title") or "",
        "source": first.get("source"),
        "sources": sorted({a["source"] for a in shown if a.get("source")}),
        "languages": sorted({a["language"] for a in shown if a.get("language")}),
        "url": first.get("url"),
        "published_at": first.get("published_at"),
        "matched_at": state.created_at,
        "updated_at": state.updated_at,
        "sequence": state.sequence,
        "revision": revision,
        "articles": everything,
        "withdrawn_doc_ids": [a["doc_id"] for a in dropped],
        "withdrawn_at": state.withdrawn_at,
    }
    if rule.id.startswith(ACTOR_RULE_PREFIX) and rule.actors:
        record.update(actor_id=rule.actors[0], actor_name=rule.name)
    return record
