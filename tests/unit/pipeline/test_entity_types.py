"""Entity types and spans (issue 14, item 2): credits, appositions, regions, demonyms,
datelines, headlines in capitals, and the surname join that must not flip a person."""

from __future__ import annotations

from pipeline.entities import (
    correct_english_spans,
    extract_entities,
    gazetteer_places,
    prepare_text,
    resolve_mentions,
)


def _spans(text: str, *labelled: tuple[str, str]) -> list[tuple[int, int, str]]:
    spans = []
    for name, label in labelled:
        start = text.index(name)
        spans.append((start, start + len(name), label))
    return spans


def test_reporters_in_the_credits_are_persons():
    text = "Talks go on.\nReporting by Daphne Psaledakis and Lydia Kelly; Editing by Reuters Staff"
    fixed = dict(
        correct_english_spans(
            text,
            _spans(
                text, ("Daphne Psaledakis", "ORG"), ("Lydia Kelly", "ORG"), ("Reuters Staff", "ORG")
            ),
        )
    )
    assert fixed == {"Daphne Psaledakis": "PERSON", "Lydia Kelly": "PERSON", "Reuters Staff": "ORG"}


def test_outside_the_credits_an_organisation_stays_one():
    text = "Goldman Sachs said on Monday that rates would rise."
    assert correct_english_spans(text, _spans(text, ("Goldman Sachs", "ORG"))) == [
        ("Goldman Sachs", "ORG")
    ]


def test_apposition_region_and_portfolio_words():
    text = (
        "Deep State, an authoritative Ukrainian website, said troops entered the Sumy region. "
        "British Defense Minister John Healey agreed."
    )
    fixed = correct_english_spans(
        text,
        _spans(
            text,
            ("Deep State", "PERSON"),
            ("Sumy", "PERSON"),
            ("Defense", "ORG"),
            ("John Healey", "PERSON"),
        ),
    )
    assert fixed == [("Deep State", "ORG"), ("Sumy", "GPE"), ("John Healey", "PERSON")]


def test_demonyms_and_compass_words_are_no_places_but_countries_are():
    found = resolve_mentions(
        [("Ukrainian", "GPE"), ("West", "LOC"), ("Russia", "GPE"), ("Ukraine", "GPE")]
    )
    assert found.places == ("Russia", "Ukraine")


def test_a_lone_name_that_is_a_big_place_becomes_the_place():
    found = resolve_mentions([("Kiev", "PERSON"), ("Crimea", "ORG"), ("Kushiro", "ORG")])
    assert found.places == ("Crimea", "Kiev", "Kushiro")
    assert found.persons == ()
    assert found.organisations == ()


def test_a_lone_name_joined_to_a_person_is_not_re_typed_as_a_place():
    found = resolve_mentions([("Michael Jordan", "PERSON"), ("Jordan", "PERSON")])
    assert found.persons == ("Michael Jordan",)
    assert found.places == ()


def test_surname_join_never_flips_a_person_into_an_organisation():
    # spaCy sm reads a lone "Clarke" or "Major" as ORG; the full name was a person.
    found = resolve_mentions(
        [("Kenneth Clarke", "PERSON"), ("Clarke", "ORG"), ("Clarke", "ORG"), ("Clarke", "ORG")]
    )
    assert found.persons == ("Kenneth Clarke",)
    assert found.organisations == ()
    # …nor when the full name itself was read as an organisation and the surname as a person.
    found = resolve_mentions([("Vaclav Havel", "ORG"), ("Havel", "PERSON")])
    assert found.persons == ("Vaclav Havel",)
    assert found.organisations == ()


def test_datelines_and_headlines_in_capitals_keep_their_length():
    text = "RUSSIA HANDS US LIST OF DEMANDS\n\nMOSCOW, March 12 (Reuters) - Russia has handed..."
    prepared, places = prepare_text(text)
    assert len(prepared) == len(text)
    # Acronyms stay ("US"), small words go lower case.
    assert prepared.startswith("Russia Hands US List of Demands\n\nMoscow, March 12 (Reuters)")
    assert places == [("Moscow", "GPE")]
    # Ordinary text is left as it is.
    plain = "Russia has handed the United States a list.\nNATO said so."
    assert prepare_text(plain) == (plain, [])


def test_dateline_place_is_found_through_spacy():
    (found,) = extract_entities(
        [("en", "TOKYO, March 12 (Reuters) - The Bank of Japan kept rates on hold on Wednesday.")]
    )
    assert "Tokyo" in found.places
    assert "TOKYO" not in found.organisations


def test_spans_across_a_line_break_are_two_names_and_generic_phrases_none():
    text = "Drones Hit Samara Region\n\nKyiv, March 14 - the foreign ministry and the west coast."
    fixed = correct_english_spans(
        text,
        _spans(
            text,
            ("Samara Region\n\nKyiv", "GPE"),
            ("foreign ministry", "ORG"),
            ("west coast", "LOC"),
        ),
    )
    assert fixed == [("Samara", "GPE"), ("Kyiv", "GPE")]


def test_a_leading_the_is_no_lower_case_phrase():
    text = "Officials at the European Commission said so."
    assert correct_english_spans(text, _spans(text, ("the European Commission", "ORG"))) == [
        ("the European Commission", "ORG")
    ]


def test_headline_acronyms_stay_only_when_known():
    prepared, _ = prepare_text("ECB AND US HIT BACK AT CRITICS OF RATE POLICY")
    assert prepared == "ECB and US Hit Back at Critics of Rate Policy"


def test_russian_organisations_keep_their_genitive_complement():
    found = extract_entities(
        [
            (
                "ru",
                "Представитель Банка России и председатель Совета Федерации встретились "
                "с членами Российской академии наук.",
            )
        ]
    )[0]
    assert {"Банк России", "Совет Федерации", "Российская академия наук"} <= set(
        found.organisations
    )


def test_gazetteer_places_for_languages_without_a_model():
    assert gazetteer_places("Vladimir Poutine a parlé à Moscou et à l'Ukraine.", "fr") == [
        ("Moscou", "GPE", "Moscou"),
        ("Ukraine", "GPE", "Ukraine"),
    ]
    # Case forms go to the nominative; a given name that is also a city stays no place.
    assert gazetteer_places("Володимир Зеленський був у Києві та Саудівській Аравії.", "uk") == [
        ("Києві", "GPE", "Київ"),
        ("Саудівській Аравії", "GPE", "Саудівська Аравія"),
    ]
    # German nouns that are also towns are not read as places; countries and big cities are.
    assert [p[2] for p in gazetteer_places("Das Essen in Moskau und Deutschland.", "de")] == [
        "Moskau",
        "Deutschland",
    ]
