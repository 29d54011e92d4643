"""The entity registry's Redis script on the real Redis: counts once per document, learns
acronyms from one document for the next, never merges on a contested acronym, and feeds
tracked actors to spellings the gazetteer does not know."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from newswire.entities import service
from newswire.entities.store import EntityStore
from newswire.ingest.store import RedisStore
from pipeline.models import Entities, Mention

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def _entities(persons: tuple[str, ...] = (), organisations: tuple[str, ...] = ()) -> Entities:
    names = [(n, "persons") for n in persons] + [(n, "organisations") for n in organisations]
    return Entities(
        persons=persons,
        organisations=organisations,
        places=(),
        mentions=tuple(Mention(text=n, label=g, canonical=n) for n, g in names),
        actors=(),
    )


@pytest.fixture
def registry(redis_store: RedisStore) -> EntityStore:
    # A prefix of its own: the ingested seeds share this Redis database.
    return EntityStore(redis_store.client, f"{redis_store.prefix}-registry-{secrets.token_hex(3)}")


def test_a_document_is_counted_once_however_often_it_is_registered(registry):
    docs = [("d1", "en", _entities(persons=("Sebastien Lecornu",)))]
    first = service.register(registry, docs, actor_names={}, now=NOW)
    again = service.register(registry, docs, actor_names={}, now=NOW)
    assert first == again
    (entity_id,) = first[0].fields["person_ids"]
    service.register(
        registry, [("d2", "ru", _entities(persons=("Себастьен Лекорню",)))], actor_names={}, now=NOW
    )
    shown = service.show_entity(registry, entity_id, "en")
    assert shown is not None
    assert shown["documents"] == 2
    assert shown["names"] == {"en": {"Sebastien Lecornu": 1}, "ru": {"Себастьен Лекорню": 1}}
    assert service.show_entity(registry, entity_id, "ru")["name"] == "Себастьен Лекорню"


def test_an_acronym_learnt_in_one_document_resolves_it_in_the_next(registry):
    learnt = service.register(
        registry,
        [("d1", "en", _entities(organisations=("European Central Bank", "ECB")))],
        actor_names={},
        now=NOW,
    )
    (bank,) = learnt[0].fields["organisation_ids"]
    later = service.register(
        registry, [("d2", "en", _entities(organisations=("ECB",)))], actor_names={}, now=NOW
    )
    assert later[0].fields["organisation_ids"] == [bank]
    formed = service.show_entity(registry, bank, "en")["formed"]
    assert {row["form"] for row in formed} == {"European Central Bank", "ECB"}
    assert any("acronym" in row["how"] for row in formed)


def test_a_contested_acronym_merges_nothing(registry):
    service.register(
        registry,
        [
            ("d1", "en", _entities(organisations=("Palestinian Authority", "PA"))),
            ("d2", "en", _entities(organisations=("Press Association", "PA"))),
        ],
        actor_names={},
        now=NOW,
    )
    (alone,) = service.register(
        registry, [("d3", "en", _entities(organisations=("PA",)))], actor_names={}, now=NOW
    )
    ids = service.list_entities(registry, language="en", entity_type="organisation", limit=10)
    full_names = {row["id"] for row in ids if row["name"] != "PA"}
    assert alone.fields["organisation_ids"][0] not in full_names


def test_a_spelling_keyed_to_a_tracked_actor_brings_the_actor(registry):
    actors = {"Valery Gerasimov": "valery-gerasimov"}
    service.register(
        registry,
        [("d1", "en", _entities(persons=("Valery Gerasimov",)))],
        actor_names=actors,
        now=NOW,
    )
    (polish,) = service.register(
        registry,
        [("d2", "pl", _entities(persons=("Walery Gierasimow",)))],
        actor_names=actors,
        now=NOW,
    )
    assert polish.entities.actors == ("valery-gerasimov",)
    (other,) = service.register(
        registry,
        [("d3", "en", _entities(persons=("Valery Gergiev",)))],
        actor_names=actors,
        now=NOW,
    )
    assert other.entities.actors == ()
