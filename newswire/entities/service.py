"""Entity registry service: what ingestion, search, the CLI and the API share.

Ingestion registers each batch's entities (one Redis round trip) and gets their ids for the
documents; search shows each facet id under its display name; `newswire entities` and
/entities list them and show how each was formed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import redis

from newswire.entities.store import EntityStore, scan_articles, update_articles
from newswire.ingest.store import RedisStore
from newswire.search.store import SearchStore
from newswire.settings import Settings
from pipeline.entity_keys import TYPES, choose_display_name, document_entities, fold_display
from pipeline.gazetteer import Gazetteer
from pipeline.models import Article, DedupKeys, Entities, LanguageGuess, Mention
from pipeline.search import SearchResult

# Document fields that hold each type's entity ids (config/elasticsearch/articles.json).
ID_FIELDS = {"person": "person_ids", "organisation": "organisation_ids", "place": "place_ids"}


@cache
def entity_store_for(settings: Settings) -> EntityStore:
    """One registry client per process and settings."""
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    return EntityStore(client, settings.index_prefix)


@dataclass(frozen=True, slots=True)
class DocumentIds:
    """A document's entity ids by field, and its entities with the tracked actors the registry
    adds."""

    fields: dict[str, list[str]]
    entities: Entities


def register(
    store: EntityStore,
    documents: Sequence[tuple[str, str, Entities]],
    *,
    actor_names: Mapping[str, str],
    now: datetime,
) -> list[DocumentIds]:
    """Register (doc_id, language, entities) documents; their ids per type, in one round trip.

    A registry entity that is a tracked actor (learnt from any document) adds the actor to a
    document that names it in a spelling the gazetteer does not know.
    """
    mentions = [document_entities(ents, actor_names) for _, _, ents in documents]
    answers = store.register(
        [
            (doc_id, now.isoformat(), lang, found)
            for (doc_id, lang, _), found in zip(documents, mentions, strict=True)
        ]
    )
    results = []
    for (_, _, ents), found, ids in zip(documents, mentions, answers, strict=True):
        fields: dict[str, list[str]] = {name: [] for name in ID_FIELDS.values()}
        actors: list[str] = []
        for mention, (entity_id, actor) in zip(found, ids, strict=True):
            field_ids = fields[ID_FIELDS[mention.type]]
            if entity_id not in field_ids:
                field_ids.append(entity_id)
            if actor and actor not in ents.actors and actor not in actors:
                actors.append(actor)
        with_actors = replace(ents, actors=tuple(sorted({*ents.actors, *actors})))
        results.append(DocumentIds(fields=fields, entities=with_actors if actors else ents))
    return results


def register_batch(
    redis_store: RedisStore,
    fresh: Sequence[tuple[Article, DedupKeys]],
    languages: Sequence[LanguageGuess],
    entities: Sequence[Entities],
    gazetteer: Gazetteer,
) -> list[DocumentIds]:
    """register() for the ingest batch's (article, keys), languages and entities."""
    store = EntityStore(redis_store.client, redis_store.prefix)
    documents = [
        (key.doc_id, lang.code, ents)
        for (_, key), lang, ents in zip(fresh, languages, entities, strict=True)
    ]
    actor_names = {actor.name: actor_id for actor_id, actor in gazetteer.actors.items()}
    return register(store, documents, actor_names=actor_names, now=datetime.now(UTC))


def display_names(store: EntityStore, ids: Sequence[str], language: str) -> dict[str, str]:
    """id -> the name a newsroom working in `language` sees."""
    return {
        entity_id: choose_display_name(counts, language, hint)
        for entity_id, (counts, hint) in store.names(list(dict.fromkeys(ids))).items()
        if counts or hint
    }


def label_facets(store: EntityStore, result: SearchResult, language: str) -> SearchResult:
    """The result with display names for the person, organisation and place facet ids."""
    facets = ("person", "organisation", "place")
    ids = [key for name in facets for key, _ in result.facets.get(name, [])]
    if not ids:
        return result
    names = display_names(store, ids, language)
    labels = dict(result.facet_labels)
    for name in facets:
        labels[name] = {k: names[k] for k, _ in result.facets.get(name, []) if k in names}
    return replace(result, facet_labels=labels)


