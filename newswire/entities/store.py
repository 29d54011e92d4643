"""The entity registry in Redis, shared by every worker, under the project's prefix.

Keys (``<prefix>:entity…``):

* ``entity:<id>`` hash: type, key, first_seen, mentions (documents naming it), display_hint
  (the place gazetteer's name), actor (the tracked actor it is, once one document says so);
* ``entity:<id>:names`` hash: "<lang>\\t<form>" -> documents that used the form;
* ``entity:<id>:formed`` hash: "<lang>\\t<form>" -> JSON of the first document that brought the
  form in and how (by key, or as an acronym of a full name in that document);
* ``entity:aliases`` hash: "<type>|acr:<letters>" -> id, "?" once two entities claimed it;
* ``entities`` sorted set: id by mentions; ``entities:docs`` set: documents already counted.

One Lua call registers a whole batch atomically and answers each mention's id, so a batch costs
one round trip, and a retried batch changes nothing (its documents are already counted).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any

import redis
from elasticsearch import helpers

from newswire.search.store import SearchStore
from pipeline.entity_keys import EntityMention

# Every mention field is a string or a tuple of strings: read directly (asdict deep-copies each
# value, ~0.3 ms per article for ~14 mentions).
_MENTION_FIELDS = tuple(f.name for f in fields(EntityMention))

# ARGV[1] prefix, ARGV[2] JSON [{doc, at, lang, entities: [EntityMention…]}];
# returns JSON [[[id, actor or false] per entity] per document].
_REGISTER_SCRIPT = """
local prefix = ARGV[1]
local docs = cjson.decode(ARGV[2])
local aliases = prefix .. ':entity:aliases'
local out = {}
for d, doc in ipairs(docs) do
  local new = redis.call('SADD', prefix .. ':entities:docs', doc.doc)
  local answers = {}
  for e, ent in ipairs(doc.entities) do
    local id = ent.id
    local how = ent.how
    if ent.alias ~= cjson.null then
      local known = redis.call('HGET', aliases, ent.alias)
      if known and known ~= '?' then
        id = known
        how = 'acronym learnt from another document (' .. ent.alias .. ')'
      end
    end
    local key = prefix .. ':entity:' .. id
    if new == 1 then
      local form = doc.lang .. '\\t' .. ent.name
      redis.call('HSETNX', key, 'type', ent.type)
      redis.call('HSETNX', key, 'key', ent.key)
      redis.call('HSETNX', key, 'first_seen', doc.at)
      if ent.display_hint ~= cjson.null then
        redis.call('HSETNX', key, 'display_hint', ent.display_hint)
      end
      if ent.actor ~= cjson.null then redis.call('HSET', key, 'actor', ent.actor) end
      redis.call('HINCRBY', key, 'mentions', 1)
      redis.call('HINCRBY', key .. ':names', form, 1)
      redis.call('HSETNX', key .. ':formed', form, cjson.encode({
        doc = doc.doc, at = doc.at, how = how, written = ent.written, key = ent.key}))
      redis.call('ZINCRBY', prefix .. ':entities', 1, id)
      for _, alias in ipairs(ent.learns) do
        local known = redis.call('HGET', aliases, alias)
        if not known then
          redis.call('HSET', aliases, alias, id)
        elseif known ~= id then
          redis.call('HSET', aliases, alias, '?')
        end
      end
    end
    local actor = redis.call('HGET', key, 'actor')
    answers[e] = {id, actor or false}
  end
  out[d] = answers
