"""Unit tests for the place gazetteer built from the packaged GeoNames and ISO data."""

from __future__ import annotations

import pytest

from pipeline.places import find_place, fold_place


@pytest.mark.parametrize(
    ("names", "english"),
    [
        (("US", "U.S.", "United States", "США", "Соединённые Штаты", "USA"), "United States"),
        (("Kyiv", "Kiev", "Киев", "Київ"), "Kyiv"),
        (("Moscow", "Москва", "MOSCOW"), "Moscow"),
        (("Crimea", "Крым"), "Crimea"),
        (("France", "Франция", "Frankreich"), "France"),
        (("Sumy", "Сумы"), "Sumy"),
    ],
)
def test_names_in_any_script_find_one_place(names, english):
    places = {find_place(name) for name in names}
    assert len(places) == 1, places
    (place,) = places
    assert place is not None
    assert place.name == english


def test_a_country_outranks_a_city_of_the_same_name():
    place = find_place("Georgia")
    assert place is not None
    assert place.kind == "country"


def test_unknown_names_and_demonyms_are_no_places():
    for name in ("Ukrainian", "Deep State", "Reuters", "Vladimir Putin"):
        assert find_place(name) is None, name


def test_only_big_places_are_major():
    sumy, kushiro = find_place("Sumy"), find_place("Kushiro")
    assert sumy is not None
    assert sumy.major
    assert kushiro is not None
    assert kushiro.kind == "city"


def test_fold_place():
    assert fold_place("U.S.") == fold_place("US") == "us"
    assert fold_place("Sévérodonetsk") == "severodonetsk"
    assert fold_place("Соединённые  Штаты") == "соединенные штаты"