def summary(record: Mapping[str, Any], language: str) -> dict[str, Any]:
    """A registry record as listed: id, type, display name, documents, forms by language."""
    counts: dict[str, int] = {}
    by_language: dict[str, dict[str, int]] = {}
    for form, n in record["names"].items():
        lang, name = form.split("\t", 1)
        counts[name] = counts.get(name, 0) + n
        by_language.setdefault(lang, {})[name] = n
    return {
        "id": record["id"],
        "type": record.get("type", ""),
        "name": choose_display_name(counts, language, record.get("display_hint")),
        "documents": record["mentions"],
        "names": by_language,
        "actor": record.get("actor"),
        "first_seen": record.get("first_seen"),
    }


def list_entities(
    store: EntityStore,
    *,
    language: str,
    entity_type: str | None = None,
    contains: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The most named entities, optionally of one type or with a display name containing text."""
    if entity_type is not None and entity_type not in TYPES:
        raise ValueError(f"unknown type {entity_type!r}; known: {', '.join(TYPES)}")
    wanted = fold_display(contains) if contains else None
    rows: list[dict[str, Any]] = []
    offset, page = 0, max(limit * 4, 100)
    while len(rows) < limit:
        top = store.top(page, offset)
        if not top:
            break
        offset += page
        for record in store.entities([entity_id for entity_id, _ in top]):
            if record is None or (entity_type and record.get("type") != entity_type):
                continue
            row = summary(record, language)
            forms = [row["name"], *(n for names in row["names"].values() for n in names)]
            if wanted and not any(wanted in fold_display(form) for form in forms):
                continue
            rows.append(row)
            if len(rows) == limit:
                break
    return rows


def show_entity(store: EntityStore, entity_id: str, language: str) -> dict[str, Any] | None:
    """One entity with how it was formed: each form, the first document and the evidence."""
    record = store.entities([entity_id])[0]
    if record is None:
        return None
    return {
        **summary(record, language),
        "key": record.get("key"),
        "formed": [
            {"language": form.split("\t", 1)[0], "form": form.split("\t", 1)[1], **evidence}
            for form, evidence in sorted(record["formed"].items(), key=lambda kv: kv[1]["at"])
        ],
    }


def entities_of_document(source: Mapping[str, Any]) -> Entities:
    """The entities an indexed document already holds (its names and mentions)."""
    return Entities(
        persons=tuple(source.get("persons") or ()),
        organisations=tuple(source.get("organisations") or ()),
        places=tuple(source.get("places") or ()),
        mentions=tuple(
            Mention(text=m.get("text", ""), label=m.get("type", ""), canonical=m["canonical"])
            for m in source.get("mentions") or ()
            if m.get("canonical")
        ),
        actors=tuple(source.get("actors") or ()),
    )


def backfill(
    search: SearchStore,
    store: EntityStore,
    gazetteer: Gazetteer,
    *,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Register the entities of documents indexed before the registry and write their ids.

    Documents are read from their stored names (no NER again); a document already counted is
    not counted twice, so the command can run again, and after `newswire reindex`.
    """
    actor_names = {actor.name: actor_id for actor_id, actor in gazetteer.actors.items()}
    done = 0
    fields = ["language", "persons", "organisations", "places", "mentions", "actors"]
    for sources in scan_articles(search, fields, batch_size=batch_size):
        registered = register(
            store,
            [(s["doc_id"], s.get("language") or "und", entities_of_document(s)) for s in sources],
            actor_names=actor_names,
            now=datetime.now(UTC),
        )
        update_articles(
            search,
            {
                s["doc_id"]: {**found.fields, "actors": list(found.entities.actors)}
                for s, found in zip(sources, registered, strict=True)
            },
        )
        done += len(sources)
        if progress:
            progress(done)
    return done
