"""The entity registry through the real stack: the seed story's facets show one entity per
person, organisation and place in every script, under its English display name; filters take
ids and names; `newswire entities` shows how each entity was formed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from newswire.alerts.store import AlertStore
from newswire.entities import service as entities
from newswire.entities.store import EntityStore, update_articles
from newswire.search.service import run_search
from newswire.search.store import SearchStore
from pipeline.search import SearchRequest, build_search_body

pytestmark = pytest.mark.integration

RU_TITLE = "Reuters: Россия передала США требования для переговоров по Украине"
# The display name and the spellings the seed articles use (names as written in the documents).
SPELLINGS = {
    "Sebastien Lecornu": {"Sebastien Lecornu", "Sebastien Lecorny", "Себастьен Лекорню"},
    "John Healey": {"John Healey", "Джон Хили"},
    "Konstantin Kosachev": {"Konstantin Kosachev", "Константин Косачев"},
    "United States": {"United States", "US", "США"},
}


def _search(store: SearchStore, query: str = "", **kwargs: Any) -> Any:
    request = SearchRequest(query=query, collapse_stories=False, size=50, **kwargs)
    return run_search(store, build_search_body(request))


def _facet(result: Any, name: str) -> dict[str, tuple[str, int]]:
    """Display name -> (entity id, count); a name shown twice fails the test."""
    labels = result.facet_labels.get(name, {})
    shown: dict[str, tuple[str, int]] = {}
    for entity_id, count in result.facets[name]:
        label = labels.get(entity_id, entity_id)
        assert label not in shown, f"{label} listed twice in the {name} facet"
        shown[label] = (entity_id, count)
    return shown


def test_seed_story_facets_show_one_entity_per_person_and_country(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    sizes = {"person": 50, "organisation": 50, "place": 50}
    result = _search(search_store, "Kursk", facet_sizes=sizes)
    persons = _facet(result, "person")
    places = _facet(result, "place")
    organisations = _facet(result, "organisation")
    for name, variants in SPELLINGS.items():
        naming = [hit for hit in result.hits if set(hit.persons + hit.places) & variants]
        # The variants really occur, in more than one script, so one entry means a merge.
        assert len({hit.language for hit in naming}) == 2, name
        facet = places if name == "United States" else persons
        assert name in facet, sorted(facet)
        assert facet[name][1] == len(naming), (name, facet[name])
        for variant in variants - {name}:
            assert variant not in facet, variant
    for person in ("Daphne Psaledakis", "Lydia Kelly", "Sebastien Lecornu", "John Healey"):
        assert person not in organisations
    for place in ("Crimea", "Sumy"):
        assert place not in persons
        assert place not in organisations
        assert place in places
    for not_a_place in ("Ukrainian", "West"):
        assert not_a_place not in places


def test_entity_filters_take_ids_and_names(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    persons = _facet(_search(search_store, "Kursk"), "person")
    lecornu_id = persons["Sebastien Lecornu"][0]
    by_id = _search(search_store, filters={"person": (lecornu_id,)})
    assert RU_TITLE in {hit.title for hit in by_id.hits}
    # The names as written stay stored and filterable, in their own script.
    by_name = _search(search_store, filters={"person": ("Себастьен Лекорню",)})
    assert [hit.title for hit in by_name.hits] == [RU_TITLE]


def test_entities_show_explains_how_an_entity_was_formed(
    ingested: list[dict[str, Any]], search_store: SearchStore
) -> None:
    persons = _facet(_search(search_store, "Kursk"), "person")
    entity_id = persons["Sebastien Lecornu"][0]
    registry = entities.entity_store_for(search_store.settings)
    shown = entities.show_entity(registry, entity_id, "en")
    assert shown is not None
    forms = {(row["language"], row["form"]) for row in shown["formed"]}
    assert {("en", "Sebastien Lecornu"), ("en", "Sebastien Lecorny")} <= forms
    assert ("ru", "Себастьен Лекорню") in forms
    assert all(row["how"] == "key" and row["key"] == shown["key"] for row in shown["formed"])
    assert shown["documents"] == persons["Sebastien Lecornu"][1]

    cli = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "entities", "show", entity_id, "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
        timeout=120,
    )
    assert json.loads(cli.stdout)["name"] == "Sebastien Lecornu"
    listed = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "entities", "list", "лекорню", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
        timeout=120,
    )
    assert [row["id"] for row in json.loads(listed.stdout)] == [entity_id]


def test_backfill_gives_documents_indexed_before_the_registry_their_ids(
    ingested: list[dict[str, Any]], search_store: SearchStore, redis_store: Any
) -> None:
    persons = _facet(_search(search_store, "Kursk"), "person")
    lecornu_id, naming = persons["Sebastien Lecornu"]
    # As if indexed before the registry: no ids on the documents, an empty registry.
    hits = _search(search_store, filters={"person": (lecornu_id,)}).hits
    update_articles(search_store, {hit.doc_id: {"person_ids": []} for hit in hits})
    search_store.refresh()
    assert _search(search_store, filters={"person": (lecornu_id,)}).total == 0
    registry = EntityStore(redis_store.client, f"{redis_store.prefix}-backfill")
    done = entities.backfill(
        search_store, registry, AlertStore.of(search_store).gazetteer(), batch_size=3
    )
    search_store.refresh()
    assert done == search_store.count()
    again = _search(search_store, filters={"person": (lecornu_id,)})
    assert {hit.doc_id for hit in again.hits} == {hit.doc_id for hit in hits}
    shown = entities.show_entity(registry, lecornu_id, "en")
    assert shown is not None
    assert shown["documents"] == naming
    # Run again: nothing is counted twice.
    entities.backfill(search_store, registry, AlertStore.of(search_store).gazetteer())
    assert entities.show_entity(registry, lecornu_id, "en")["documents"] == naming
