"""Unit tests for the entity registry's pure parts: keys, ids, acronym merges, display names."""

from __future__ import annotations

import pytest

from pipeline.entity_keys import (
    acronym_of,
    alias_key,
    choose_display_name,
    document_entities,
    entity_id,
    entity_key,
    is_acronym,
    skeleton,
)
from pipeline.models import Entities, Mention


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (
            ("Sebastien Lecornu", "Sebastien Lecorny", "Себастьен Лекорню", "Sébastien Lecornu"),
            "person",
        ),
        (("John Healey", "Джон Хили"), "person"),
        (("Konstantin Kosachev", "Константин Косачев"), "person"),
        (("Valery Gerasimov", "Валерий Герасимов", "Walery Gierasimow"), "person"),
        (("Vladimir Putin", "Vladimir Vladimirovich Putin", "Владимир Путин"), "person"),
        (("US", "U.S", "United States", "США", "Соединённые Штаты"), "place"),
        (("Kyiv", "Kiev", "Киев", "Київ"), "place"),
        (("Bank of Russia", "the Bank of Russia", "Банк России"), "organisation"),
        (("NATO", "НАТО"), "organisation"),
    ],
)
def test_spellings_and_scripts_of_one_name_share_a_key(names, kind):
    assert len({entity_key(name, kind) for name in names}) == 1, [
        entity_key(n, kind) for n in names
    ]


@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [
        ("Kim Jong Un", "Kim Yo Jong", "person"),  # one surname, two people
        ("John Smith", "Jane Smith", "person"),
        ("Li Qiang", "Li Keqiang", "person"),
        ("Smith", "John Smith", "person"),  # a lone surname is not the full name
        ("Georgia", "Jordan", "place"),
        ("Bank of Russia", "Bank of England", "organisation"),
    ],
)
def test_different_entities_keep_different_keys(a, b, kind):
    assert entity_key(a, kind) != entity_key(b, kind)


def test_ids_are_stable_and_typed():
    key = entity_key("Sebastien Lecornu", "person")
    assert entity_id("person", key) == entity_id("person", key)
    assert entity_id("person", key).startswith("per-")
    assert entity_id("organisation", key) != entity_id("person", key)


def test_skeleton_drops_case_endings_and_vowel_spellings():
    assert skeleton("Лекорню") == skeleton("Lecornu") == skeleton("Lecorny")
    assert skeleton("Healey") == skeleton("Хили")
    assert skeleton("Putin's") == skeleton("Putin")


def test_acronyms():
    assert is_acronym("ECB")
    assert is_acronym("U.S.")
    assert not is_acronym("Reuters")
    assert acronym_of("European Central Bank") == "ECB"
    assert acronym_of("Bank of Russia") == "BR"
    assert acronym_of("Reuters") is None


def _entities(**groups: tuple[str, ...]) -> Entities:
    names = [(n, g) for g, ns in groups.items() for n in ns]
    return Entities(
        persons=groups.get("persons", ()),
        organisations=groups.get("organisations", ()),
        places=groups.get("places", ()),
        mentions=tuple(Mention(text=n, label=g, canonical=n) for n, g in names),
        actors=(),
    )


def test_an_acronym_joins_its_full_name_in_the_document_and_is_learnt():
    found = {
        m.name: m
        for m in document_entities(_entities(organisations=("ECB", "European Central Bank")))
    }
    assert found["ECB"].id == found["European Central Bank"].id
    assert found["ECB"].learns == (alias_key("organisation", "ECB"),)
    assert found["ECB"].alias is None
    assert "acronym of European Central Bank" in found["ECB"].how


def test_a_lone_acronym_asks_the_registry_for_a_learnt_alias():
    (ecb,) = document_entities(_entities(organisations=("ECB",)))
    assert ecb.alias == alias_key("organisation", "ECB")
    assert ecb.learns == ()
    assert ecb.id == entity_id("organisation", entity_key("ECB", "organisation"))


def test_two_expansions_of_one_acronym_merge_nothing():
    found = document_entities(
        _entities(organisations=("PA", "Palestinian Authority", "Press Association"))
    )
    acronym = next(m for m in found if m.name == "PA")
    assert acronym.learns == ()
    assert acronym.id not in {m.id for m in found if m.name != "PA"}


def test_places_carry_the_gazetteer_name_and_actors_their_id():
    found = {
        m.name: m
        for m in document_entities(
            _entities(places=("США",), persons=("Valery Gerasimov",)),
            {"Valery Gerasimov": "valery-gerasimov"},
        )
    }
    assert found["США"].display_hint == "United States"
    assert found["Valery Gerasimov"].actor == "valery-gerasimov"
    assert found["США"].actor is None


def test_display_name_prefers_the_working_languages_script_then_frequency():
    counts = {"Sebastien Lecornu": 2, "Sebastien Lecorny": 1, "Себастьен Лекорню": 5}
    assert choose_display_name(counts, "en") == "Sebastien Lecornu"
    assert choose_display_name(counts, "ru") == "Себастьен Лекорню"
    assert choose_display_name({"Джон Хили": 1}, "en") == "Dzhon Khili"
    assert choose_display_name({"US": 3, "США": 1}, "en", "United States") == "United States"
    assert choose_display_name({"US": 3, "США": 1}, "ru", "United States") == "США"
    # Ties: a full name before an acronym.
    assert (
        choose_display_name({"ECB": 1, "European Central Bank": 1}, "en") == "European Central Bank"
    )


def test_an_organisation_of_the_table_is_one_whatever_the_model_said():
    (as_place,) = document_entities(_entities(places=("Кремль",)))
    (as_organisation,) = document_entities(_entities(organisations=("Kremlin",)))
    assert as_place.type == "organisation"
    assert as_place.id == as_organisation.id
    # Places stay places.
    (moscow,) = document_entities(_entities(places=("Москва",)))
    assert moscow.type == "place"
