"""Alert state in Elasticsearch: tracked actors (with their queries and gazetteer) and the
alerts index. Uses the search store's client and index names; index setup stays there."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from elasticsearch import Elasticsearch, helpers

from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.alerts import Actor, actor_query, batch_match_query, matches_from_response
from pipeline.gazetteer import Gazetteer, build_gazetteer

ACTOR_CACHE_SECONDS = 30.0
# One alert store per search store, so the actor cache outlives a single batch.
_BY_SEARCH_STORE: WeakKeyDictionary[SearchStore, AlertStore] = WeakKeyDictionary()


class AlertStore:
    """Tracked actors and their alerts, in the `<prefix>-actors` and `<prefix>-alerts` indices."""

    def __init__(self, es: Elasticsearch, settings: Settings) -> None:
        self.es = es
        self.settings = settings
        self._actors_cache: tuple[float, list[dict[str, Any]]] | None = None
        self._gazetteer: tuple[list[dict[str, Any]], Gazetteer] | None = None

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

    def match_alerts(self, doc_ids: Sequence[str]) -> int:
        """Run every actor's query over `doc_ids` and record each match once; returns new ones."""
        if not doc_ids:
            return 0
        # Actor edits reach the workers within ACTOR_CACHE_SECONDS; each batch saves a query.
        actors = {a["id"]: a for a in self.actors(max_age=ACTOR_CACHE_SECONDS)}
        if not actors:
            return 0
        body = batch_match_query({k: a["query"] for k, a in actors.items()}, doc_ids)
        # The batch was just written: refresh so the search sees it (cheap on one small index).
        self.es.indices.refresh(index=self.settings.articles_alias)
        response = self.es.search(index=self.settings.articles_alias, body=body)
        now = datetime.now(UTC).isoformat()
        actions = []
        for actor_id, article in matches_from_response(response["hits"]["hits"]):
            alert_id = hashlib.blake2b(
                f"{actor_id}\0{article['doc_id']}".encode(), digest_size=16
            ).hexdigest()
            actions.append(
                {
                    "_op_type": "create",
                    "_index": self.settings.alerts_index,
                    "_id": alert_id,
                    "_source": {
                        "actor_id": actor_id,
                        "actor_name": actors[actor_id]["name"],
                        "doc_id": article["doc_id"],
                        "title": article.get("title", ""),
                        "source": article.get("source"),
                        "url": article.get("url"),
                        "published_at": article.get("published_at"),
                        "matched_at": now,
                    },
                }
            )
        created = 0
        for ok, item in helpers.streaming_bulk(self.es, actions, raise_on_error=False):
            if ok:
                created += 1
            elif item["create"].get("status") != 409:
                raise RuntimeError(f"alert write failed: {item['create'].get('error')}")
        return created

    def alerts(self, actor_id: str | None = None, size: int = 50) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"term": {"actor_id": actor_id}} if actor_id else {"match_all": {}}
        response = self.es.search(
            index=self.settings.alerts_index,
            query=query,
            size=size,
            sort=[{"matched_at": "desc"}, {"published_at": "desc"}],
        )
        return [{"id": h["_id"], **h["_source"]} for h in response["hits"]["hits"]]
