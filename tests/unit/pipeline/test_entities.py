"""Entity resolution (pure) and spaCy NER on English text."""

from __future__ import annotations

import pytest

from pipeline.entities import clean_mention, english_model, extract_entities, resolve_mentions
from pipeline.models import Entities, Mention

PARAGRAPH = (
    "President Vladimir Putin met U.S. Secretary of State Marco Rubio in Moscow on Tuesday. "
    "Putin said Russia would study the proposal, while Rubio flew on to Saudi Arabia. "
    "NATO allies in Brussels welcomed the talks."
)


@pytest.fixture(scope="module")
def nlp():
    return english_model()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Putin's", "Putin"),
        ("Putin’s", "Putin"),
        ("Reuters'", "Reuters"),
        ("the Kremlin", "Kremlin"),
        ("The  Kremlin,", "Kremlin"),
        ("“Gerasimov”", "Gerasimov"),
        ("  Vladimir\nPutin ", "Vladimir Putin"),
    ],
)
def test_clean_mention(raw, expected):
    assert clean_mention(raw) == expected


def test_short_form_joins_the_full_name():
    entities = resolve_mentions(
        [("Vladimir Putin", "PERSON"), ("Putin", "PERSON"), ("Putin's", "PERSON")]
    )
    assert entities.persons == ("Vladimir Putin",)
    assert [m.canonical for m in entities.mentions] == ["Vladimir Putin"] * 3
    assert [m.text for m in entities.mentions] == ["Vladimir Putin", "Putin", "Putin"]


def test_short_form_before_the_full_name_also_joins():
    entities = resolve_mentions([("Rubio", "PERSON"), ("Marco Rubio", "PERSON")])
    assert entities.persons == ("Marco Rubio",)


def test_short_form_is_matched_case_insensitively():
    entities = resolve_mentions([("Marco Rubio", "PERSON"), ("RUBIO", "PERSON")])
    assert entities.persons == ("Marco Rubio",)


def test_groups_are_sorted_and_unmapped_labels_dropped():
    entities = resolve_mentions(
        [
            ("Moscow", "GPE"),
            ("Black Sea", "LOC"),
            ("NATO", "ORG"),
            ("Tuesday", "DATE"),
            ("Russian", "NORP"),
            ("X", "PERSON"),
        ]
    )
    assert entities == Entities(
        persons=(),
        organisations=("NATO",),
        places=("Black Sea", "Moscow"),
        mentions=(
            Mention("Moscow", "places", "Moscow"),
            Mention("Black Sea", "places", "Black Sea"),
            Mention("NATO", "organisations", "NATO"),
        ),
    )


def test_type_vote_majority_wins():
    entities = resolve_mentions([("Trump", "ORG"), ("Trump", "PERSON"), ("Trump", "PERSON")])
    assert entities.persons == ("Trump",)
    assert entities.organisations == ()


def test_type_vote_tie_prefers_person():
    entities = resolve_mentions([("Gemini", "ORG"), ("Gemini", "PERSON")])
    assert entities.persons == ("Gemini",)
    assert entities.organisations == ()


def test_mislabelled_short_form_of_a_known_person_is_not_an_organisation():
    entities = resolve_mentions(
        [("Donald Trump", "PERSON"), ("Trump", "PERSON"), ("Trump", "PERSON"), ("Trump", "ORG")]
    )
    assert entities.persons == ("Donald Trump",)
    assert entities.organisations == ()


def test_extract_entities_on_english_paragraph(nlp):
    (entities,) = extract_entities([("en", PARAGRAPH)])
    assert entities.persons == ("Marco Rubio", "Vladimir Putin")
    assert {"Moscow", "Russia", "Saudi Arabia", "Brussels"} <= set(entities.places)
    assert "NATO" in entities.organisations
    putin = [m for m in entities.mentions if m.canonical == "Vladimir Putin"]
    assert [m.text for m in putin] == ["Vladimir Putin", "Putin"]


def test_languages_without_a_model_get_only_gazetteer_places_and_keep_their_position(nlp):
    results = extract_entities(
        [
            ("de", "Bundeskanzler Olaf Scholz reiste nach Paris."),
            ("en", PARAGRAPH),
            ("und", "Vladimir Putin visited Moscow."),
        ]
    )
    # No model: no persons or organisations, the places the place gazetteer knows (issue 14).
    assert (results[0].persons, results[0].organisations, results[0].places) == ((), (), ("Paris",))
    assert (results[2].persons, results[2].places) == ((), ("Moscow",))
    assert "Vladimir Putin" in results[1].persons


def test_russian_text_gets_natasha_entities_with_inflections_merged():
    (entities,) = extract_entities(
        [("ru", "Владимир Путин прибыл в Москву. В Москве Путина встретил Сергей Шойгу.")]
    )
    assert "Сергей Шойгу" in entities.persons
    assert "Владимир Путин" in entities.persons
    assert "Путина" not in entities.persons  # the inflected surname joined the full name
    assert len([p for p in entities.places if p.startswith("Москв")]) == 1


def test_extract_entities_of_nothing_is_empty():
    assert extract_entities([]) == []
