"""Tracked-actor gazetteer: spellings, scripts and inflections fold to one actor."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.alerts import Actor, parse_actors
from pipeline.entities import resolve_mentions
from pipeline.gazetteer import build_gazetteer, cyrillic_forms, fold_token, name_key

ACTORS = Path(__file__).resolve().parents[3] / "config" / "actors.yaml"


@pytest.fixture(scope="module")
def gazetteer():
    return build_gazetteer(parse_actors(ACTORS.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("mention", "actor_id"),
    [
        ("Zelensky", "volodymyr-zelensky"),
        ("Zelenskyy", "volodymyr-zelensky"),
        ("Zelenskiy", "volodymyr-zelensky"),
        ("Зеленский", "volodymyr-zelensky"),
        ("Зеленского", "volodymyr-zelensky"),
        ("Sudzha", "sudzha"),
        ("Suja", "sudzha"),
        ("Sudja", "sudzha"),
        ("Суджа", "sudzha"),
        ("Судже", "sudzha"),
        ("Putin's", "vladimir-putin"),
        ("Путина", "vladimir-putin"),
        ("Путиным", "vladimir-putin"),
        ("Герасимова", "valery-gerasimov"),
        ("Курской области", "kursk"),
        ("НАТО", "nato"),
    ],
)
def test_variants_resolve_to_one_actor(gazetteer, mention, actor_id):
    actor = gazetteer.actor_for(mention)
    assert actor is not None
    assert actor.id == actor_id


@pytest.mark.parametrize("mention", ["руб", "Russia", "Sumy", "Gerasimenko", "Putinism"])
def test_other_words_resolve_to_no_actor(gazetteer, mention):
    assert gazetteer.actor_for(mention) is None


def test_a_person_full_name_resolves_by_a_tracked_surname_only_for_persons(gazetteer):
    assert gazetteer.actor_for("Марко Рубио", person=True).id == "marco-rubio"
    assert gazetteer.actor_for("Марко Рубио") is None
    # "Kursk" is a place: a person called "Ivan Kursk" is not the city.
    assert gazetteer.actor_for("Ivan Kursk", person=True) is None


def test_find_lists_actors_in_order_of_first_mention(gazetteer):
    text = "Президент Путин посетил Курскую область; Герасимов доложил о Судже. Цена: 100 руб."
    assert gazetteer.find(text) == ["vladimir-putin", "kursk", "valery-gerasimov", "sudzha"]
    assert gazetteer.find("The ECB kept rates unchanged in Frankfurt.") == []


def test_longest_alias_wins_at_one_position():
    actors = [
        Actor(id="kursk", name="Kursk", type="place"),
        Actor(id="kursk-nps", name="Kursk Nuclear Power Plant", type="organisation"),
    ]
    found = build_gazetteer(actors).find("Drones hit the Kursk nuclear power plant on Monday.")
    assert found == ["kursk-nps"]


def test_a_name_shared_by_two_actors_is_ambiguous_and_dropped():
    actors = [
        Actor(id="a", name="Alexander Ivanov", type="person", aliases=("Ivanov",)),
        Actor(id="b", name="Sergei Ivanov", type="person", aliases=("Ivanov",)),
    ]
    gazetteer = build_gazetteer(actors)
    assert gazetteer.actor_for("Ivanov") is None
    assert gazetteer.actor_for("Sergei Ivanov").id == "b"


def test_folding_rules():
    assert fold_token("Zürich") == "zurich"
    assert fold_token("Kharkiv") == "harkiv"
    assert name_key("Valery  Gerasimov") == ("valery", "gerasimov")
    assert fold_token("Путина") == fold_token("Путин") == "putin"
    assert {fold_token("Суджу"), fold_token("Суджа")} == {"suj"}
    assert {"герасимова", "герасимову", "герасимовым"} <= cyrillic_forms("Герасимов")
    assert cyrillic_forms("НАТО") == {"нато"}  # acronyms and -о names do not decline


def test_resolve_mentions_uses_gazetteer_names_types_and_text_matches(gazetteer):
    raw = [("Путина", "PER"), ("Кремль", "LOC"), ("Zelenskyy", "ORG"), ("Zelensky", "PERSON")]
    entities = resolve_mentions(raw, gazetteer, text_actors=["kursk"])
    assert entities.persons == ("Vladimir Putin", "Volodymyr Zelensky")
    assert entities.places == ("Kursk", "Кремль")
    assert entities.organisations == ()
    assert entities.actors == ("kursk", "vladimir-putin", "volodymyr-zelensky")
    originals = {m.text: m.canonical for m in entities.mentions}
    assert originals["Путина"] == "Vladimir Putin"
