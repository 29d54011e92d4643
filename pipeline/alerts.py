"""Alert stage: tracked actors (canonical name + aliases) as queries, and matching results."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

ACTOR_TYPES = frozenset({"person", "organisation", "place"})
# Phrases on the neutral fields catch any alias exactly as written. Inflections, possessives and
# other scripts ("Путина", "Putin's") are caught by the `actors` ids the gazetteer set at
# indexing, so the stemmed content_* fields are not searched: nine more fields per phrase made
# alert matching cost more for no additional match.
MATCH_FIELDS = ("title", "body")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FIELDS = frozenset({"id", "name", "type", "aliases", "exclude", "homonyms"})


class ActorConfigError(ValueError):
    """The actors file is malformed; the message names the entry and the problem."""


@dataclass(frozen=True, slots=True)
class Actor:
    """A tracked person, organisation or place, with every spelling that should match it."""

    id: str
    name: str
    type: str
    aliases: tuple[str, ...] = field(default_factory=tuple)
    # Phrases that, next to a mention, mean something else ("chicken Kiev", "Kursk submarine").
    exclude: tuple[str, ...] = field(default_factory=tuple)
    # (language or "*", word): common words spelled like the name ("es", "rubio" = blond) that
    # need another mention where case cannot tell.
    homonyms: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        unique: dict[str, str] = {}
        for name in (self.name, *self.aliases):
            key = unicodedata.normalize("NFC", name).casefold()
            unique.setdefault(key, name)
        return tuple(unique.values())


def parse_actors(text: str) -> list[Actor]:
    """Read actors from YAML (a list under `actors:`), validating ids, types and names."""
    document = yaml.safe_load(text) or {}
    entries = document.get("actors") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ActorConfigError("expected a top-level 'actors:' list")
    actors: list[Actor] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ActorConfigError(f"entry {position}: expected a mapping")
        actor_id = str(entry.get("id", ""))
        if not _ID.match(actor_id):
            raise ActorConfigError(f"entry {position}: id {actor_id!r} must match {_ID.pattern}")
        if actor_id in seen:
            raise ActorConfigError(f"entry {position}: duplicate id {actor_id!r}")
        seen.add(actor_id)
        kind = str(entry.get("type", ""))
        if kind not in ACTOR_TYPES:
            raise ActorConfigError(f"{actor_id}: type must be one of {sorted(ACTOR_TYPES)}")
        name = str(entry.get("name") or "").strip()
        if not name:
            raise ActorConfigError(f"{actor_id}: name is required")
        unknown = set(entry) - _FIELDS
        if unknown:
            # A misspelt "exclude" would silently drop the user's exclusions.
            raise ActorConfigError(f"{actor_id}: unknown field(s) {sorted(unknown)}")
        homonyms = _homonyms(entry.get("homonyms"), actor_id)
        actors.append(
            Actor(
                id=actor_id,
                name=name,
                type=kind,
                aliases=_strings(entry, "aliases", actor_id),
                exclude=_strings(entry, "exclude", actor_id),
                homonyms=homonyms,
            )
        )
    return actors


def _homonyms(value: Any, actor_id: str) -> tuple[tuple[str, str], ...]:
    """`[word, ...]` (any language) or `{lang: [word, ...]}`, as (language or "*", word)."""
    if value is None:
        return ()
    groups = value if isinstance(value, dict) else {"*": value}
    pairs: list[tuple[str, str]] = []
    for lang, words in groups.items():
        if not isinstance(words, list):
            raise ActorConfigError(f"{actor_id}: homonyms must be a list or a mapping of lists")
        for word in (str(w).strip() for w in words if w is not None):
            if len(word.split()) != 1:
                raise ActorConfigError(f"{actor_id}: each homonym must be a single word")
            pairs.append((str(lang), word))
    return tuple(pairs)


def _strings(entry: dict[str, Any], key: str, actor_id: str) -> tuple[str, ...]:
    values = entry.get(key) or []
    if not isinstance(values, list):
        raise ActorConfigError(f"{actor_id}: {key} must be a list")
    return tuple(str(v).strip() for v in values if v is not None and str(v).strip())


def actor_query(actor: Actor) -> dict[str, Any]:
    """The query that finds an article mentioning the actor by any of its names."""
    return {
        "bool": {
            "should": [
                # Set at indexing when the gazetteer recognised the actor in any form.
                {"term": {"actors": actor.id}},
                *(
                    {"multi_match": {"query": name, "type": "phrase", "fields": list(MATCH_FIELDS)}}
                    for name in actor.names
                ),
            ],
            "minimum_should_match": 1,
        }
    }


def batch_match_query(queries: dict[str, dict[str, Any]], doc_ids: Sequence[str]) -> dict[str, Any]:
    """One search that tells, for each of `doc_ids`, which actors' queries match it.

    Each actor query is a named clause, so a hit's `matched_queries` lists the actors it
    mentions: a reverse search over the new batch in a single round trip.
    """
    return {
        "query": {
            "bool": {
                "filter": [{"ids": {"values": list(doc_ids)}}],
                "should": [
                    {"bool": {"must": [query], "_name": actor_id}}
                    for actor_id, query in queries.items()
                ],
                "minimum_should_match": 1,
            }
        },
        "_source": ["doc_id", "title", "source", "published_at", "url"],
        "size": len(doc_ids),
    }


def matches_from_response(hits: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(actor id, article source) for every named clause that matched in a search response."""
    pairs: list[tuple[str, dict[str, Any]]] = []
    for hit in hits:
        for actor_id in sorted(hit.get("matched_queries", [])):
            pairs.append((actor_id, {"doc_id": hit["_id"], **hit.get("_source", {})}))
    return pairs