end
return cjson.encode(out)
"""


class EntityStore:
    """The registry's Redis keys behind one prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._register = client.register_script(_REGISTER_SCRIPT)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def register(
        self, documents: Sequence[tuple[str, str, str, Sequence[EntityMention]]]
    ) -> list[list[tuple[str, str | None]]]:
        """Count (doc key, ISO time, language, entities) once per document; each entity's id
        (a learnt acronym may redirect it) and tracked actor. One round trip."""
        if not documents:
            return []
        payload = [
            {
                "doc": doc,
                "at": at,
                "lang": lang,
                "entities": [
                    {
                        **{name: getattr(m, name) for name in _MENTION_FIELDS},
                        "learns": list(m.learns),
                        "written": list(m.written),
                    }
                    for m in mentions
                ],
            }
            for doc, at, lang, mentions in documents
        ]
        raw = self._register(args=[self.prefix, json.dumps(payload, ensure_ascii=False)])
        decoded = json.loads(raw)
        # cjson encodes an empty table as {}: a document without entities.
        return [
            [(str(pair[0]), pair[1] or None) for pair in answers]
            if isinstance(answers, list)
            else []
            for answers in decoded
        ]

    def entities(self, ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Each id's record with its name counts and formation, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for entity_id in ids:
            key = self._key("entity", entity_id)
            pipe.hgetall(key)
            pipe.hgetall(key + ":names")
            pipe.hgetall(key + ":formed")
        raw = pipe.execute()
        found: list[dict[str, Any] | None] = []
        for index, entity_id in enumerate(ids):
            record, names, formed = raw[3 * index : 3 * index + 3]
            if not record:
                found.append(None)
                continue
            found.append(
                {
                    "id": entity_id,
                    **record,
                    "mentions": int(record.get("mentions", 0)),
                    "names": {form: int(n) for form, n in names.items()},
                    "formed": {form: json.loads(v) for form, v in formed.items()},
                }
            )
        return found

    def names(self, ids: Sequence[str]) -> dict[str, tuple[dict[str, int], str | None]]:
        """id -> (form counts without language, display hint), one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for entity_id in ids:
            key = self._key("entity", entity_id)
            pipe.hgetall(key + ":names")
            pipe.hget(key, "display_hint")
        raw = pipe.execute()
        result: dict[str, tuple[dict[str, int], str | None]] = {}
        for index, entity_id in enumerate(ids):
            counts: dict[str, int] = {}
            for form, n in raw[2 * index].items():
                name = form.split("\t", 1)[-1]
                counts[name] = counts.get(name, 0) + int(n)
            result[entity_id] = (counts, raw[2 * index + 1])
        return result

    def top(self, limit: int, offset: int = 0) -> list[tuple[str, int]]:
        """Ids by the number of documents naming them, most first."""
        rows = self.client.zrevrange(
            self._key("entities"), offset, offset + limit - 1, withscores=True
        )
        pairs: list[tuple[str, float]] = list(rows)  # type: ignore[arg-type]
        return [(str(entity_id), int(score)) for entity_id, score in pairs]

    def count(self) -> int:
        return int(self.client.zcard(self._key("entities")))


# -- the articles' id fields (newswire/search owns the index; the registry fills these) ---------
def scan_articles(
    search: SearchStore, fields: Sequence[str], *, batch_size: int = 200
) -> Iterator[list[dict[str, Any]]]:
    """Every article's `fields`, in batches (a scroll over the articles alias)."""
    batch: list[dict[str, Any]] = []
    for hit in helpers.scan(
        search.es,
        index=search.settings.articles_alias,
        _source=list(fields),
        size=batch_size,
        preserve_order=False,
    ):
        batch.append({"doc_id": hit["_id"], **hit["_source"]})
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def update_articles(search: SearchStore, changes: Mapping[str, Mapping[str, Any]]) -> None:
    """Partial updates by doc_id in one bulk request (a document deleted meanwhile is skipped)."""
    actions = (
        {
            "_op_type": "update",
            "_index": search.settings.articles_alias,
            "_id": doc_id,
            "doc": dict(fields),
            "retry_on_conflict": 3,
        }
        for doc_id, fields in changes.items()
    )
    for ok, item in helpers.streaming_bulk(search.es, actions, raise_on_error=False):
        if not ok and item["update"].get("status") != 404:
            raise RuntimeError(f"entity ids not written to {item['update'].get('_id')}: {item}")
